"""Faces followed from frame to frame, each with a stable id, in the SORT tradition without its Kalman filter.

Each track remembers its last box and how fast its centre moved (constant velocity, smoothed). A new box goes to the
track whose predicted box it overlaps (intersection over union at least `min_iou`) or whose predicted centre it is
near (within `max_shift` face sizes), nearest first; so a face keeps its id while it moves smoothly, and while the
detector misses it for up to `lost_after` detections in a row, even if it moved meanwhile. A box that goes to no
track starts a new id, and ids are never reused, so a face that leaves and another that enters never share one (nor,
in the runtime, a 3-frame window).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fer_edge.boxes import Box, iou

LOST_AFTER = 15  # detections: 1 s at 15 frames/s; a detector's misses on a face in view rarely last longer


@dataclass
class Track:
    id: int
    box: Box  # where the face was last found
    missing: int = 0  # detections in a row that did not find this face
    velocity: tuple[float, float] = (0.0, 0.0)  # its centre's movement per detection, in pixels
    found: int = 1  # detections that found this face

    def predicted(self) -> Box:
        """Where the face should be at the next detection: its last box moved on at its velocity."""
        steps = self.missing + 1
        x, y, w, h = self.box
        return (round(x + self.velocity[0] * steps), round(y + self.velocity[1] * steps), w, h)


def centres(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x, y, width, height -> (..., 2) centre x, y."""
    return boxes[..., :2] + boxes[..., 2:] / 2


@dataclass
class Tracker:
    lost_after: int = LOST_AFTER  # detections without the face before its id ends
    min_iou: float = 0.3  # a box overlapping a track's predicted box this much is that face ...
    max_shift: float = 0.75  # ... and so is one whose centre is within this many face sizes of the predicted centre
    max_scale: float = 1.5  # a box more than this many times larger or smaller than a track's is another face
    smoothing: float = 0.5  # weight of the newest movement in a track's velocity
    tracks: dict[int, Track] = field(default_factory=dict)
    next_id: int = 1

    def update(self, boxes: Sequence[Box]) -> tuple[list[Track], list[int]]:
        """One detection's boxes -> (their tracks, in the order of `boxes`; the ids that ended now).

        Boxes and live tracks are paired greedily, nearest to a track's predicted centre first."""
        matched: dict[int, int] = {}  # box index -> track id
        for _, track_id, index in self._candidates(boxes):
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
                self._move(track, box)
            else:
                track = self.tracks[self.next_id] = Track(self.next_id, box)
                self.next_id += 1
            seen.append(track)
        return seen, ended

    def _candidates(self, boxes: Sequence[Box]) -> list[tuple[float, int, int]]:
        """(distance in face sizes, track id, box index) of every pair that may be the same face, nearest first."""
        if not boxes or not self.tracks:
            return []
        tracks = list(self.tracks.values())
        predicted = np.array([t.predicted() for t in tracks], np.float64)  # (T, 4)
        found = np.array(boxes, np.float64)  # (B, 4)
        overlap = iou(predicted[:, None], found[None])  # (T, B)
        size = np.sqrt(predicted[:, 2] * predicted[:, 3])[:, None]  # (T, 1)
        distance = np.linalg.norm(centres(predicted)[:, None] - centres(found)[None], axis=2) / np.maximum(size, 1)
        ratio = np.sqrt(found[None, :, 2] * found[None, :, 3]) / np.maximum(size, 1)
        near = (overlap >= self.min_iou) | (distance <= self.max_shift)
        alike = (ratio <= self.max_scale) & (ratio >= 1 / self.max_scale)
        pairs = np.argwhere(near & alike)
        return sorted((float(distance[t, b]), tracks[t].id, int(b)) for t, b in pairs)

    def _move(self, track: Track, box: Box) -> None:
        moved = (centres(np.array(box, np.float64)) - centres(np.array(track.box, np.float64))) / (track.missing + 1)
        weight = self.smoothing if track.found > 1 else 1.0  # a second sighting is the first measure of speed
        velocity = weight * moved + (1 - weight) * np.array(track.velocity)
        track.velocity = (float(velocity[0]), float(velocity[1]))
        track.box, track.missing, track.found = box, 0, track.found + 1

    def live(self) -> list[Track]:
        """The faces found by the last detection (to carry their boxes over frames that skip detection)."""
        return [t for t in self.tracks.values() if t.missing == 0]

    def clear(self) -> list[int]:
        """End every track (a new stream); returns their ids."""
        ended = list(self.tracks)
        self.tracks.clear()
        return ended
