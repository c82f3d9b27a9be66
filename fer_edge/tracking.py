"""Faces followed from frame to frame by box overlap, each with a stable id.

A face keeps its id while each new box overlaps its last one (intersection over union at least `min_iou`); a
box that overlaps no live face starts a new id, and ids are never reused, so a face that leaves and another
that enters never share one (nor, in the runtime, a 3-frame window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fer_edge.boxes import Box, iou


@dataclass
class Track:
    id: int
    box: Box
    missing: int = 0  # detections in a row that did not find this face


@dataclass
class Tracker:
    lost_after: int = 5  # detections without the face before its id ends
    min_iou: float = 0.3
    tracks: dict[int, Track] = field(default_factory=dict)
    next_id: int = 1

    def update(self, boxes: Sequence[Box]) -> tuple[list[Track], list[int]]:
        """One detection's boxes -> (their tracks, in the order of `boxes`; the ids that ended now).

        Boxes and live tracks are paired greedily, the largest overlap first.
        """
        pairs = sorted(
            (
                (iou(track.box, box), track_id, index)
                for track_id, track in self.tracks.items()
                for index, box in enumerate(boxes)
            ),
            reverse=True,
        )
        matched: dict[int, int] = {}  # box index -> track id
        for overlap, track_id, index in pairs:
            if overlap < self.min_iou:
                break
            if index not in matched and track_id not in matched.values():
                matched[index] = track_id
        ended = []
        for track_id in [t for t in self.tracks if t not in matched.values()]:
            track = self.tracks[track_id]
            track.missing += 1
            if track.missing > self.lost_after:
                ended.append(track_id)
                del self.tracks[track_id]
        seen = []
        for index, box in enumerate(boxes):
            if index in matched:
                track = self.tracks[matched[index]]
                track.box, track.missing = box, 0
            else:
                track = self.tracks[self.next_id] = Track(self.next_id, box)
                self.next_id += 1
            seen.append(track)
        return seen, ended

    def live(self) -> list[Track]:
        """The faces found by the last detection (to carry their boxes over frames that skip detection)."""
        return [t for t in self.tracks.values() if t.missing == 0]

    def clear(self) -> list[int]:
        """End every track (a new stream); returns their ids."""
        ended = list(self.tracks)
        self.tracks.clear()
        return ended
