"""Soft targets for stage 2's stills from an earlier bundle (self-distillation, `fer-edge train --teacher`).

FER2013's labels are noisy (human agreement about 65 %). A still's target becomes a blend of its label and what a
trained bundle says of it, as the runtime shows it a photo, so a face the teacher reads confidently otherwise pulls
the student less hard towards a doubtful label. The teacher runs through fer-edge's own runtime (no Keras model).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer_edge.stills import Stills

Log = Callable[[str], None]


def blended_targets(
    targets: np.ndarray, classes: tuple[str, ...], teacher: np.ndarray, teacher_classes: tuple[str, ...], weight: float
) -> np.ndarray:
    """(1 - weight) * each still's target + weight * the teacher's probabilities, in `classes`' order.

    targets: (N, len(classes)), one-hot labels or FER+ vote distributions (`still_targets`).

    A class the teacher lacks (an auxiliary one) gets none of its mass; every class of the teacher is among
    `classes` (train.config.check_teacher refuses other teachers before any training)."""
    placed = np.zeros((len(targets), len(classes)), dtype=np.float32)
    placed[:, [classes.index(c) for c in teacher_classes]] = teacher
    return (1 - weight) * targets + weight * placed


def still_targets(stills: Stills) -> np.ndarray:
    """(N, classes) float32: each still's own target (FER+ votes) where it has one, else its one-hot label."""
    if stills.targets is not None:
        return stills.targets.astype(np.float32)
    return np.eye(len(stills.classes), dtype=np.float32)[stills.labels]


def teacher_probabilities(bundle: Path, stills: Stills, log: Log) -> tuple[np.ndarray, tuple[str, ...]]:
    """The bundle's probabilities for every still (its best TFLite file: float32 if it has one, else int8)."""
    from fer_edge.buffer import predict_still
    from fer_edge.manifest import read_manifest
    from fer_edge.model import EmotionModel

    precision = "float32" if read_manifest(bundle).artifact("tflite", "encoder", "float32") else "int8"
    model = EmotionModel(bundle, "tflite", precision, streaming=True, threads=None)
    log(f"teacher {bundle} ({precision}) reads {len(stills)} training stills")
    out = np.empty((len(stills), len(model.classes)), dtype=np.float32)
    for index, image in enumerate(stills.images):
        out[index] = predict_still(model, image)
    return out, tuple(model.classes)
