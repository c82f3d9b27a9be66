"""`fer-edge watch`: the cameras publishing to a broker, in one live table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors


@app.command("watch")
@friendly_errors
def watch_command(
    url: Annotated[
        str, typer.Argument(help="The broker and prefix the cameras publish to: mqtt://host[:port][/prefix].")
    ],
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")] = None,
    ca: Annotated[Path | None, typer.Option(help="mqtts: the broker's CA certificate.")] = None,
) -> None:
    """Every camera's state live: online or offline, faces, dominant emotion, frames/s, last seen.

    On a terminal the table redraws in place; piped, each change is a line and the table is printed at the end.
    Credentials come from FER_EDGE_MQTT_USERNAME and FER_EDGE_MQTT_PASSWORD.
    """
    from rich.console import Console

    from fer_edge.watch import watch

    live = sys.stdout.isatty()
    try:
        fleet = watch(url, seconds, log=typer.echo, live=live, ca=str(ca) if ca else None)
    except KeyboardInterrupt:
        return
    if not live:
        Console(width=100).print(fleet.table())
