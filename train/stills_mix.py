"""Stage 2 of the `wild` recipe: CK+48 sequences mixed with still images shown as static sequences.

Each epoch holds the training sequences `repeats` times and `stills_per_epoch` stills drawn afresh from the
whole still set, each repeated for every frame, shuffled together and augmented alike (train.augment).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from fer_edge.dataset import SEQUENCE_LENGTH, Sequences
from fer_edge.preprocess import mirror_windows
from fer_edge.stills import Stills, static_sequences
from fer_edge.train.pretrain import class_weights
from fer_edge.train.recipes import Recipe

MONITOR_STILLS = 1200  # validation stills scored after every epoch (the whole set is scored at the end)


@dataclass(frozen=True)
class StillsParts:
    """Stills for training (labels index the model's classes, auxiliary included) and for monitoring."""

    train: Stills
    val: Stills | None
    votes: str | None = None  # the FER+ votes file the labels came from; None: the folders


def mixed_batches(
    sequences: Sequences,
    stills: Stills,
    recipe: Recipe,
    weights: np.ndarray,
    seed: int,
    still_targets: np.ndarray | None = None,
) -> tuple[tf.data.Dataset, int]:
    """(endless batches of (frames, target, weight), steps per epoch) mixing sequences and static stills.
    still_targets: each still's target (train.teacher); None: its one-hot label."""
    classes = len(sequences.classes)
    per_epoch = len(sequences) * recipe.repeats + recipe.stills_per_epoch
    sequence_rows = (
        tf.data.Dataset.from_tensor_slices(
            (sequences.frames, keras.utils.to_categorical(sequences.labels, classes).astype(np.float32), weights)
        )
        .shuffle(len(sequences), seed=seed, reshuffle_each_iteration=True)
        .repeat()
    )
    still_weights = class_weights(stills.labels, classes, "sqrt")
    still_rows = (
        tf.data.Dataset.from_tensor_slices(
            (
                stills.images,
                np.eye(classes, dtype=np.float32)[stills.labels] if still_targets is None else still_targets,
                still_weights,
            )
        )
        .shuffle(len(stills), seed=seed + 1, reshuffle_each_iteration=True)
        .repeat()
        .map(lambda image, target, weight: (tf.repeat(image[None], SEQUENCE_LENGTH, axis=0), target, weight))
    )
    share = recipe.stills_per_epoch / per_epoch
    batches = tf.data.Dataset.sample_from_datasets(
        [sequence_rows, still_rows], weights=[1 - share, share], seed=seed + 2
    ).batch(recipe.batch_size)
    if recipe.augment:
        from fer_edge.train.training import jittered

        batches = jittered(batches, seed, recipe.jitter)
    return batches.prefetch(2), math.ceil(per_epoch / recipe.batch_size)


def still_scores(probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...], subset: tuple[str, ...]):
    """Accuracy on the stills whose label is in `subset`, the argmax taken over `subset` alone."""
    columns = [classes.index(c) for c in subset]
    rows = np.isin(labels, columns)
    picked = probabilities[rows][:, columns].argmax(axis=1)
    return float(np.mean(np.array(columns)[picked] == labels[rows])) if rows.any() else math.nan


class StillsProgress(keras.callbacks.Callback):
    """After each epoch: accuracy on a fixed sample of validation stills, over the sequence classes and all targets.

    Watched, recorded in history.json; the schedule does not depend on it.
    """

    def __init__(
        self,
        val: Stills,
        targets: tuple[str, ...],
        sequence_classes: tuple[str, ...],
        log,
        seed: int = 0,
        mirror: bool = False,  # odd frames mirrored, as the run's bundle will show a photo
    ):
        super().__init__()
        rows = np.random.default_rng(seed).permutation(len(val))[:MONITOR_STILLS]
        self.frames = static_sequences(val.images[rows])
        self.frames = mirror_windows(self.frames) if mirror else self.frames
        self.labels, self.targets, self.sequence_classes, self.log = val.labels[rows], targets, sequence_classes, log
        self.records: dict[str, list[float]] = {"stills_val_accuracy_seq_classes": [], "stills_val_accuracy_all": []}

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        probabilities = self.model.predict(self.frames, verbose=0, batch_size=128)[:, : len(self.targets)]
        few = still_scores(probabilities, self.labels, self.targets, self.sequence_classes)
        every = still_scores(probabilities, self.labels, self.targets, self.targets)
        self.records["stills_val_accuracy_seq_classes"].append(few)
        self.records["stills_val_accuracy_all"].append(every)
        self.log(
            f"            stills val ({len(self.frames)}): {len(self.sequence_classes)} classes {few:.3f}, "
            f"{len(self.targets)} classes {every:.3f}"
        )
