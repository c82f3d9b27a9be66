"""`fer-edge export`: a trained run to TFLite and ONNX files in a verified bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors, require_tensorflow
from fer_edge.cli.options import DataOption
from fer_edge.errors import UsageError
from fer_edge.export.ranges import ELU_FLOOR  # numpy only: --help works without TensorFlow


def int_list(spec: str, option: str) -> tuple[int, ...]:
    """'7,8' -> (7, 8); a clear error for anything else."""
    try:
        return tuple(int(item) for item in spec.split(","))
    except ValueError:
        raise UsageError(f"{option} takes whole numbers separated by commas, got {spec!r}") from None


@app.command()
@friendly_errors
def export(
    run: Annotated[Path, typer.Argument(help="A run folder written by fer-edge train (one fold for --cv runs).")],
    out: Annotated[Path | None, typer.Option(help="Bundle folder (default: `bundles/<run name>`).")] = None,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Add int8 models (int8 weights and activations), calibrated on training data."),
    ] = False,
    formats: Annotated[str, typer.Option(help="Comma list of tflite, onnx.")] = "tflite,onnx",
    calib_size: Annotated[
        int | None, typer.Option(help="Stratified subset of training sequences (default: all).")
    ] = None,
    data: DataOption = None,
    io: Annotated[
        str, typer.Option(help="int8: int8 input/output tensors on int8 TFLite; float: keep float I/O.")
    ] = "int8",
    min_agreement: Annotated[
        float,
        typer.Option(
            help="Fail when an int8 model agrees with Keras on fewer held-out sequences (near-ties not counted)."
        ),
    ] = 0.97,
    tie_margin: Annotated[
        float,
        typer.Option(help="A flip between two classes the float model put closer than this is a near-tie, not damage."),
    ] = 0.05,
    stills: Annotated[
        Path | None,
        typer.Option(help="Runs trained on stills (wild): their still images (default: the path the run recorded)."),
    ] = None,
    calib_stills: Annotated[
        int, typer.Option(help="Runs trained on stills: training stills added to the calibration set.")
    ] = 600,
    elu_floor: Annotated[
        float,
        typer.Option(
            help="int8 TFLite and ONNX: an ELU input's int8 range starts no lower than minus this (ELU is flat there, "
            "and the steps go where values matter); 0 keeps the calibrated minimum."
        ),
    ] = ELU_FLOOR,
    tune_stills: Annotated[
        int,
        typer.Option(
            help="int8 TFLite, runs trained on stills: draw this many training stills (the calibration ones left "
            "out) and lower the tops of the encoder's int8 ranges where that brings it closer to float on them "
            "(a few minutes); the whole-window model and the int8 ONNX files get the same tops. 0: the calibrated tops."
        ),
    ] = 0,
    onnx_weight_bits: Annotated[
        str,
        typer.Option(
            help="int8 ONNX: bits per weight, 7, 8 or 7,8. 7 (onnxruntime's reduce_range) is safe on every CPU; 8 "
            "follows float more closely on arm64 and on x86 with VNNI but saturates on AVX2-only x86 CPUs "
            "(docs/export.md). With 7,8 the bundle holds both and the runtime picks by CPU."
        ),
    ] = "7",
    prior_shift: Annotated[
        float,
        typer.Option(
            help="Runs trained on stills: add this times log(training stills per class) to each output's logit, "
            "giving back the class shares that training's 1/sqrt(class size) weights took away (0.5 undoes them; "
            "docs/wild.md). 0: the model as trained."
        ),
    ] = 0.0,
    mirror_odd_frames: Annotated[
        bool | None,
        typer.Option(
            "--mirror-odd-frames/--no-mirror-odd-frames",
            help="Record in the manifest that every other frame of a stream reaches the model mirrored left to "
            "right, so each window sees the face from both sides at no extra cost per new frame (docs/wild.md); "
            "run, serve, eval and bench follow the manifest. The model files do not change. Default: as the run "
            "was trained (its own --mirror-odd-frames option).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing bundle.")] = False,
) -> None:
    """Convert a trained run to TFLite and ONNX (float32, and int8 with --int8) and verify every file."""
    require_tensorflow("export")
    if io not in ("int8", "float"):
        raise UsageError(f"--io takes int8 or float, got {io!r}")
    if run.suffix == ".h5":
        raise UsageError(f"{run}: .h5 models are never loaded (legacy format, not covered by Keras safe mode)")
    if not run.is_dir():
        raise UsageError(f"run folder {run} does not exist; pass the --out folder of fer-edge train")
    from fer_edge.export.bundle import ExportConfig, export_bundle

    config = ExportConfig(
        run=str(run),
        out=str(out) if out else None,
        int8=int8,
        formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        calib_size=calib_size,
        data=str(data) if data else None,
        int8_io=io == "int8",
        min_agreement=min_agreement,
        tie_margin=tie_margin,
        stills=str(stills) if stills else None,
        calib_stills=calib_stills,
        elu_floor=elu_floor or None,
        tune_stills=tune_stills,
        onnx_weight_bits=int_list(onnx_weight_bits, "--onnx-weight-bits"),
        prior_shift=prior_shift,
        mirror_odd_frames=mirror_odd_frames,
        force=force,
    )
    export_bundle(config, log=lambda line: typer.echo(line))
