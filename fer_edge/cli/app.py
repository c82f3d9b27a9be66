"""The `fer-edge` typer app, its global options (--debug, --version) and the one-line error handling."""

from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import Annotated

import typer

from fer_edge import __version__, quiet, stopping
from fer_edge.errors import FerEdgeError

app = typer.Typer(
    help="Facial emotion recognition on small devices: run the shipped model on photos, videos and cameras, "
    "serve a live page, score it on your faces; train and export your own (pip install 'fer-edge[train]').",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # "[train]" in help text is shown as written, not read as a rich style
    context_settings={"max_content_width": 100},
)
data_app = typer.Typer(help="Inspect a CK+48-style dataset.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DEBUG: ContextVar[bool] = ContextVar("fer_edge_debug", default=False)
TRAIN_EXTRA = "pip install 'fer-edge[train]'"


def fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def friendly_errors(command):
    """Turn project errors into one red line and an exit code; --debug (or FER_EDGE_DEBUG=1) re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FerEdgeError as error:
            if DEBUG.get():
                raise
            fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; nothing half-written was left behind", 130)
        except typer.Exit:
            raise
        except Exception:
            # TensorFlow may turn the KeyboardInterrupt of a stop request into an error of its own on the way up
            if not stopping.requested() or DEBUG.get():
                raise
            fail("interrupted; nothing half-written was left behind", 130)

    return wrapper


def require_tensorflow(command: str) -> None:
    """train and export need the train extra: one line naming it, before anything else is imported."""
    import importlib.util

    missing = [name for name in ("tensorflow", "keras") if importlib.util.find_spec(name) is None]
    if missing:
        raise FerEdgeError(f"fer-edge {command} needs TensorFlow and Keras; install them with: {TRAIN_EXTRA}")
    quiet.import_tensorflow()


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"fer-edge {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="FER_EDGE_DEBUG", help="Show tracebacks and the native libraries' logs.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    DEBUG.set(debug)
    quiet.set_debug(debug)
    if not quiet.debugging():
        quiet.quiet_native_logs()


def main() -> None:
    stopping.install()
    app(prog_name="fer-edge")
