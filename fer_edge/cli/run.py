"""`fer-edge run`: the Recognizer on a photo, a folder, a video or a camera; JSON lines, an overlay video."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors
from fer_edge.cli.options import MQTT, RUNTIME, ModelOption, shared
from fer_edge.errors import UsageError


@app.command("run")
@friendly_errors
@shared(*MQTT, into="publish")
@shared(*RUNTIME)
def run_command(
    runtime: dict,
    publish: dict,
    model: ModelOption = "default",
    jsonl: Annotated[Path | None, typer.Option(help="Write the JSON lines here instead of stdout.")] = None,
    show: Annotated[bool, typer.Option(help="Draw boxes, labels and bars in a window (q quits).")] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write the same overlay to a video (.mp4, .avi), to an image for one photo (.jpg, .png), or into a "
            "folder for a folder of photos (each under its own name)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing --out (a folder: write into it).")] = False,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many predictions.")] = None,
) -> None:
    """Recognise emotions: one JSON line per face, and a line of kind "none" for a frame or image without one.

    A video or camera: a rolling 3-frame window per tracked face. Images: every face on its own (kind "still").
    Ctrl-C stops a camera run normally: the summary is printed and the --out video is kept.
    `--out annotated.jpg` draws the boxes and labels on a photo.
    """
    from fer_edge.atomic import check_output_dir
    from fer_edge.overlay import check_display, check_overlay_output, draw, overlay_output
    from fer_edge.overlay import show as show_frame
    from fer_edge.recognizer import Recognizer
    from fer_edge.run import RunStats

    source = runtime.pop("source")
    out_kind = None
    if out is not None:
        check_output_dir(out, force)
        out_kind = check_overlay_output(out, source)  # a name that does not fit the source: before the model loads
    if show:
        check_display()
    mqtt = mqtt_config(publish)
    recognizer = Recognizer(model, **runtime)  # bad numbers: one usage line, before a model is loaded
    stats = RunStats()
    faceless = 0
    with contextlib.ExitStack() as stack:
        publisher = stack.enter_context(publishing(mqtt)) if mqtt else None
        sink = stack.enter_context(open(jsonl, "w", encoding="utf-8")) if jsonl else sys.stdout
        overlay = stack.enter_context(overlay_output(out, out_kind)) if out else None
        stack.callback(lambda: stats.source.read and print_summary(stats.summary(), faceless))
        try:
            count = 0
            for step in recognizer.steps(source, stats):
                if not step.faces:
                    faceless += 1
                    if step.frame.name:  # an image: say so now; a video's faceless frames are counted
                        typer.echo(f"no face found in {step.frame.name}", err=True)
                for record in step.records():
                    sink.write(json.dumps(record.to_dict()) + "\n")
                if publisher:
                    publisher.publish_step(step)
                count += len(step.predictions)
                if show or overlay:
                    canvas = draw(step.frame.image, step.faces)
                    if overlay:
                        overlay.write(canvas, step.frame)
                    if show and not show_frame(canvas):
                        break
                if max_frames and count >= max_frames:
                    break
        except KeyboardInterrupt:
            typer.echo("stopped (Ctrl-C)", err=True)
        if overlay:
            written = overlay.close()
            typer.echo(f"{overlay.what} written to {out}" if written else f"no frames: {out} not written", err=True)


def print_summary(summary: dict, faceless: int = 0) -> None:
    stages = ", ".join(f"{k} {v['p50']:.2f}/{v['p90']:.2f}" for k, v in summary["latency_ms"].items())
    typer.echo(
        f"frames {summary['frames_read']} read ({faceless} without a face), {summary['frames_dropped']} dropped, "
        f"{len(summary['images_skipped'])} unreadable skipped; faces {summary['faces_found']} "
        f"({summary['faces_tracked']} distinct); "
        f"predictions {summary['predictions']}; {summary['frames_per_second']:.1f} frames/s; "
        f"p50/p90 ms: {stages or 'n/a'}",
        err=True,
    )
    for path in summary["images_skipped"][:10]:
        typer.echo(f"skipped unreadable image: {path}", err=True)


def mqtt_config(options: dict):
    """The --mqtt options as an MqttConfig (checked now, before a model loads), or None without --mqtt."""
    from fer_edge.mqtt import MqttConfig

    if options["mqtt"] is None:
        given = [f"--{name.replace('_', '-')}" for name in ("camera", "mqtt_ca") if options[name] is not None]
        given += ["--ha-discovery"] if options["ha_discovery"] else []
        if given:
            raise UsageError(f"{', '.join(given)} need --mqtt mqtt://host/prefix")
        return None
    config = MqttConfig(
        url=options["mqtt"],
        camera=options["camera"],
        qos=options["mqtt_qos"],
        ca=str(options["mqtt_ca"]) if options["mqtt_ca"] else None,
        state_every_ms=options["mqtt_state_every"],
        ha_discovery=options["ha_discovery"],
    )
    config.validate()
    return config


@contextlib.contextmanager
def publishing(config):
    """A Publisher for the run; closed (status offline) at the end, with what it sent and dropped."""
    from fer_edge.mqtt import Publisher

    publisher = Publisher(config, log=lambda line: typer.echo(line, err=True))
    typer.echo(f"publishing to {publisher.broker.address}/{publisher.base}/ as camera {publisher.camera}", err=True)
    try:
        yield publisher
    finally:
        publisher.close()
        counts = publisher.stats
        typer.echo(
            f"MQTT: {counts.events} events and {counts.states} states sent, {counts.dropped} dropped while the "
            "broker was away",
            err=True,
        )
