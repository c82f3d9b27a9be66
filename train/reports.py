"""Pictures and text a person reads after training: curves, confusion matrix, sample predictions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from fer_edge.atomic import atomic_write_bytes, atomic_write_text
from fer_edge.dataset import DatasetStats, Sequences


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _strip(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 1) -> (H, T*W + gaps) grayscale strip, frames side by side with a 2-pixel white gap."""
    height = frames.shape[1]
    gap = np.ones((height, 2), dtype=np.float32)
    parts = []
    for frame in frames:
        parts.extend([frame[:, :, 0], gap])
    return np.concatenate(parts[:-1], axis=1)


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key, label, style in (
        ("", "training", "-"),
        ("val_", "validation (from training data)", "--"),
        ("heldout_", "held-out test (decides nothing)", ":"),
    ):
        if f"{key}accuracy" in history:
            ax_acc.plot(epochs, history[f"{key}accuracy"], style, label=label)
            ax_loss.plot(epochs, history[f"{key}loss"], style, label=label)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="Accuracy")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...], path: Path, title: str):
    from sklearn.metrics import confusion_matrix

    plt = _pyplot()
    matrix = confusion_matrix(labels, predicted, labels=range(len(classes)))
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2.5, 1.0 * len(classes) + 1.8))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} ({n})" for c, n in zip(classes, rows[:, 0], strict=True)])
    ax.set(xlabel="predicted", ylabel="true (sequences)", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    _save(fig, path)


def _round_robin(labels: np.ndarray, mask: np.ndarray, count: int) -> list[int]:
    """Up to `count` rows where mask holds, taking one class after another so every class is seen."""
    queues = [list(np.flatnonzero(mask & (labels == label))) for label in np.unique(labels)]
    picked: list[int] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(int(queue.pop(0)))
    return picked


def plot_sample_predictions(
    data: Sequences, probabilities: np.ndarray, path: Path, title: str, count: int = 12
) -> None:
    """Held-out sequences, 3 frames each: every error first (up to half), then correct ones; fixed order."""
    plt = _pyplot()
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != data.labels)
    shown_wrong = list(wrong[: count // 2])
    chosen = shown_wrong + _round_robin(data.labels, predicted == data.labels, count - len(shown_wrong))
    columns = 3
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 1.75 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, chosen, strict=False):
        ok = predicted[row] == data.labels[row]
        ax.imshow(_strip(data.frames[row]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(
            f"true {data.classes[data.labels[row]]} | pred {data.classes[predicted[row]]} "
            f"{probabilities[row, predicted[row]]:.2f}",
            fontsize=8.5,
            color="tab:green" if ok else "tab:red",
        )
    fig.suptitle(f"{title}\n{len(wrong)} of {len(data)} held-out sequences wrong; errors shown first (red)")
    _save(fig, path)


def plot_dataset_grid(data: Sequences, stats: DatasetStats, path: Path, per_class: int = 4) -> None:
    """One row per class: a few sequences, 3 frames each, with the class counts."""
    plt = _pyplot()
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(
        len(data.classes), per_class, figsize=(3.3 * per_class, 1.45 * len(data.classes)), squeeze=False
    )
    for label, name in enumerate(data.classes):
        rows = np.flatnonzero(data.labels == label)
        picks = rng.choice(rows, size=min(per_class, len(rows)), replace=False)
        for col, ax in enumerate(axes[label]):
            ax.axis("off")
            if col < len(picks):
                ax.imshow(_strip(data.frames[picks[col]]), cmap="gray", vmin=0, vmax=1)
                ax.set_title(data.ids[picks[col]].split("/")[1], fontsize=7)
        axes[label, 0].text(
            -0.08,
            0.5,
            f"{name}\n{stats.sequences_per_class[name]} seq\n{stats.subjects_per_class[name]} subj",
            transform=axes[label, 0].transAxes,
            ha="right",
            va="center",
            fontsize=9,
        )
    fig.suptitle(
        f"{stats.sequences} sequences of 3 frames, {stats.subjects} subjects, {len(data.classes)} classes",
        fontsize=11,
    )
    _save(fig, path)


def plot_fold_summary(fold_accuracies: list[float], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 * len(fold_accuracies) + 3, 3.5))
    folds = np.arange(1, len(fold_accuracies) + 1)
    ax.bar(folds, fold_accuracies, color="tab:blue")
    mean = float(np.mean(fold_accuracies))
    ax.axhline(mean, color="black", linestyle="--", label=f"mean {mean:.1%} ± {np.std(fold_accuracies):.1%}")
    for x, y in zip(folds, fold_accuracies, strict=True):
        ax.text(x, y + 0.01, f"{y:.1%}", ha="center", fontsize=8)
    ax.set(xlabel="fold", ylabel="held-out accuracy", ylim=(0, 1.08), title=title, xticks=folds)
    ax.legend(loc="lower right")
    _save(fig, path)


def write_classification_report(
    labels: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...], directory: Path
) -> dict:
    from sklearn.metrics import classification_report

    kwargs = dict(labels=list(range(len(classes))), target_names=list(classes), zero_division=0, digits=3)
    atomic_write_text(directory / "classification_report.txt", classification_report(labels, predicted, **kwargs))
    report = classification_report(labels, predicted, output_dict=True, **kwargs)
    atomic_write_text(directory / "classification_report.json", json.dumps(report, indent=2) + "\n")
    return report
