"""Train the CNN-BiLSTM on CK+48 sequences and leave a complete, self-describing run folder."""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_edge import stopping
from fer_edge.atomic import atomic_dir, atomic_write_text
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.preprocess import SPEC
from fer_edge.split import (
    SUBJECT_PROTOCOL,
    Split,
    carve_validation,
    check_disjoint,
    seed_split,
    subject_folds,
    write_split,
)
from fer_edge.train.augment import Jitter, augment_sequences, mixup
from fer_edge.train.auxiliary import add_auxiliary, keep_target_outputs
from fer_edge.train.config import TrainConfig, auxiliary_in_data, check_train_inputs
from fer_edge.train.model import build_model
from fer_edge.train.recipes import Recipe
from fer_edge.train.reports import (
    plot_confusion,
    plot_fold_summary,
    plot_history,
    plot_sample_predictions,
    write_classification_report,
)
from fer_edge.versions import library_versions

Log = Callable[[str], None]

TRAINING_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy", "opencv-python-headless", "scikit-learn")


@dataclass
class RunResult:
    directory: Path
    accuracy: float
    macro_f1: float
    seconds: float
    labels: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)


def machine_info() -> dict:
    import os

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "thread_env": {
            k: os.environ[k]
            for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
            if k in os.environ
        },
    }


class ProgressAndHeldOut(keras.callbacks.Callback):
    """Prints one line per epoch and records held-out accuracy/loss; nothing monitors these numbers."""

    def __init__(self, test: Sequences, epochs: int, log: Log, prefix: str = ""):
        super().__init__()
        self.test, self.epochs, self.log, self.prefix = test, epochs, log, prefix
        self.records: dict[str, list[float]] = {
            "heldout_accuracy": [],
            "heldout_loss": [],
            "learning_rate": [],
        }

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        probabilities = self.model.predict(self.test.frames, verbose=0, batch_size=64)
        probabilities = probabilities[:, : len(self.test.classes)]  # without auxiliary outputs, if any
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        picked = probabilities[np.arange(len(self.test)), self.test.labels]
        accuracy = float(np.mean(probabilities.argmax(axis=1) == self.test.labels))
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for key, value in zip(self.records, (accuracy, loss, rate), strict=True):
            self.records[key].append(value)
        val = f"  val acc {logs['val_accuracy']:.3f}" if "val_accuracy" in logs else ""
        self.log(
            f"{self.prefix}epoch {epoch + 1:>3}/{self.epochs}  loss {logs.get('loss', float('nan')):.3f}  "
            f"acc {logs.get('accuracy', float('nan')):.3f}{val}  held-out acc {accuracy:.3f}  "
            f"lr {rate:.1e}  {time.perf_counter() - self.started:.1f}s"
        )


def sample_weights(labels: np.ndarray, classes: int, mode: str) -> np.ndarray:
    if mode == "none":
        return np.ones(len(labels), dtype=np.float32)
    counts = np.bincount(labels, minlength=classes).astype(np.float32)
    weights = len(labels) / (classes * np.maximum(counts, 1))
    return weights[labels].astype(np.float32)


def training_batches(part: Sequences, recipe: Recipe, seed: int) -> tf.data.Dataset:
    """Shuffled batches of (frames, one-hot targets, sample weights), augmented (and mixed) afresh each epoch.

    A tf.data pipeline, not a Python generator: the generator path left the 2 cores idle between steps.
    """
    targets = keras.utils.to_categorical(part.labels, len(part.classes)).astype(np.float32)
    weights = sample_weights(part.labels, len(part.classes), recipe.class_weighting)
    batches = (
        tf.data.Dataset.from_tensor_slices((part.frames, targets, weights))
        .shuffle(len(part), seed=seed, reshuffle_each_iteration=True)
        .repeat(recipe.repeats)
        .batch(recipe.batch_size)
    )
    if recipe.augment:
        rng = np.random.default_rng(seed)

        def jitter(frames, targets, weights):
            moved = tf.numpy_function(lambda x: augment_sequences(x, rng), [frames], tf.float32)
            return tf.ensure_shape(moved, frames.shape), targets, weights

        batches = batches.map(jitter, num_parallel_calls=1, deterministic=True)
    if recipe.mixup:
        mixing = np.random.default_rng(seed + 1)

        def blend(frames, targets, weights):
            mixed = tf.numpy_function(
                lambda *batch: mixup(*batch, mixing, recipe.mixup),
                [frames, targets, weights],
                (tf.float32, tf.float32, tf.float32),
            )
            return tuple(tf.ensure_shape(m, t.shape) for m, t in zip(mixed, (frames, targets, weights), strict=True))

        batches = batches.map(blend, num_parallel_calls=1, deterministic=True)
    return batches.prefetch(2)


def cosine_rate(recipe: Recipe, epoch: int) -> float:
    """Learning rate for epoch (0-based): half a cosine from recipe.learning_rate down to recipe.min_learning_rate."""
    progress = epoch / max(recipe.epochs - 1, 1)
    span = recipe.learning_rate - recipe.min_learning_rate
    return recipe.min_learning_rate + 0.5 * span * (1 + math.cos(math.pi * progress))


class StopOnRequest(keras.callbacks.Callback):
    """Ends training at the next batch after Ctrl-C or `kill`, should TensorFlow have swallowed the interrupt."""

    def on_train_batch_end(self, batch, logs=None):
        stopping.check()


def build_callbacks(recipe: Recipe, config: TrainConfig, has_val: bool) -> list[keras.callbacks.Callback]:
    if recipe.schedule == "cosine":
        schedule: keras.callbacks.Callback = keras.callbacks.LearningRateScheduler(
            lambda epoch: cosine_rate(recipe, epoch)
        )
    else:
        schedule = keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy" if has_val else "accuracy",
            factor=recipe.plateau_factor,
            patience=recipe.plateau_patience,
            min_lr=recipe.min_learning_rate,
        )
    callbacks = [schedule]
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.early_stopping, restore_best_weights=True)
        )
    return callbacks


def build_optimizer(recipe: Recipe) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.Nadam(
        recipe.learning_rate,
        weight_decay=recipe.weight_decay or None,
        use_ema=recipe.ema > 0,
        ema_momentum=recipe.ema or 0.99,
    )
    if recipe.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def fit_one(
    data: Sequences,
    split: Split,
    recipe: Recipe,
    config: TrainConfig,
    directory: Path,
    log: Log,
    auxiliary: Sequences | None = None,
) -> RunResult:
    """Train one model on split.train (plus `auxiliary` sequences), evaluate on split.test, write the run files."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f"[fold {split.fold}/{split.folds}] " if split.fold else ""
    seed = config.seed + (split.fold or 0)
    keras.utils.set_random_seed(seed)
    train, test = data.select(split.train), data.select(split.test)
    val = data.select(split.val) if split.val else None
    if auxiliary is not None:
        unseen = split.test + split.val if split.protocol == SUBJECT_PROTOCOL else ()
        train = add_auxiliary(train, auxiliary, set(data.select(unseen).subjects))

    model = build_model(len(train.classes), config.width)
    model.compile(
        optimizer=build_optimizer(recipe),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    progress = ProgressAndHeldOut(test, recipe.epochs, log, prefix)
    extra = f" ({len(train) - len(split.train)} of auxiliary classes)" if auxiliary is not None else ""
    log(
        f"{prefix}training {model.name} ({model.count_params():,} parameters) on {len(train)} sequences{extra}, "
        f"{len(val) if val else 0} validation, {len(test)} held-out; recipe {recipe.name}, {recipe.epochs} epochs"
    )
    started = time.perf_counter()
    fitted = model.fit(
        training_batches(train, recipe, seed),
        validation_data=(val.frames, keras.utils.to_categorical(val.labels, len(train.classes))) if val else None,
        epochs=recipe.epochs,
        callbacks=[*build_callbacks(recipe, config, val is not None), progress, StopOnRequest()],
        verbose=0,
        shuffle=False,  # the dataset shuffles
    )
    seconds = time.perf_counter() - started
    if auxiliary is not None:
        model = keep_target_outputs(model, len(data.classes), config.width)

    probabilities = model.predict(test.frames, verbose=0, batch_size=64)
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == test.labels))
    history = {k: [float(v) for v in values] for k, values in fitted.history.items() if k != "learning_rate"}
    history.update(progress.records)
    name = f"{recipe.name} recipe, width {config.width:g}, {split.protocol}" + (
        f" fold {split.fold}/{split.folds}" if split.fold else ""
    )

    model.save(directory / "model.keras")
    save_legacy_h5(model, directory / "DCNN_model.h5")
    write_split(split, directory / "split.json")
    atomic_write_text(directory / "history.json", json.dumps(history, indent=1) + "\n")
    report = write_classification_report(test.labels, predicted, data.classes, directory)
    plot_history(history, directory / "epoch_history_dcnn.png", name)
    plot_confusion(
        test.labels,
        predicted,
        data.classes,
        directory / "confusion_matrix_dcnn.png",
        f"Held-out: {accuracy:.1%} of {len(test)} ({name})",
    )
    plot_sample_predictions(test, probabilities, directory / "sample_predictions.png", name)
    metrics = {
        "accuracy": accuracy,
        "macro_f1": report["macro avg"]["f1-score"],
        "recall": {c: report[c]["recall"] for c in data.classes},
        "train_accuracy_last_epoch": history["accuracy"][-1],
        "epochs_run": len(history["loss"]),
        "train_seconds": seconds,
        "test_sequences": len(test),
        "train_sequences": len(train),
    }
    atomic_write_text(directory / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_config(config, recipe, data, directory, train.ids[len(split.train) :])
    np.savez(directory / "test_predictions.npz", ids=test.ids, labels=test.labels, probabilities=probabilities)
    log(
        f"{prefix}held-out accuracy {accuracy:.1%} ({int(np.sum(predicted == test.labels))}/{len(test)}), "
        f"macro F1 {metrics['macro_f1']:.3f}, {seconds / 60:.1f} min; recall "
        + ", ".join(f"{name} {recall:.0%}" for name, recall in metrics["recall"].items())
    )
    return RunResult(directory, accuracy, metrics["macro_f1"], seconds, test.labels, probabilities, test.ids)


def save_legacy_h5(model: keras.Model, path: Path) -> None:
    """The seed's file name and format, written for compatibility only; fer-edge itself never loads .h5."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # Keras warns that HDF5 is legacy: we know
    try:
        model.save(path)
    finally:
        absl.setLevel(level)


def write_config(
    config: TrainConfig, recipe: Recipe, data: Sequences, directory: Path, auxiliary_ids: Iterable[str] = ()
) -> None:
    record = {
        "config": asdict(config),
        "recipe": recipe.to_dict(),
        "augmentation": Jitter().to_dict() if recipe.augment else None,
        "classes": list(data.classes),
        "preprocess": SPEC.to_dict(),
        "sequence_length": int(data.frames.shape[1]),
        "dataset": {"path": str(Path(config.data).resolve()), "sequences": len(data)},
        "auxiliary_training_ids": [str(i) for i in auxiliary_ids],
        "versions": library_versions(*TRAINING_PACKAGES),
        "machine": machine_info(),
    }
    atomic_write_text(directory / "config.json", json.dumps(record, indent=2) + "\n")


def summarize_folds(
    results: list[RunResult], data: Sequences, config: TrainConfig, recipe: Recipe, directory: Path, log: Log
) -> dict:
    """Mean and spread over folds, plus one confusion matrix pooling every sequence's single test."""
    accuracies = [r.accuracy for r in results]
    labels = np.concatenate([r.labels for r in results])
    predicted = np.concatenate([r.probabilities.argmax(axis=1) for r in results])
    title = f"{recipe.name} recipe, width {config.width:g}, subject-independent {len(results)}-fold"
    report = write_classification_report(labels, predicted, data.classes, directory)
    plot_confusion(
        labels,
        predicted,
        data.classes,
        directory / "confusion_matrix_dcnn.png",
        f"All folds pooled: {np.mean(predicted == labels):.1%} of {len(labels)} ({title})",
    )
    plot_fold_summary(accuracies, directory / "folds.png", title)
    summary = {
        "protocol": "subject-independent-stratified-kfold",
        "folds": len(results),
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "accuracy_min": float(np.min(accuracies)),
        "accuracy_max": float(np.max(accuracies)),
        "macro_f1_mean": float(np.mean([r.macro_f1 for r in results])),
        "pooled_accuracy": float(np.mean(predicted == labels)),
        "pooled_macro_f1": report["macro avg"]["f1-score"],
        "per_fold": [
            {"fold": i + 1, "accuracy": r.accuracy, "macro_f1": r.macro_f1, "train_seconds": r.seconds}
            for i, r in enumerate(results)
        ],
        "train_seconds": float(sum(r.seconds for r in results)),
    }
    atomic_write_text(directory / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_config(config, recipe, data, directory)
    log(
        f"{len(results)}-fold subject-independent accuracy {summary['accuracy_mean']:.1%} "
        f"± {summary['accuracy_std']:.1%} (min {summary['accuracy_min']:.1%}, max {summary['accuracy_max']:.1%})"
    )
    return summary


def load_auxiliary(config: TrainConfig, recipe: Recipe, log: Log) -> Sequences | None:
    """The sequences of the recipe's auxiliary classes that the dataset has (None if none), said in the log."""
    extra, absent = auxiliary_in_data(config, recipe)
    auxiliary = load_sequences(Path(config.data), extra) if extra else None
    if auxiliary is not None:
        log(f"and {len(auxiliary)} sequences of the auxiliary classes {', '.join(extra)} for training only")
    if absent:
        log(f"auxiliary classes without a folder in {config.data}, trained without: {', '.join(absent)}")
    return auxiliary


def train(config: TrainConfig, log: Log = print) -> dict:
    """Train per `config` into config.out (written atomically). Returns the run's metrics or CV summary."""
    recipe = check_train_inputs(config)
    data = load_sequences(Path(config.data), config.classes)
    log(f"loaded {len(data)} sequences of {len(data.classes)} classes from {config.data}")
    auxiliary = load_auxiliary(config, recipe, log)
    splits = (
        subject_folds(data, config.cv, config.seed) if config.cv else [seed_split(data, config.test_size, config.seed)]
    )
    splits = [carve_validation(s, data, config.val_fraction) for s in splits]
    for split in splits:
        check_disjoint(split, data)

    with atomic_dir(Path(config.out), config.force) as tmp:
        if config.cv:
            results = [fit_one(data, s, recipe, config, tmp / f"fold_{s.fold}", log, auxiliary) for s in splits]
            outcome = summarize_folds(results, data, config, recipe, tmp, log)
        else:
            fit_one(data, splits[0], recipe, config, tmp, log, auxiliary)
            outcome = json.loads((tmp / "metrics.json").read_text())
    log(f"run written to {config.out}")
    return outcome
