import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the train extra (matplotlib) is not installed")

from fer_edge.train.reports import _round_robin


def test_round_robin_shows_every_class_before_repeating_one():
    labels = np.array([0, 0, 0, 0, 1, 2, 2])
    mask = np.array([True, True, True, True, True, True, False])
    picked = _round_robin(labels, mask, 4)
    assert sorted(labels[picked].tolist()) == [0, 0, 1, 2]
    assert _round_robin(labels, mask, 99) == [0, 4, 5, 1, 2, 3]
