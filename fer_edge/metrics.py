"""Held-out metrics of a model's probabilities against the labels and against the Keras model (numpy only)."""

from __future__ import annotations

import numpy as np


def parity(probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    """probabilities, reference: (N, classes); labels: (N,) class indices."""
    predicted = probabilities.argmax(axis=1)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "agreement_with_keras": float(np.mean(predicted == reference.argmax(axis=1))),
        "max_probability_difference": float(np.max(np.abs(probabilities - reference))),
        "sequences": int(len(labels)),
        "finite": bool(np.all(np.isfinite(probabilities))),
    }


def per_class(probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Recall of each class and the macro F1 (a class never predicted and never present scores 0)."""
    predicted = probabilities.argmax(axis=1)
    recall, f1 = {}, []
    for index, name in enumerate(classes):
        true_positive = np.sum((predicted == index) & (labels == index))
        actual, claimed = np.sum(labels == index), np.sum(predicted == index)
        recall[name] = float(true_positive / actual) if actual else 0.0
        f1.append(2 * true_positive / (actual + claimed) if actual + claimed else 0.0)
    return {"macro_f1": float(np.mean(f1)), "recall": recall}
