"""`fer-edge serve`: the Recognizer as a live web page, for a Pi without a display."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from fer_edge.cli.app import DEBUG, app, friendly_errors
from fer_edge.cli.options import MQTT, RUNTIME, ModelOption, shared
from fer_edge.cli.run import mqtt_config, print_summary, publishing


@app.command("serve")
@friendly_errors
@shared(*MQTT, into="publish")
@shared(*RUNTIME)
def serve_command(
    runtime: dict,
    publish: dict,
    model: ModelOption = "default",
    host: Annotated[
        str, typer.Option(help="Address to listen on: 127.0.0.1 is this machine only, 0.0.0.0 the whole LAN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8000,
    max_viewers: Annotated[int, typer.Option(help="Video streams (and event streams) at once; more get 503.")] = 16,
    realtime: Annotated[
        bool, typer.Option(help="Play a video at its own frame rate (else as fast as the model runs).")
    ] = True,
    exit_at_end: Annotated[
        bool, typer.Option(help="Stop when the source ends (else the page keeps its last frame until Ctrl-C).")
    ] = False,
) -> None:
    """Serve the live view as a web page: the video with boxes and labels, bars and a timeline per face.

    Open the printed address in a browser. The page's events are the JSON lines of fer-edge run. Ctrl-C stops:
    the server is shut down and the summary printed.
    """
    from fer_edge.recognizer import Recognizer
    from fer_edge.run import RunStats
    from fer_edge.serve import ServeOptions, serve

    options = ServeOptions(host, port, max_viewers, realtime, exit_at_end, debug=DEBUG.get())
    options.validate()  # a bad port or broker fails before a model is loaded
    mqtt = mqtt_config(publish)
    source = runtime.pop("source")
    recognizer = Recognizer(model, **runtime)
    stats = RunStats()
    try:
        with contextlib.ExitStack() as stack:
            publisher = stack.enter_context(publishing(mqtt)) if mqtt else None
            on_step = publisher.publish_step if publisher else None
            serve(recognizer, source, options, stats, log=typer.echo, on_step=on_step)
    except KeyboardInterrupt:
        typer.echo("stopped (Ctrl-C)", err=True)
    finally:
        if stats.source.read:
            print_summary(stats.summary())
