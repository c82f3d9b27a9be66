"""Open a training run folder for export: the Keras model (safe mode), its config and its split."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras

from fer_edge.errors import ModelLoadError, UsageError
from fer_edge.hashing import sha256_file
from fer_edge.split import Split, read_split


@dataclass(frozen=True)
class TrainedRun:
    directory: Path
    model: keras.Model
    classes: tuple[str, ...]
    width: float
    split: Split
    config: dict
    model_sha256: str


def load_run(directory: Path) -> TrainedRun:
    directory = Path(directory)
    if directory.suffix == ".h5":
        raise UsageError(
            f"{directory}: .h5 models are never loaded (legacy format, not covered by Keras safe mode); "
            "export the run folder, which holds model.keras"
        )
    if not directory.is_dir():
        raise UsageError(f"run folder {directory} does not exist; pass the --out folder of fer-edge train")
    for name in ("model.keras", "config.json", "split.json"):
        if not (directory / name).is_file():
            raise ModelLoadError(f"{directory} lacks {name}; is it a single run (not a --cv parent folder)?")
    try:
        config = json.loads((directory / "config.json").read_text())
        classes, width = tuple(config["classes"]), float(config["config"]["width"])
    except (ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{directory / 'config.json'} is unreadable or incomplete ({error})") from None
    path = directory / "model.keras"
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for damaged or foreign archives
        raise ModelLoadError(f"cannot load {path} in safe mode: {str(error).splitlines()[0][:200]}") from None
    if tuple(model.input_shape) != (None, 3, 48, 48, 1) or tuple(model.output_shape) != (None, len(classes)):
        raise ModelLoadError(
            f"{path} maps {model.input_shape} to {model.output_shape}; expected (None, 3, 48, 48, 1) to "
            f"(None, {len(classes)}) for the classes in config.json"
        )
    return TrainedRun(directory, model, classes, width, read_split(directory / "split.json"), config, sha256_file(path))
