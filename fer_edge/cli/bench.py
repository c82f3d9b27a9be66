"""`fer-edge bench`: accuracy parity and latency of every artifact of the bundles, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors
from fer_edge.errors import UsageError


@app.command()
@friendly_errors
def bench(
    bundles: Annotated[
        list[str] | None,
        typer.Argument(
            help="'default' (the shipped model, also when none is given) and bundle folders.", show_default=False
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            envvar="FER_EDGE_DATA",
            help="The CK+48 folder the bundles were trained on, for the accuracy columns, the detector rows and the "
            "end-to-end clip (or set FER_EDGE_DATA); without it bench times the models only.",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[str, typer.Option(help="Comma list of inference thread counts.")] = "1",
    runs: Annotated[int, typer.Option(help="Timed runs per measurement (after the warm-up).")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed runs before each measurement.")] = 10,
    video: Annotated[
        Path | None, typer.Option(help="Video for the end-to-end row (default: one made from held-out faces).")
    ] = None,
    end_to_end: Annotated[bool, typer.Option(help="Time decode + detection + inference on a video.")] = True,
    detectors: Annotated[
        bool, typer.Option(help="Time every face detector on held-out faces pasted on 640x480 frames.")
    ] = True,
    keras: Annotated[bool, typer.Option(help="Also time the source model.keras (needs TensorFlow).")] = True,
    reference: Annotated[
        Path | None,
        typer.Option(help="Add a row for the fer package's emotion_model_quantized.tflite on the same faces."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder: bench.md, bench.json, latency_vs_accuracy.png.")] = Path(
        "reports/bench"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing report folder.")] = False,
) -> None:
    """Accuracy and latency of every artifact of the bundles, side by side (no TensorFlow needed)."""
    from fer_edge.atomic import check_output_dir
    from fer_edge.default_model import resolve_bundle

    try:
        thread_counts = tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"--threads takes a comma list of integers such as 1,2; got {threads!r}") from None
    folders = [resolve_bundle(bundle) for bundle in bundles or ["default"]]
    for bundle in folders:
        if not bundle.is_dir():
            raise UsageError(f"{bundle} is a model file; bench takes 'default' or bundle folders from fer-edge export")
    if data is not None and not data.is_dir():
        raise UsageError(f"--data {data} does not exist; pass the CK+48 folder the bundles were trained on")
    if video is not None and not video.is_file():
        raise UsageError(f"video {video} does not exist")
    check_output_dir(out, force)  # before minutes of measuring
    from fer_edge.bench.report import write_report
    from fer_edge.bench.suite import BenchConfig, run_bench

    config = BenchConfig(
        bundles=tuple(str(b) for b in folders),
        data=str(data) if data else None,
        threads=thread_counts,
        runs=runs,
        warmup=warmup,
        video=str(video) if video else None,
        end_to_end=end_to_end,
        detectors=detectors,
        keras=keras,
        reference=str(reference) if reference else None,
        out=str(out),
    )
    results = run_bench(config, log=lambda line: typer.echo(line, err=True))
    write_report(results, out, force, log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "bench.md").read_text())
