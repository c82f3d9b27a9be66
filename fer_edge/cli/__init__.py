"""The `fer-edge` command: a thin typer layer over the Python API, one module per command.

Heavy imports (TensorFlow, the export wing, matplotlib) happen inside the commands that need them.
"""

from fer_edge.cli import bench, data, eval, export, run, serve, train, watch  # noqa: F401  (each registers its command)
from fer_edge.cli.app import app, main

__all__ = ["app", "main"]

ORDER = ("run", "serve", "watch", "eval", "bench", "train", "export")  # what a new user needs first, first
app.registered_commands.sort(key=lambda c: ORDER.index(c.name) if c.name in ORDER else len(ORDER))
