"""The int8 bundle that ships inside the package, so that `fer-edge run` works right after install.

It is a subset (the TFLite int8 whole-window, encoder and head models) of a bundle made by `fer-edge export`,
copied with its manifest by benchmarks/ship_default.py; the manifest's notes say which bundle and command.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from fer_edge.atomic import atomic_dir
from fer_edge.errors import UsageError
from fer_edge.manifest import read_manifest, write_manifest

DEFAULT_BUNDLE = Path(__file__).with_name("models") / "default"
DEFAULT_NAME = "default"  # what a user types for the shipped model wherever a bundle is asked for


def resolve_bundle(bundle: Path | str | None) -> Path:
    """A bundle folder or model file; None or the name "default": the model shipped in the package."""
    if bundle is None or str(bundle) == DEFAULT_NAME:
        if not (DEFAULT_BUNDLE / "manifest.json").is_file():
            raise UsageError(f"this install has no default model at {DEFAULT_BUNDLE}; pass a bundle folder")
        return DEFAULT_BUNDLE
    bundle = Path(bundle)
    if not bundle.exists():
        raise UsageError(
            f"{bundle} does not exist; pass 'default' (the shipped model), a bundle folder from fer-edge export "
            "or a .tflite/.onnx file"
        )
    if bundle.is_dir() and not (bundle / "manifest.json").is_file():
        if (bundle / "model.keras").is_file():  # a training run: the runtime reads only exported models
            raise UsageError(
                f"{bundle} is a training run, not a bundle; export it first: fer-edge export {bundle} --int8"
            )
        raise UsageError(f"{bundle} has no manifest.json: not a bundle from fer-edge export")
    return bundle


def ship_subset(source: Path, target: Path, format: str, precision: str, notes: dict) -> None:
    """Copy the `format`/`precision` artifacts of bundle `source` and a manifest listing only them."""
    manifest = read_manifest(source)
    kept = [a for a in manifest.artifacts if a.format == format and a.precision == precision]
    if not kept:
        raise UsageError(f"{source} has no {precision} {format} artifacts")
    with atomic_dir(target, force=True) as tmp:
        for artifact in kept:
            shutil.copy2(source / artifact.file, tmp / artifact.file)
        write_manifest(replace(manifest, artifacts=kept, notes={**manifest.notes, **notes}), tmp)
