"""Stage 1 of the `wild` recipe: the per-frame CNN learns faces in the wild from still images.

The seed's encoder (8 conv layers at a width) plus a dropout and a softmax over the stills' classes is trained
on a still-image set (FER2013 `train`). Its weights seed the CNN-BiLSTM's per-frame CNN in stage 2. Training
runs in bfloat16 mixed precision where the CPU has it (AMX/AVX-512 BF16: 1.7-2.5x faster than float32 here);
the saved weights are float32.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_edge import stopping
from fer_edge.atomic import atomic_dir, atomic_write_text
from fer_edge.stills import Stills
from fer_edge.train.augment import Jitter, augment_sequences, mixup
from fer_edge.train.checkpoint import STATE_FILE, resume, save_checkpoint
from fer_edge.train.config import ENCODER_FILE
from fer_edge.train.model import build_encoder, build_state

Log = Callable[[str], None]


@dataclass(frozen=True)
class PretrainConfig:
    """Every setting of stage 1; saved as pretrain.json beside the encoder's weights."""

    width: float = 0.5
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 2e-3  # Adam, half a cosine down to 1 % of it over the epochs, 1 epoch of warm-up
    label_smoothing: float = 0.1
    class_weighting: str = "sqrt"  # "none" or "sqrt" (inverse square root of class frequency)
    head_dropout: float = 0.3
    dropout_scale: float = 1.0  # on the encoder's pool dropouts (0.4-0.45 at 1.0)
    augment: bool = True  # train.augment.Jitter on each still
    jitter: Jitter = Jitter()  # its ranges
    erase: float = 0.0  # share of stills with a random rectangle (2-33 % of the face) replaced by noise; 0 = off
    mixup: float = 0.0  # alpha of Beta(alpha, alpha): each still blended with a partner from its batch; 0 = off
    precision: str = "mixed_bfloat16"  # or "float32"
    seed: int = 42
    init_from: str | None = None  # a stage-1 folder whose encoder weights this stage starts from (else random)
    labels: str = "folder"  # where the stills' targets came from (fer_edge.ferplus.LABEL_SOURCES); recorded only

    def to_dict(self) -> dict:
        return asdict(self)


def class_weights(labels: np.ndarray, classes: int, mode: str) -> np.ndarray:
    counts = np.maximum(np.bincount(labels, minlength=classes).astype(np.float64), 1)
    if mode == "none":
        per_class = np.ones(classes)
    elif mode == "sqrt":
        per_class = np.sqrt(counts.max() / counts)
        per_class /= np.sum(per_class * counts) / counts.sum()  # mean weight over the samples is 1
    else:
        raise ValueError(f"class_weighting must be 'none' or 'sqrt', got {mode!r}")
    return per_class[labels].astype(np.float32)


def still_batches(stills: Stills, config: PretrainConfig) -> tf.data.Dataset:
    """Shuffled, augmented batches of (image, target, weight): the sequences' Jitter, random erasing, then mixup.
    The target is the still's own (FER+ votes) where it has one, else its one-hot label.

    Random erasing (Zhong et al. 2017, keras.layers.RandomErasing) hides part of some faces, as hands, glasses
    or hair do, so that no single region decides the class. Mixup (`train.augment.mixup`, the blend the recipes'
    `mixup` option applies to sequences) trains on blends of two faces with blended targets, which keeps the
    classifier from being sure where the data says nothing.
    """
    targets = stills.targets
    if targets is None:
        targets = keras.utils.to_categorical(stills.labels, len(stills.classes)).astype(np.float32)
    weights = class_weights(stills.labels, len(stills.classes), config.class_weighting)
    batches = (
        tf.data.Dataset.from_tensor_slices((stills.images, targets, weights))
        .shuffle(len(stills), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
    )
    if config.augment:
        rng = np.random.default_rng(config.seed)

        def jitter(images, targets, weights):
            moved = tf.numpy_function(
                lambda x: augment_sequences(x[:, None], rng, config.jitter)[:, 0], [images], tf.float32
            )
            return tf.ensure_shape(moved, images.shape), targets, weights

        batches = batches.map(jitter, num_parallel_calls=1, deterministic=True)
    if config.erase:
        eraser = keras.layers.RandomErasing(
            factor=(config.erase, config.erase), value_range=(0.0, 1.0), seed=config.seed, dtype="float32"
        )
        batches = batches.map(lambda images, targets, weights: (eraser(images, training=True), targets, weights))
    if config.mixup:
        blend_rng = np.random.default_rng([config.seed, 1])

        def blend(images, targets, weights):
            blended = tf.numpy_function(
                lambda x, t, w: mixup(x, t, w, blend_rng, config.mixup),
                [images, targets, weights],
                (tf.float32, tf.float32, tf.float32),
            )
            return tuple(tf.ensure_shape(b, a.shape) for b, a in zip(blended, (images, targets, weights), strict=True))

        batches = batches.map(blend, num_parallel_calls=1, deterministic=True)
    return batches.prefetch(2)


def build_classifier(
    width: float, classes: int, dropout: float, dropout_scale: float = 1.0
) -> tuple[keras.Model, keras.Model]:
    """(encoder, encoder + dropout + softmax); the softmax computes in float32 under mixed precision."""
    encoder = build_encoder(width, dropout_scale=dropout_scale)
    x = keras.layers.Dropout(dropout, name="head_dropout")(encoder.output)
    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32", name="still_probabilities")(x)
    return encoder, keras.Model(encoder.input, outputs, name=f"still_classifier_w{width:g}")


class EpochLog(keras.callbacks.Callback):
    """Logs each epoch and keeps the history (from `history`, a resumed run's earlier epochs); after each epoch,
    hands `checkpoint` the epochs done and the history so far."""

    def __init__(self, epochs: int, log: Log, checkpoint: Callable[[int, dict], None], history: dict):
        super().__init__()
        self.epochs, self.log, self.checkpoint = epochs, log, checkpoint
        self.history = {k: list(v) for k, v in history.items()}

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        stopping.check()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.log(
            f"[stills] epoch {epoch + 1:>3}/{self.epochs}  loss {logs.get('loss', math.nan):.3f}  "
            f"acc {logs.get('accuracy', math.nan):.3f}  val acc {logs.get('val_accuracy', math.nan):.3f}  "
            f"{time.perf_counter() - self.started:.0f}s"
        )
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        self.checkpoint(epoch + 1, self.history)


def pretrain_encoder(
    train: Stills, val: Stills | None, config: PretrainConfig, out: Path, log: Log = print, force: bool = False
) -> dict:
    """Train stage 1 into `out` (written atomically): encoder.weights.h5, pretrain.json, history.json."""
    keras.utils.set_random_seed(config.seed)
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        encoder, model = build_classifier(config.width, len(train.classes), config.head_dropout, config.dropout_scale)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if config.init_from:
        encoder.load_weights(Path(config.init_from) / ENCODER_FILE)  # the head starts afresh
    steps = math.ceil(len(train) / config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10,
        decay_steps=max(1, (config.epochs - 1) * steps),
        alpha=0.01,
        warmup_target=config.learning_rate,
        warmup_steps=steps,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    build_state(model, train.images)
    validation = None
    if val is not None:
        validation = (val.images, keras.utils.to_categorical(val.labels, len(val.classes)).astype(np.float32))
    log(
        f"[stills] training the width-{config.width:g} encoder ({encoder.count_params():,} parameters) on "
        f"{len(train)} stills of {len(train.classes)} classes ({', '.join(train.classes)}), "
        f"{len(val) if val is not None else 0} validation, {config.epochs} epochs, {config.precision}, "
        + ("vote distributions as targets" if train.targets is not None else "one-hot targets")
        + (f", starting from the encoder in {config.init_from}" if config.init_from else "")
    )
    out = Path(out)
    checkpoint_dir = out.parent / f".{out.name}.partial"
    key = {"config": config.to_dict(), "classes": list(train.classes), "stills": len(train)}
    done, earlier = resume(checkpoint_dir, model, key, config.epochs, log, "[stills] ")

    def checkpoint(epoch: int, history: dict) -> None:
        """The state after each epoch, to resume from; the encoder's weights beside it, to inspect."""
        save_checkpoint(checkpoint_dir, model, epoch, history, key)
        encoder.save_weights(checkpoint_dir / ENCODER_FILE)

    progress = EpochLog(config.epochs, log, checkpoint, earlier)
    started = time.perf_counter()
    try:
        model.fit(
            still_batches(train, config),
            validation_data=validation,
            epochs=config.epochs,
            initial_epoch=done,
            callbacks=[progress],
            verbose=0,
            shuffle=False,  # the dataset shuffles (Keras warns that it would ignore True)
        )
    except KeyboardInterrupt:
        if (checkpoint_dir / STATE_FILE).is_file():
            log(f"[stills] stopped; the same command resumes stage 1 from its checkpoint in {checkpoint_dir}")
        raise
    seconds = time.perf_counter() - started
    history = progress.history
    record = {
        "config": config.to_dict(),
        "augmentation": config.jitter.to_dict() if config.augment else None,
        "classes": list(train.classes),
        "train_stills": len(train),
        "skipped_stills": len(train.skipped),
        "val_stills": len(val) if val is not None else 0,
        "train_seconds": seconds,  # of this process; a resumed run's earlier epochs are not in it
        "seconds_per_epoch": seconds / max(1, config.epochs - done),
        "resumed_at_epoch": done + 1 if done else None,
        "val_accuracy_last_epoch": history.get("val_accuracy", [math.nan])[-1],
        # the stage 1 this one continued, so a chain of them can be read back to its first run
        "started_from": json.loads((Path(config.init_from) / "pretrain.json").read_text())
        if config.init_from
        else None,
    }
    with atomic_dir(out, force) as tmp:
        encoder.save_weights(tmp / ENCODER_FILE)
        atomic_write_text(tmp / "pretrain.json", json.dumps(record, indent=2) + "\n")
        atomic_write_text(tmp / "history.json", json.dumps(history, indent=1) + "\n")
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log(
        f"[stills] encoder written to {out} ({seconds / 60:.1f} min, "
        f"{seconds / max(1, config.epochs - done):.0f} s per epoch)"
    )
    return record
