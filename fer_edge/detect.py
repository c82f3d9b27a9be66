"""Face detection: MediaPipe's BlazeFace (fer_edge.blazeface, the default) or OpenCV's Haar frontal-face cascade.

Both return every face as a `Detection`, largest first. Haar ships with opencv-python(-headless) < 5 only;
OpenCV 5 dropped CascadeClassifier, and then `open_detector("haar")` says so in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from fer_edge.boxes import Box, Detection
from fer_edge.errors import MissingExtraError, UsageError
from fer_edge.preprocess import to_gray

DETECTORS = ("blazeface", "blazeface-full", "haar")  # blazeface: short range (about 2 m); -full: about 5 m


class Detector(Protocol):
    """Give a detector the frame in colour when there is colour: BlazeFace finds small faces far more often in
    colour than in gray (docs/detectors.md, "Faces lost in gray"); Haar converts to gray itself."""

    def detect(self, image: np.ndarray, /) -> list[Detection]: ...

    def largest_face(self, image: np.ndarray, /) -> Box | None: ...


def open_detector(
    name: str = "blazeface",
    *,
    threads: int | None = None,
    min_score: float | None = None,
    tflite_backend: str | None = None,
    detect_width: int = 320,
    tiles: bool = False,
) -> Detector:
    """One of DETECTORS, ready to run. threads, min_score, tflite_backend, tiles (a wide frame looked at as two
    squares: smaller faces found, at twice the time): BlazeFace only; detect_width: Haar only."""
    if name == "haar":
        return FaceDetector(detect_width)
    if name in ("blazeface", "blazeface-full"):
        from fer_edge.blazeface import BlazeFace

        return BlazeFace(name, threads=threads, min_score=min_score, tflite_backend=tflite_backend, tiles=tiles)
    raise UsageError(f"--detector takes {', '.join(DETECTORS)}, got {name!r}")


class FaceDetector:
    """OpenCV's Haar cascade, run on a frame downscaled to `detect_width` pixels across (cheaper)."""

    def __init__(self, detect_width: int = 320, min_face: int = 40):
        cascade_dir = Path(getattr(getattr(cv2, "data", None), "haarcascades", ""))
        cascade_file = cascade_dir / "haarcascade_frontalface_default.xml"
        if not hasattr(cv2, "CascadeClassifier") or not cascade_file.is_file():
            raise MissingExtraError(
                f"the Haar face detector is unavailable in OpenCV {cv2.__version__} (no CascadeClassifier or "
                "cascade file); use --detector blazeface"
            )
        self.cascade = cv2.CascadeClassifier(str(cascade_file))
        self.detect_width, self.min_face = detect_width, min_face

    def detect(self, image: np.ndarray) -> list[Detection]:
        """image: (H, W) or (H, W, 1) uint8 grayscale, or (H, W, 3) uint8 BGR -> every face, largest first."""
        gray = to_gray(image)
        scale = min(1.0, self.detect_width / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        minimum = max(12, int(self.min_face * scale))
        faces = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(minimum, minimum))
        boxes = [(int(x / scale), int(y / scale), int(w / scale), int(h / scale)) for x, y, w, h in faces]
        return [Detection(box, 1.0) for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)]

    def largest_face(self, image: np.ndarray) -> Box | None:
        found = self.detect(image)
        return found[0].box if found else None


@dataclass(frozen=True)
class CropRule:
    """How a detector's box becomes the model's frame: grown by `margin` of its size per side, moved up by `lift`
    of its height (a detector's box may sit lower on the face than the training crops did), and turned so that
    the eyes are level when `level` (BlazeFace's keypoints; Haar has none)."""

    margin: float = 0.0
    level: bool = False
    lift: float = 0.0

    def to_dict(self) -> dict:
        return {"margin": self.margin, "level": self.level, "lift": self.lift}


# Chosen per detector on the shipped model's TRAINING data (CK+48 training sequences and FER2013 training stills,
# upright and tilted) by benchmarks/crop_margin.py; the measurements are in docs/detectors.md and
# docs/lab/detectors-history.md. `fer-edge run`, `eval` and the bench all take them from here unless --margin /
# --level / --lift say otherwise.
CROP_RULES = {
    "blazeface": CropRule(margin=0.1, level=True, lift=0.05),
    "blazeface-full": CropRule(margin=0.1, level=False),
    "haar": CropRule(margin=0.0, level=False),
}


# A face this large a share of the picture makes the picture a face crop already, to be used whole (fer-edge eval's
# --faces auto and `fer-edge run` on images): whole crops beat detected ones above about this share, detected ones
# below it (benchmarks/crop_or_detect.py; the numbers are in docs/detectors.md and docs/lab/detectors-history.md).
FILLED_SHARE = 0.4


def fills_picture(detection: Detection, shape: tuple[int, ...]) -> bool:
    """Whether the face covers FILLED_SHARE of a picture of this (height, width) or more."""
    return detection.box[2] * detection.box[3] >= FILLED_SHARE * shape[0] * shape[1]


def crop_rule(
    detector: str, margin: float | None = None, level: bool | None = None, lift: float | None = None
) -> CropRule:
    """The detector's rule, with an explicit --margin / --level / --lift in place of its own."""
    if margin is not None and not -0.4 < margin < 1:
        raise UsageError(f"--margin must be in (-0.4, 1), got {margin}")
    if lift is not None and not -0.5 < lift < 0.5:
        raise UsageError(f"--lift must be in (-0.5, 0.5), got {lift}")
    rule = CROP_RULES[detector]
    return CropRule(
        rule.margin if margin is None else margin,
        rule.level if level is None else level,
        rule.lift if lift is None else lift,
    )


def eye_angle(keypoints: tuple[tuple[float, float], ...]) -> float:
    """Degrees the face is turned in the picture (clockwise positive, image y down), from its two eyes."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]  # the person's right eye is on the image's left
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def crop(image: np.ndarray, box: Box, margin: float = 0.0, angle: float = 0.0, lift: float = 0.0) -> np.ndarray:
    """The box moved up by `lift` of its height and grown by `margin` of its size on each side; unturned, clipped
    to the frame; turned back by `angle` degrees about the box centre, with the edge pixels repeated where the
    turned box leaves the frame."""
    x, y, w, h = box
    y -= round(h * lift)
    dx, dy = int(w * margin), int(h * margin)
    if not angle:
        top, left = max(0, y - dy), max(0, x - dx)
        return image[top : min(image.shape[0], y + h + dy), left : min(image.shape[1], x + w + dx)]
    size = (w + 2 * dx, h + 2 * dy)
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), angle, 1.0)
    matrix[:, 2] -= (x - dx, y - dy)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_crop(image: np.ndarray, detection: Detection, rule: CropRule) -> np.ndarray:
    """The one path from a detection to the image that `preprocess_frame` makes a model frame of."""
    angle = eye_angle(detection.keypoints) if rule.level and detection.keypoints else 0.0
    return crop(image, detection.box, rule.margin, angle, rule.lift)
