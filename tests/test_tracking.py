"""Faces followed across frames: stable ids through misses and smooth movement, crossing faces kept apart, no
reuse, ends after `lost_after` misses. Plain lists of boxes, no detector."""

import numpy as np
import pytest

from fer_edge.boxes import iou
from fer_edge.tracking import LOST_AFTER, Tracker


def test_iou_by_hand():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # no area, no overlap (and no division by zero)


def test_iou_broadcasts_one_box_against_many_and_many_against_many():
    boxes = np.array([(0, 0, 10, 10), (5, 0, 10, 10), (20, 20, 5, 5)])
    assert iou(boxes[0], boxes).tolist() == pytest.approx([1.0, 50 / 150, 0.0])
    matrix = iou(boxes[:, None], boxes[None])
    assert matrix.shape == (3, 3) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1.0)


def moving(start: tuple[int, int], step: tuple[int, int], size: int, frames: int) -> list[tuple[int, int, int, int]]:
    return [(start[0] + step[0] * n, start[1] + step[1] * n, size, size) for n in range(frames)]


def test_a_face_moving_smoothly_keeps_its_id():
    tracker = Tracker()
    ids = {tracker.update([box])[0][0].id for box in moving((50, 200), (10, 0), 60, 20)}  # 10 px a frame
    assert ids == {1}


@pytest.mark.parametrize("misses", [1, 3, 5])
def test_a_moving_face_the_detector_misses_for_up_to_lost_after_detections_keeps_its_id(misses):
    tracker = Tracker(lost_after=5)
    path = moving((50, 200), (15, 3), 50, 10 + misses + 5)
    [first], _ = tracker.update([path[0]])
    for box in path[1:10]:
        tracker.update([box])
    for _ in range(misses):  # the face moves on meanwhile
        assert tracker.update([]) == ([], [])
    assert iou(path[9], path[10 + misses]) < tracker.min_iou  # overlap with its last box alone would lose it
    for box in path[10 + misses :]:
        [again], ended = tracker.update([box])
        assert again.id == first.id and ended == []


def test_a_face_gone_for_more_than_lost_after_detections_ends_and_comes_back_with_a_new_id():
    tracker = Tracker(lost_after=2)
    [alice], _ = tracker.update([(100, 100, 80, 80)])
    assert tracker.update([])[1] == []
    assert tracker.update([])[1] == []
    assert tracker.update([])[1] == [alice.id]  # the third miss is more than lost_after
    [bob], _ = tracker.update([(100, 100, 80, 80)])  # same place, but a new person: a new window
    assert bob.id != alice.id


@pytest.mark.parametrize("missed_at_crossing", [False, True])
def test_two_faces_crossing_keep_their_ids_in_any_order(missed_at_crossing):
    tracker = Tracker()
    left = moving((100, 200), (10, 1), 80, 40)  # meet near x = 290 at frame 19, then part
    right = moving((480, 215), (-10, -1), 80, 40)
    rng = np.random.default_rng(0)
    first = None
    for n, (a, b) in enumerate(zip(left, right, strict=True)):
        hidden = missed_at_crossing and 17 <= n <= 20  # the face behind is not found while they overlap
        boxes = [a] if hidden else [a, b]
        order = rng.permutation(len(boxes))
        seen, ended = tracker.update([boxes[i] for i in order])
        ids = {boxes[i]: t.id for i, t in zip(order, seen, strict=True)}
        if first is None:
            first = (ids[a], ids[b])
        assert ids[a] == first[0] and (hidden or ids[b] == first[1]) and ended == []
    assert first[0] != first[1]


def test_a_box_elsewhere_is_another_face_even_while_the_first_is_missing():
    tracker = Tracker(lost_after=5)
    [alice], _ = tracker.update([(100, 100, 80, 80)])
    [bob], ended = tracker.update([(400, 300, 80, 80)])
    assert bob.id != alice.id and ended == []
    assert [t.id for t in tracker.live()] == [bob.id]  # alice is kept, missing once, not live
    [again], _ = tracker.update([(104, 100, 80, 80)])
    assert again.id == alice.id


def test_a_box_of_another_size_in_the_same_place_is_another_face():
    tracker = Tracker()
    [near], _ = tracker.update([(200, 200, 60, 60)])
    [far], _ = tracker.update([(215, 215, 30, 30)])  # same centre, half the size: someone behind
    assert far.id != near.id


def test_clear_ends_every_track():
    tracker = Tracker()
    seen, _ = tracker.update([(0, 0, 10, 10), (50, 50, 10, 10)])
    assert sorted(tracker.clear()) == sorted(t.id for t in seen) and tracker.tracks == {}


def test_the_default_keeps_a_face_for_a_second_at_15_frames_per_second():
    assert Tracker().lost_after == LOST_AFTER == 15
