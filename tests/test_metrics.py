"""Parity of a quantized model against the float one: flips, and which of them are near-ties (hand counts)."""

import numpy as np
import pytest

from fer_edge.metrics import parity, per_class


def test_a_flip_between_near_equal_float_classes_is_a_near_tie_and_a_clear_one_is_not():
    reference = np.array(
        [
            [0.50, 0.30, 0.20],  # quantized agrees
            [0.34, 0.33, 0.33],  # quantized picks class 1: the float margin 0.01 -> a near-tie
            [0.70, 0.20, 0.10],  # quantized picks class 2: margin 0.60 -> damage
            [0.40, 0.36, 0.24],  # quantized picks class 1: margin 0.04 -> a near-tie at 0.05, not at 0.03
        ]
    )
    quantized = np.array([[0.5, 0.3, 0.2], [0.32, 0.35, 0.33], [0.3, 0.2, 0.5], [0.37, 0.39, 0.24]])
    labels = np.array([0, 0, 0, 1])
    result = parity(quantized, reference, labels, tie_margin=0.05)
    assert result["agreement_with_keras"] == pytest.approx(1 / 4)
    assert result["near_tie_flips"] == 2 and result["agreement_beyond_ties"] == pytest.approx(3 / 4)
    assert result["accuracy"] == pytest.approx(2 / 4)  # rows 0 and 3
    stricter = parity(quantized, reference, labels, tie_margin=0.03)
    assert stricter["near_tie_flips"] == 1 and stricter["agreement_beyond_ties"] == pytest.approx(2 / 4)


def test_per_class_recall_and_macro_f1_by_hand():
    probabilities = np.eye(3)[[0, 0, 1, 2]]  # predicted 0, 0, 1, 2
    result = per_class(probabilities, np.array([0, 1, 1, 2]), ("a", "b", "c"))
    assert result["recall"] == {"a": 1.0, "b": 0.5, "c": 1.0}
    assert result["macro_f1"] == pytest.approx(np.mean([2 / 3, 2 / 3, 1.0]))
