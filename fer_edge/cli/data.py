"""`fer-edge data`: counts and a sample grid of a CK+48-style dataset; a clip of a bundle's held-out faces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import data_app, friendly_errors
from fer_edge.cli.options import ClassesOption, DataOption
from fer_edge.cli.train import required_data


@data_app.command("stats")
@friendly_errors
def data_stats(
    data: DataOption = None,
    classes: ClassesOption = "default",
    out: Annotated[Path, typer.Option(help="Where to write the PNG grid of sample sequences.")] = Path(
        "reports/data_stats.png"
    ),
) -> None:
    """Counts per class and subjects, and a PNG grid with sample sequences of every class."""
    from fer_edge.dataset import dataset_stats, load_sequences, resolve_classes
    from fer_edge.errors import require

    data = required_data(data)
    names = resolve_classes(classes)
    stats = dataset_stats(data, names)
    sequences = load_sequences(data, names)  # reads every image: a bad one fails before any output
    require("matplotlib", "train")
    typer.echo(f"{'class':<10} {'sequences':>9} {'images':>7} {'subjects':>8}")
    for name in names:
        typer.echo(
            f"{name:<10} {stats.sequences_per_class[name]:>9} {stats.images_per_class[name]:>7} "
            f"{stats.subjects_per_class[name]:>8}"
        )
    typer.echo(f"{'total':<10} {stats.sequences:>9} {sum(stats.images_per_class.values()):>7} {stats.subjects:>8}")
    from fer_edge.train.reports import plot_dataset_grid

    plot_dataset_grid(sequences, stats, out)
    typer.echo(f"sample grid written to {out}")


@data_app.command("clip")
@friendly_errors
def data_clip(
    bundle: Annotated[
        str, typer.Argument(help="'default' (the shipped model) or a bundle folder: whose held-out sequences to use.")
    ] = "default",
    data: DataOption = None,
    out: Annotated[Path, typer.Option(help="The video to write (MJPG .avi).")] = Path("reports/heldout_clip.avi"),
    force: Annotated[bool, typer.Option(help="Replace an existing video.")] = False,
) -> None:
    """A 640x480 video of a bundle's held-out CK+48 sequences, each face enlarged and placed at random on noise,
    with face-free frames between: what `fer-edge run` and the bench's end-to-end row are shown."""
    from fer_edge.atomic import check_output_dir
    from fer_edge.bench.clip import write_face_clip
    from fer_edge.bench.suite import heldout
    from fer_edge.default_model import resolve_bundle
    from fer_edge.manifest import read_manifest

    check_output_dir(out, force)
    data = required_data(data)
    bundle = resolve_bundle(bundle)
    sequences, _ = heldout(read_manifest(bundle), bundle, str(data))
    segments = write_face_clip(sequences.frames, out)
    frames = segments[-1].first + segments[-1].length + 8 if segments else 0
    typer.echo(f"{len(segments)} held-out sequences, {frames} frames written to {out}")
