"""A face as the detectors give it (`Box`, `Detection`) and how much two boxes overlap (`iou`).

Its own module so that the detectors (fer_edge.detect, fer_edge.blazeface), the tracker and the overlay share
these without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in full-frame pixels


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float  # Haar: 1.0 (it gives no score)
    # BlazeFace, in frame pixels and MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear
    # tragion, left ear tragion (the person's right and left). Haar: None.
    keypoints: tuple[tuple[float, float], ...] | None = None


def iou(a, b) -> np.ndarray:
    """Intersection over union of (..., 4) x, y, width, height boxes (tuples or arrays, broadcast against each
    other): one number for two boxes, (N,) for a box and N boxes, (M, N) for a[:, None] and b[None]. Touching
    edges share no area; a box without area overlaps nothing."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    low = np.maximum(a[..., :2], b[..., :2])
    high = np.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    intersection = np.prod(np.clip(high - low, 0, None), axis=-1)
    union = np.prod(a[..., 2:], axis=-1) + np.prod(b[..., 2:], axis=-1) - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)[()]
