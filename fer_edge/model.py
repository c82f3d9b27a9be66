"""A bundle's model for the runtime: hash-checked, shape-checked, whole-window or streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.backends import OnnxModel, TFLiteModel, open_model
from fer_edge.errors import InputSpecError, ModelLoadError, UsageError
from fer_edge.hashing import sha256_file
from fer_edge.manifest import Artifact, Manifest, read_manifest


def _checked_path(bundle: Path, artifact: Artifact, verify: bool) -> Path:
    path = bundle / artifact.file
    if not path.is_file():
        raise ModelLoadError(f"{path} is listed in the manifest but missing; copy the whole bundle folder again")
    if verify and sha256_file(path) != artifact.sha256:
        raise ModelLoadError(
            f"{path} does not match the sha256 in its manifest (damaged or replaced file); copy the bundle again"
        )
    return path


def _check_input(model: TFLiteModel | OnnxModel, artifact: Artifact, path: Path) -> None:
    expected = tuple(artifact.inputs[0]["shape"][1:])
    found = tuple(model.input.shape[1:])
    if found != expected or model.input.dtype != artifact.inputs[0]["dtype"]:
        raise ModelLoadError(
            f"{path} takes {model.input.dtype} {found}, but its manifest says "
            f"{artifact.inputs[0]['dtype']} {expected}; export the bundle again"
        )


class EmotionModel:
    """Class probabilities for 3-frame windows; in streaming mode, per-frame features and a head.

    frames: (3, 48, 48, 1) float32 in [0, 1]; features: (F,) float32; probabilities: (classes,) float32.
    """

    def __init__(
        self,
        bundle: Path,
        format: str = "tflite",
        precision: str = "int8",
        streaming: bool = True,
        threads: int | None = None,
        verify: bool = True,
    ):
        self.bundle = Path(bundle)
        self.manifest: Manifest = read_manifest(self.bundle)
        self.classes: tuple[str, ...] = tuple(self.manifest.classes)
        self.sequence_length = self.manifest.sequence_length
        self.streaming = streaming
        parts = ("encoder", "head") if streaming else ("full",)
        self.parts: dict[str, TFLiteModel | OnnxModel] = {}
        for part in parts:
            artifact = self.manifest.artifact(format, part, precision)
            if artifact is None:
                available = sorted({(a.format, a.precision) for a in self.manifest.artifacts})
                raise UsageError(
                    f"{self.bundle} has no {precision} {format} {part} model; it has: "
                    + ", ".join(f"{p} {f}" for f, p in available)
                )
            path = _checked_path(self.bundle, artifact, verify)
            model = open_model(path, threads)
            _check_input(model, artifact, path)
            self.parts[part] = model

    def predict_window(self, frames: np.ndarray) -> np.ndarray:
        if frames.shape != (self.sequence_length, *self.manifest.frame_shape):
            raise InputSpecError(
                f"expected a window of shape {(self.sequence_length, *self.manifest.frame_shape)}, got {frames.shape}"
            )
        if self.streaming:
            return self.head(np.stack([self.encode(frame) for frame in frames]))
        return self.parts["full"].run(frames[None])[0]

    def encode(self, frame: np.ndarray) -> np.ndarray:
        return self.parts["encoder"].run(frame[None])[0]

    def head(self, features: np.ndarray) -> np.ndarray:
        return self.parts["head"].run(features[None])[0]
