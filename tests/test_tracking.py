"""Faces followed across frames by box overlap: stable ids, no reuse, ends after `lost_after` misses."""

import pytest

from fer_edge.boxes import iou
from fer_edge.tracking import Tracker


def test_iou_by_hand():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0  # touching edges share no area


def test_two_moving_faces_keep_their_ids_in_any_order():
    tracker = Tracker()
    left, right = (100, 100, 80, 80), (400, 100, 80, 80)
    seen, _ = tracker.update([left, right])
    first = [t.id for t in seen]
    for step in range(1, 6):  # both drift 6 px a frame; the detector lists them in either order
        left, right = (left[0] + 6, *left[1:]), (right[0] - 6, *right[1:])
        boxes = [right, left] if step % 2 else [left, right]
        seen, ended = tracker.update(boxes)
        ids = {box: t.id for box, t in zip(boxes, seen, strict=True)}
        assert [ids[left], ids[right]] == first and ended == []


def test_a_face_that_leaves_ends_and_a_newcomer_gets_a_new_id():
    tracker = Tracker(lost_after=2)
    [alice], _ = tracker.update([(100, 100, 80, 80)])
    assert tracker.update([])[1] == []
    assert tracker.update([])[1] == []
    assert tracker.update([])[1] == [alice.id]  # the third miss is more than lost_after
    [bob], _ = tracker.update([(100, 100, 80, 80)])  # same place, but a new person: a new window
    assert bob.id != alice.id


def test_a_box_elsewhere_is_another_face_even_while_the_first_is_missing():
    tracker = Tracker(lost_after=5)
    [alice], _ = tracker.update([(100, 100, 80, 80)])
    [bob], ended = tracker.update([(400, 300, 80, 80)])
    assert bob.id != alice.id and ended == []
    assert [t.id for t in tracker.live()] == [bob.id]  # alice is kept, missing once, not live
    [again], _ = tracker.update([(104, 100, 80, 80)])
    assert again.id == alice.id


def test_clear_ends_every_track():
    tracker = Tracker()
    seen, _ = tracker.update([(0, 0, 10, 10), (50, 50, 10, 10)])
    assert sorted(tracker.clear()) == sorted(t.id for t in seen) and tracker.tracks == {}
