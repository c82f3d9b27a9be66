"""A bundle's model for the runtime: hash-checked, shape-checked, whole-window or streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.backends import OnnxModel, TFLiteModel, open_model
from fer_edge.dataset import DEFAULT_CLASSES
from fer_edge.errors import InputSpecError, ModelLoadError, UsageError
from fer_edge.hashing import sha256_file
from fer_edge.manifest import FORMAT_VERSION, MIRROR_RULE, Artifact, Manifest, read_manifest
from fer_edge.preprocess import SPEC, mirror_odd_frames


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


def bare_manifest(path: Path) -> Manifest:
    """A manifest for a lone .tflite/.onnx whole-window model: the input spec comes from the file itself,
    the class names are the default five when it has five outputs, those and neutral (the wild recipe's order)
    with six, else class0, class1, ..."""
    model = open_model(path)
    shape, outputs = model.input.shape, model.output.shape[-1]
    if len(shape) != 5 or shape[2:] != (SPEC.size, SPEC.size, 1):
        raise ModelLoadError(
            f"{path} takes {model.input.dtype} {shape}; a bare model file must take (1, frames, 48, 48, 1) windows "
            "(use a bundle folder for streaming models)"
        )
    known = {len(DEFAULT_CLASSES): list(DEFAULT_CLASSES), len(DEFAULT_CLASSES) + 1: [*DEFAULT_CLASSES, "neutral"]}
    classes = known.get(outputs, [f"class{i}" for i in range(outputs)])
    precision = "int8" if model.input.scale else "float32"
    artifact = Artifact(
        path.name, path.suffix[1:], "full", precision, "", path.stat().st_size, [model.input.to_dict()], []
    )
    return Manifest(
        format_version=FORMAT_VERSION,
        classes=classes,
        sequence_length=shape[1],
        frame_shape=list(shape[2:]),
        preprocess=SPEC.to_dict(),
        artifacts=[artifact],
        source_model={},
        split={},
        calibration={},
        heldout_metrics={},
        versions={},
        notes={"bare_file": True},
    )


class EmotionModel:
    """Class probabilities for 3-frame windows; in streaming mode, per-frame features and a head.

    frames: (3, 48, 48, 1) float32 in [0, 1]; features: (F,) float32; probabilities: (classes,) float32.
    `bundle` may also be a lone .tflite/.onnx whole-window model: then format and precision come from the
    file, there is no manifest hash to check, and the model runs whole-window (no streaming parts).
    """

    def __init__(
        self,
        bundle: Path,
        format: str = "tflite",
        precision: str = "int8",
        streaming: bool = True,
        threads: int | None = None,
        verify: bool = True,
        tflite_backend: str | None = None,
    ):
        self.bundle = Path(bundle)
        if self.bundle.is_file():
            self.manifest: Manifest = bare_manifest(self.bundle)
            format, precision = self.bundle.suffix[1:], self.manifest.artifacts[0].precision
            streaming, verify = False, False
            self.bundle = self.bundle.parent
        else:
            self.manifest = read_manifest(self.bundle)
        self.classes: tuple[str, ...] = tuple(self.manifest.classes)
        self.sequence_length = self.manifest.sequence_length
        # fer-edge export --mirror-odd-frames: the stream's odd frames reach the model mirrored
        self.mirror_odd_frames = bool(self.manifest.preprocess.get(MIRROR_RULE, False))
        self.streaming = streaming
        parts = ("encoder", "head") if streaming else ("full",)
        self.parts: dict[str, TFLiteModel | OnnxModel] = {}
        artifacts = {part: self.manifest.artifact(format, part, precision) for part in parts}
        for part, artifact in artifacts.items():
            if artifact is None:
                available = sorted({(a.format, a.precision) for a in self.manifest.artifacts})
                raise UsageError(
                    f"{self.bundle} has no {precision} {format} {part} model; it has: "
                    + ", ".join(f"{p} {f}" for f, p in available)
                )
        # which files of the bundle run (int8 ONNX: the weight width this CPU runs closest to float)
        self.files: dict[str, str] = {part: artifact.file for part, artifact in artifacts.items()}
        self.weight_bits: int | None = artifacts[parts[0]].weight_bits  # int8 ONNX: 7 or 8; None for the others
        for part, artifact in artifacts.items():
            path = _checked_path(self.bundle, artifact, verify)
            model = open_model(path, threads, tflite_backend)
            _check_input(model, artifact, path)
            self.parts[part] = model

    def predict_window(self, frames: np.ndarray, start: int = 0) -> np.ndarray:
        """frames: the window's preprocessed faces, the first being frame `start` of its stream."""
        if frames.shape != (self.sequence_length, *self.manifest.frame_shape):
            raise InputSpecError(
                f"expected a window of shape {(self.sequence_length, *self.manifest.frame_shape)}, got {frames.shape}"
            )
        if self.streaming:
            return self.head(np.stack([self.encode(frame, start + i) for i, frame in enumerate(frames)]))
        if self.mirror_odd_frames:
            frames = mirror_odd_frames(frames, start)
        return self.parts["full"].run(frames[None])[0]

    def encode(self, frame: np.ndarray, index: int = 0) -> np.ndarray:
        """The features of one preprocessed face, frame `index` of its stream."""
        if self.mirror_odd_frames and index % 2:
            frame = mirror_odd_frames(frame[None], index)[0]
        return self.parts["encoder"].run(frame[None])[0]

    def head(self, features: np.ndarray) -> np.ndarray:
        return self.parts["head"].run(features[None])[0]
