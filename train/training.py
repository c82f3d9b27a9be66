"""Train the CNN-BiLSTM on CK+48 sequences and leave a complete, self-describing run folder."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_edge import stopping
from fer_edge.atomic import atomic_dir, atomic_write_text
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.errors import UsageError
from fer_edge.ferplus import describe_blend, find_votes, load_ferplus_stills
from fer_edge.preprocess import SPEC, mirror_windows
from fer_edge.split import (
    SUBJECT_PROTOCOL,
    Split,
    carve_validation,
    check_disjoint,
    seed_split,
    subject_folds,
    write_split,
)
from fer_edge.stills import Stills, has_split, load_stills, relabel
from fer_edge.train.augment import Jitter, augment_sequences, mixup
from fer_edge.train.auxiliary import add_auxiliary, keep_target_outputs
from fer_edge.train.checkpoint import STATE_FILE, resume, save_checkpoint
from fer_edge.train.config import (
    ENCODER_FILE,
    TrainConfig,
    auxiliary_in_data,
    check_train_inputs,
    encoder_dir,
    is_bundle,
)
from fer_edge.train.folds import folds_store, keep_fold, reuse_fold
from fer_edge.train.model import build_model, build_state
from fer_edge.train.pretrain import PretrainConfig, pretrain_encoder
from fer_edge.train.recipes import Recipe
from fer_edge.train.recover import write_recovered
from fer_edge.train.reports import (
    plot_confusion,
    plot_fold_summary,
    plot_history,
    plot_sample_predictions,
    write_classification_report,
)
from fer_edge.train.stills_mix import StillsParts, StillsProgress, mixed_batches, still_scores
from fer_edge.train.teacher import blended_targets, still_targets, teacher_probabilities
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


class EpochRecord(keras.callbacks.Callback):
    """Keeps Keras' per-epoch logs (from `history`, a resumed run's earlier epochs) and, with a `folder`, saves after
    each epoch the state to resume from (train.checkpoint): weights, optimizer, these logs and the other callbacks'
    `records`. Last among the callbacks, so that the epoch's held-out and stills records are in."""

    def __init__(self, folder: Path | None, key: dict, history: dict, records: list[dict]):
        super().__init__()
        self.folder, self.key, self.records = folder, key, records
        self.history = {k: list(v) for k, v in history.items()}

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        if self.folder is not None:
            state = {"fit": self.history, "records": self.records}
            save_checkpoint(self.folder, self.model, epoch + 1, state, self.key)


def sample_weights(labels: np.ndarray, classes: int, mode: str) -> np.ndarray:
    if mode == "none":
        return np.ones(len(labels), dtype=np.float32)
    counts = np.bincount(labels, minlength=classes).astype(np.float32)
    weights = len(labels) / (classes * np.maximum(counts, 1))
    return weights[labels].astype(np.float32)


def jittered(batches: tf.data.Dataset, seed: int, jitter: Jitter) -> tf.data.Dataset:
    """Batches of (frames, targets, weights) with train.augment's jitter applied afresh to each sequence's frames."""
    rng = np.random.default_rng(seed)

    def move(frames, targets, weights):
        moved = tf.numpy_function(lambda x: augment_sequences(x, rng, jitter), [frames], tf.float32)
        return tf.ensure_shape(moved, frames.shape), targets, weights

    return batches.map(move, num_parallel_calls=1, deterministic=True)


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
        batches = jittered(batches, seed, recipe.jitter)
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


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to `name` while models are built, then restored."""
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def fit_one(
    data: Sequences,
    split: Split,
    recipe: Recipe,
    config: TrainConfig,
    directory: Path,
    log: Log,
    auxiliary: Sequences | None = None,
    stills: StillsParts | None = None,
    encoder_weights: Path | None = None,
    partial: Path | None = None,
) -> RunResult:
    """Train one model on split.train (plus `auxiliary` sequences and `stills`), evaluate on split.test, write the
    run files. The model predicts data.classes followed by the recipe's stills classes (neutral).

    With `partial`, the state after each epoch is kept there, and a checkpoint there of the same settings and split
    is resumed from its last whole epoch; it is removed once the model is trained."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = f"[fold {split.fold}/{split.folds}] " if split.fold else ""
    seed = config.seed + (split.fold or 0)
    keras.utils.set_random_seed(seed)
    targets = data.classes + recipe.stills_classes
    train, test = data.select(split.train), data.select(split.test)
    train, test = replace(train, classes=targets), replace(test, classes=targets)
    val = data.select(split.val) if split.val else None
    if recipe.mirror_odd_frames:  # scored as the runtime shows them to a bundle with the rule
        test = replace(test, frames=mirror_windows(test.frames))
        val = replace(val, frames=mirror_windows(val.frames)) if val else None
    if auxiliary is not None:
        unseen = split.test + split.val if split.protocol == SUBJECT_PROTOCOL else ()
        train = add_auxiliary(train, auxiliary, set(data.select(unseen).subjects))

    with precision_policy(recipe.precision):
        model = build_model(len(train.classes), config.width)
    if encoder_weights is not None:
        model.get_layer("per_frame_cnn").layer.load_weights(encoder_weights)
        log(f"{prefix}per-frame CNN starts from {encoder_weights}")
    model.compile(
        optimizer=build_optimizer(recipe),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    build_state(model, train.frames)
    key = fold_key(config, split)
    done, earlier = resume(partial, model, key, recipe.epochs, log, prefix) if partial else (0, {})
    batch_seed = seed + done  # a resumed run does not replay the first epochs' batches
    progress = ProgressAndHeldOut(test, recipe.epochs, log, prefix)
    extra = f" ({len(train) - len(split.train)} of auxiliary classes)" if auxiliary is not None else ""
    if stills is not None:
        extra += f" and {recipe.stills_per_epoch} of {len(stills.train)} stills per epoch as static sequences"
    log(
        f"{prefix}training {model.name} ({model.count_params():,} parameters) on {len(train)} sequences{extra}, "
        f"{len(val) if val else 0} validation, {len(test)} held-out; recipe {recipe.name}, {recipe.epochs} epochs"
    )
    callbacks = [*build_callbacks(recipe, config, val is not None), progress, StopOnRequest()]
    val_stills = relabel(stills.val, targets) if stills is not None and stills.val is not None else None
    if stills is not None:
        weights = sample_weights(train.labels, len(train.classes), recipe.class_weighting)
        shown = relabel(stills.train, train.classes)
        soft = shown.targets  # FER+ vote distributions over this model's classes, or None: one-hot labels
        if soft is not None:
            blend = describe_blend(config.folder_weight, config.folder_blend)
            log(f"{prefix}still targets: FER+ vote distributions{blend} over " + ", ".join(train.classes))
        if config.teacher:
            said, said_classes = teacher_probabilities(Path(config.teacher), shown, log)
            soft = blended_targets(still_targets(shown), train.classes, said, said_classes, config.teacher_weight)
            own = "votes" if shown.targets is not None else "label"
            log(f"{prefix}still targets: {1 - config.teacher_weight:g} {own} + {config.teacher_weight:g} teacher")
        batches, steps = mixed_batches(train, shown, recipe, weights, batch_seed, soft)
        if val_stills is not None:
            callbacks.append(StillsProgress(val_stills, targets, data.classes, log, seed, recipe.mirror_odd_frames))
    else:
        batches, steps = training_batches(train, recipe, batch_seed), None
    records = [c.records for c in callbacks if isinstance(c, ProgressAndHeldOut | StillsProgress)]
    for kept, saved in zip(records, earlier.get("records", []), strict=False):
        kept.update({name: list(values) for name, values in saved.items()})
    epochs = EpochRecord(partial, key, earlier.get("fit", {}), records)
    callbacks.append(epochs)
    started = time.perf_counter()
    try:
        model.fit(
            batches,
            steps_per_epoch=steps,
            validation_data=(val.frames, keras.utils.to_categorical(val.labels, len(train.classes))) if val else None,
            epochs=recipe.epochs,
            initial_epoch=done,
            callbacks=callbacks,
            verbose=0,
            shuffle=False,  # the dataset shuffles
        )
    except KeyboardInterrupt:
        if partial and (partial / STATE_FILE).is_file():
            log(f"{prefix}stopped; the same command resumes this training from its checkpoint in {partial}")
        raise
    seconds = time.perf_counter() - started
    if auxiliary is not None or recipe.precision != "float32":
        model = keep_target_outputs(model, len(targets), config.width)  # also a float32 copy of a bfloat16 model

    probabilities = model.predict(test.frames, verbose=0, batch_size=64)
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == test.labels))
    history = {k: values for k, values in epochs.history.items() if k != "learning_rate"}
    for kept in records:
        history.update(kept)
    name = f"{recipe.name} recipe, width {config.width:g}, {split.protocol}" + (
        f" fold {split.fold}/{split.folds}" if split.fold else ""
    )

    model.save(directory / "model.keras")
    save_legacy_h5(model, directory / "DCNN_model.h5")
    write_split(split, directory / "split.json")
    atomic_write_text(directory / "history.json", json.dumps(history, indent=1) + "\n")
    report = write_classification_report(test.labels, predicted, targets, directory)
    plot_history(history, directory / "epoch_history_dcnn.png", name)
    plot_confusion(
        test.labels,
        predicted,
        targets,
        directory / "confusion_matrix_dcnn.png",
        f"Held-out: {accuracy:.1%} of {len(test)} ({name})",
    )
    plot_sample_predictions(test, probabilities, directory / "sample_predictions.png", name)
    metrics = {
        "accuracy": accuracy,
        "macro_f1": report["macro avg"]["f1-score"],
        "recall": {c: report[c]["recall"] for c in data.classes},
        "predicted_outside_sequence_classes": int(np.sum(predicted >= len(data.classes))),
        "train_accuracy_last_epoch": history["accuracy"][-1],
        "epochs_run": len(history["loss"]),
        "train_seconds": seconds,  # of this process; a resumed run's earlier epochs are not in it
        "resumed_at_epoch": done + 1 if done else None,
        "test_sequences": len(test),
        "train_sequences": len(train),
    }
    if val_stills is not None:
        metrics["stills_val"] = score_stills(model, val_stills, data.classes, recipe.mirror_odd_frames)
        log(
            f"{prefix}validation stills ({metrics['stills_val']['stills']}): "
            f"{len(data.classes)} classes {metrics['stills_val']['accuracy_sequence_classes']:.1%}, "
            f"{len(targets)} classes {metrics['stills_val']['accuracy']:.1%}"
        )
    atomic_write_text(directory / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_config(config, recipe, data, directory, train.ids[len(split.train) :], stills)
    np.savez(directory / "test_predictions.npz", ids=test.ids, labels=test.labels, probabilities=probabilities)
    if partial:
        shutil.rmtree(partial, ignore_errors=True)
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


def score_stills(model: keras.Model, val: Stills, sequence_classes: tuple[str, ...], mirror: bool = False) -> dict:
    """Accuracy on every validation still (static sequences, odd frames mirrored with `mirror`): over all the model's
    classes, and over the sequence classes alone (argmax among them, on the stills of those classes)."""
    windows = mirror_windows(val.as_sequences()) if mirror else val.as_sequences()
    probabilities = model.predict(windows, verbose=0, batch_size=128)
    predicted = probabilities.argmax(axis=1)
    return {
        "stills": len(val),
        "accuracy": float(np.mean(predicted == val.labels)),
        "accuracy_sequence_classes": still_scores(probabilities, val.labels, val.classes, sequence_classes),
        "recall": {c: float(np.mean(predicted[val.labels == i] == i)) for i, c in enumerate(val.classes)},
    }


def pretrain_record(config: TrainConfig, recipe: Recipe) -> dict | None:
    """Stage 1's pretrain.json (its settings, data counts, time), copied into the run's config."""
    path = encoder_dir(config, recipe) / "pretrain.json"
    return json.loads(path.read_text()) if recipe.pretrain_epochs and path.is_file() else None


def write_config(
    config: TrainConfig,
    recipe: Recipe,
    data: Sequences,
    directory: Path,
    auxiliary_ids: Iterable[str] = (),
    stills: StillsParts | None = None,
) -> None:
    record = {
        "config": asdict(config),
        "recipe": recipe.to_dict(),
        "augmentation": recipe.jitter.to_dict() if recipe.augment else None,
        "classes": list(data.classes + recipe.stills_classes),
        "sequence_classes": list(data.classes),
        "stills": None
        if stills is None
        else {
            "path": str(Path(config.stills).resolve()),
            "labels": config.stills_labels,
            "votes": stills.votes,
            "soft_targets": stills.train.targets is not None,
            "train": len(stills.train),
            "train_skipped": len(stills.train.skipped),
            "val": len(stills.val) if stills.val is not None else 0,
            "encoder": str(encoder_dir(config, recipe)) if recipe.pretrain_epochs else None,
            "pretrain": pretrain_record(config, recipe),
        },
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
    # the same, with the argmax among the sequence classes only: a model with extra outputs (neutral, auxiliary
    # classes) is then scored as one that knows only the classes the held-out sequences can have
    predicted_within = [r.probabilities[:, : len(data.classes)].argmax(axis=1) for r in results]
    within = [np.mean(p == r.labels) for p, r in zip(predicted_within, results, strict=True)]
    pooled_within = np.mean(np.concatenate(predicted_within) == labels)
    title = f"{recipe.name} recipe, width {config.width:g}, subject-independent {len(results)}-fold"
    targets = data.classes + recipe.stills_classes
    report = write_classification_report(labels, predicted, targets, directory)
    plot_confusion(
        labels,
        predicted,
        targets,
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
        "accuracy_sequence_classes_mean": float(np.mean(within)),
        "accuracy_sequence_classes_std": float(np.std(within)),
        "pooled_accuracy_sequence_classes": float(pooled_within),
        "per_fold": [
            {
                "fold": i + 1,
                "accuracy": r.accuracy,
                "accuracy_sequence_classes": float(within[i]),
                "macro_f1": r.macro_f1,
                "train_seconds": r.seconds,
            }
            for i, r in enumerate(results)
        ],
        "train_seconds": float(sum(r.seconds for r in results)),
    }
    atomic_write_text(directory / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_config(config, recipe, data, directory)
    log(
        f"{len(results)}-fold subject-independent accuracy {summary['accuracy_mean']:.1%} "
        f"± {summary['accuracy_std']:.1%} (min {summary['accuracy_min']:.1%}, max {summary['accuracy_max']:.1%}), "
        f"pooled {summary['pooled_accuracy']:.1%}"
    )
    if len(targets) > len(data.classes):
        log(
            f"argmax among the {len(data.classes)} sequence classes only: {np.mean(within):.1%} "
            f"± {np.std(within):.1%}, pooled {pooled_within:.1%}"
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


def load_stills_parts(config: TrainConfig, recipe: Recipe, log: Log) -> StillsParts:
    """The stills' training part, and their validation part where the source has one (it decides nothing).

    With FER+ labels, the training stills' targets are their votes (`config.stills_labels`) and the validation
    stills are labelled by FER+'s majority rule, as `fer-edge eval --labels ferplus` scores them."""
    path = Path(config.stills)
    if config.stills_labels != "folder":
        return load_ferplus_parts(config, log)
    train = load_stills(path, "train")
    val = load_stills(path, "val") if has_split(path, "val") else None
    log(
        f"loaded {len(train)} training stills from {config.stills} ({len(train.skipped)} unreadable or blank "
        f"skipped): "
        + ", ".join(f"{c} {n}" for c, n in train.counts().items())
        + (f"; {len(val)} validation stills" if val is not None else "; no validation part")
    )
    for line in train.skipped[:5]:
        log(f"  skipped {line}")
    return StillsParts(train, val)


def load_ferplus_parts(config: TrainConfig, log: Log) -> StillsParts:
    path = Path(config.stills)
    votes = find_votes(path, Path(config.ferplus) if config.ferplus else None)
    train = load_ferplus_stills(
        path, "train", config.stills_labels, votes, config.folder_weight, config.without_majority, config.folder_blend
    )
    val = load_ferplus_stills(path, "val", "ferplus-majority", votes) if has_split(path, "val") else None
    kind = "vote distributions" if config.stills_labels == "ferplus" else "majority labels"
    kind += describe_blend(config.folder_weight, config.folder_blend)
    log(
        f"loaded {len(train.stills)} training stills from {config.stills} with FER+ {kind} from {votes} "
        f"({len(train.stills.skipped)} unreadable or blank skipped, {train.without_votes} without votes, "
        f"{train.without_label} without a label): most voted "
        + ", ".join(f"{c} {n}" for c, n in train.stills.counts().items())
        + (
            f"; {len(val.stills)} validation stills by FER+ majority ({val.without_votes} without votes, "
            f"{val.without_label} without a majority)"
            if val is not None
            else "; no validation part"
        )
    )
    return StillsParts(train.stills, val.stills if val is not None else None, str(votes.resolve()))


def stage_one(config: TrainConfig, recipe: Recipe, stills: StillsParts, log: Log) -> Path:
    """The encoder weights of stage 1: reused from its folder when it was trained already, else trained now."""
    folder = encoder_dir(config, recipe)
    if (folder / ENCODER_FILE).is_file():
        record = json.loads((folder / "pretrain.json").read_text())
        if record["config"]["width"] != config.width:
            raise UsageError(
                f"the encoder in {folder} has width {record['config']['width']}, this run {config.width:g}; "
                "pass another --encoder or --width"
            )
        log(f"stage 1: reusing the encoder in {folder} ({record['config']['epochs']} epochs on stills)")
        return folder / ENCODER_FILE
    start = config.pretrain_from
    if start and is_bundle(Path(start)):
        recovered = folder.parent / f"recovered-{Path(start).name}-w{config.width:g}"
        log(f"stage 1: recovering the per-frame CNN of the bundle {start} from its int8 encoder into {recovered}")
        start = str(write_recovered(Path(start), config.width, stills.train.images, recovered))
        if config.cv:
            log(
                f"warning: {config.pretrain_from}'s model was trained on sequences of its own split; if they are "
                "from this dataset, these folds' held-out subjects are not unseen"
            )
    wanted = PretrainConfig(
        width=config.width,
        epochs=recipe.pretrain_epochs,
        learning_rate=recipe.pretrain_learning_rate,
        dropout_scale=recipe.pretrain_dropout,
        seed=config.seed,
        init_from=start,
        jitter=recipe.pretrain_jitter,
        erase=recipe.pretrain_erase,
        mixup=recipe.pretrain_mixup,
        labels=config.stills_labels,
    )
    log(f"stage 1: training the per-frame CNN on stills into {folder}")
    pretrain_encoder(stills.train, stills.val, wanted, folder, log)
    return folder / ENCODER_FILE


def train(config: TrainConfig, log: Log = print) -> dict:
    """Train per `config` into config.out (written atomically). Returns the run's metrics or CV summary."""
    recipe = check_train_inputs(config)
    data = load_sequences(Path(config.data), config.classes)
    log(f"loaded {len(data)} sequences of {len(data.classes)} classes from {config.data}")
    auxiliary = load_auxiliary(config, recipe, log)
    stills = load_stills_parts(config, recipe, log) if recipe.uses_stills else None
    encoder_weights = stage_one(config, recipe, stills, log) if stills is not None and recipe.pretrain_epochs else None
    splits = (
        subject_folds(data, config.cv, config.seed) if config.cv else [seed_split(data, config.test_size, config.seed)]
    )
    splits = [carve_validation(s, data, config.val_fraction) for s in splits]
    for split in splits:
        check_disjoint(split, data)

    store = folds_store(Path(config.out))
    with atomic_dir(Path(config.out), config.force) as tmp:
        if config.cv:
            results = []
            for s in splits:
                directory, key = tmp / f"fold_{s.fold}", fold_key(config, s)
                if reuse_fold(store, directory, key):
                    log(f"[fold {s.fold}/{s.folds}] finished by an earlier run of this command: reused from {store}")
                    results.append(read_fold(directory))
                    continue
                partial = store / f"{directory.name}.partial"
                results.append(
                    fit_one(data, s, recipe, config, directory, log, auxiliary, stills, encoder_weights, partial)
                )
                keep_fold(store, directory, key)
            outcome = summarize_folds(results, data, config, recipe, tmp, log)
        else:
            partial = store / "run.partial"
            fit_one(data, splits[0], recipe, config, tmp, log, auxiliary, stills, encoder_weights, partial)
            outcome = json.loads((tmp / "metrics.json").read_text())
    shutil.rmtree(store, ignore_errors=True)
    log(f"run written to {config.out}")
    return outcome


def fold_key(config: TrainConfig, split: Split) -> dict:
    """What a kept fold must share with this run to be reused: every setting but where the run goes, and the
    held-out sequences."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("out", "force")}
    return {"config": settings, "test": sorted(split.test)}


def read_fold(directory: Path) -> RunResult:
    """The RunResult of a fold folder that fit_one wrote."""
    metrics = json.loads((directory / "metrics.json").read_text())
    with np.load(directory / "test_predictions.npz") as held_out:
        labels, probabilities, ids = held_out["labels"], held_out["probabilities"], held_out["ids"]
    return RunResult(
        directory, metrics["accuracy"], metrics["macro_f1"], metrics["train_seconds"], labels, probabilities, ids
    )
