"""Held-out metrics of a model's probabilities against the labels and against the Keras model (numpy only)."""

from __future__ import annotations

import numpy as np


def parity(probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray, tie_margin: float = 0.05) -> dict:
    """probabilities, reference: (N, classes); labels: (N,) class indices.

    A flip (argmax differs from the reference's) is a near-tie when the reference itself put the two classes
    within `tie_margin` of each other: a barely trained model's near-uniform outputs flip under any rounding,
    which is not quantization damage. `agreement_beyond_ties` counts those as agreeing.
    """
    predicted = probabilities.argmax(axis=1)
    expected = reference.argmax(axis=1)
    rows = np.arange(len(reference))
    flips = predicted != expected
    near_ties = flips & (reference[rows, expected] - reference[rows, predicted] < tie_margin)
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "agreement_with_keras": float(np.mean(~flips)),
        "near_tie_flips": int(np.sum(near_ties)),
        "agreement_beyond_ties": float(np.mean(~flips | near_ties)),
        "tie_margin": tie_margin,
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
