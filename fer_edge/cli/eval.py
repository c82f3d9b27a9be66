"""`fer-edge eval`: a bundle (and the `fer` model) scored on any labelled faces, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors
from fer_edge.cli.options import CROP, ModelArgument, shared
from fer_edge.errors import UsageError


@app.command("eval")
@friendly_errors
@shared("format", "precision", "streaming", "threads", *CROP)
def eval_command(
    runtime: dict,
    bundle: ModelArgument = "default",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            envvar="FER_EDGE_DATA",
            help="Labelled faces: CK+48-style sequence folders, a folder of `<emotion>/` folders of stills or photos "
            "(or of train/ and val/ holding them), or fer2013.csv (or set FER_EDGE_DATA).",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(help="The part of a still set with parts: train, val (or test in a csv); default: val."),
    ] = None,
    classes: Annotated[
        str | None, typer.Option(help="Score only these data classes (comma list of names; default: all there).")
    ] = None,
    faces: Annotated[
        str,
        typer.Option(
            help="auto: images up to the model's input size (48 px) are face crops; so are larger ones when a face "
            "fills most images of the folder; other photos go through the face detector. crops: every image is a "
            "crop; detect: every image goes through the detector."
        ),
    ] = "auto",
    all_sequences: Annotated[
        bool,
        typer.Option(
            "--all-sequences", help="Sequence data: score every sequence, not only the bundle's held-out ones."
        ),
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(help="Also score the fer package's emotion_model_quantized.tflite on the same faces."),
    ] = None,
    labels: Annotated[
        str,
        typer.Option(
            help="Still folders: score against the folders' labels, or ferplus: the FER+ annotators' majority "
            "(ferplus.csv in the --data folder; faces without a majority are not scored)."
        ),
    ] = "folder",
    ferplus: Annotated[
        Path | None, typer.Option(help="--labels ferplus: the FER+ votes file (default: ferplus.csv in --data).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder: eval.json, predictions.jsonl, confusion PNGs.")
    ] = None,
) -> None:
    """Accuracy, macro F1, per-class recall and a confusion matrix of a bundle on any labelled faces (no TensorFlow)."""
    from fer_edge.dataset import resolve_classes
    from fer_edge.default_model import resolve_bundle
    from fer_edge.evaluate import EvalConfig, evaluate
    from fer_edge.stills import canonical_class

    if data is None:
        raise UsageError(
            "pass --data PATH: labelled faces (a folder of <emotion>/ folders, FER2013's layout, CK+48 or a .csv), "
            "or set FER_EDGE_DATA"
        )
    threads = runtime.pop("threads")
    names = None
    if classes is not None:
        names = tuple(dict.fromkeys(canonical_class(c, "--classes") for c in resolve_classes(classes)))
    config = EvalConfig(
        bundle=str(resolve_bundle(bundle)),
        data=str(data),
        split=split,
        classes=names,
        faces=faces,
        heldout=not all_sequences,
        threads=1 if threads is None else threads,  # its ms per face are timed on one thread unless asked
        **runtime,
        reference=str(reference) if reference else None,
        labels=labels,
        ferplus=str(ferplus) if ferplus else None,
        out=str(out) if out else None,
    )
    evaluate(config, log=lambda line: typer.echo(line))
