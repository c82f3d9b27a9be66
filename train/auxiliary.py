"""Auxiliary classes: train on more of CK+48's emotions than the model ships, then cut their outputs off.

CK+48 labels 77 further sequences (contempt, disgust) that the 5-class model never predicts. Training on them
as extra softmax outputs gives the shared CNN and LSTMs more faces to learn from; afterwards the final layer
keeps the target classes' columns only. Softmax over a subset of the logits is the trained model's
distribution conditioned on the face showing one of the target classes, so nothing else has to change: the
saved model has the target classes' outputs, exports and runs like any other.
"""

from __future__ import annotations

import keras
import numpy as np

from fer_edge.dataset import Sequences
from fer_edge.train.model import build_model


def add_auxiliary(train: Sequences, extra: Sequences, exclude_subjects: set[str]) -> Sequences:
    """train followed by extra's sequences (labels after train's classes), minus those of exclude_subjects.

    Excluding the test subjects keeps a subject-independent split subject-independent.
    """
    keep = ~np.isin(extra.subjects, sorted(exclude_subjects))
    return Sequences(
        frames=np.concatenate([train.frames, extra.frames[keep]]),
        labels=np.concatenate([train.labels, extra.labels[keep] + len(train.classes)]),
        subjects=np.concatenate([train.subjects, extra.subjects[keep]]),
        ids=np.concatenate([train.ids, extra.ids[keep]]),
        classes=train.classes + extra.classes,
    )


def keep_target_outputs(model: keras.Model, classes: int, width: float) -> keras.Model:
    """A copy of `model` whose softmax covers only its first `classes` outputs."""
    target = build_model(classes, width)
    for source, layer in zip(model.layers, target.layers, strict=True):
        weights = source.get_weights()
        if layer.name == "probabilities":
            kernel, bias = weights
            weights = [kernel[:, :classes], bias[:classes]]
        layer.set_weights(weights)
    return target
