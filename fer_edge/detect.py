"""Face detection with OpenCV's Haar frontal-face cascade: shipped with opencv-python(-headless) < 5, no download."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fer_edge.errors import MissingExtraError

Box = tuple[int, int, int, int]  # x, y, width, height in full-frame pixels


class FaceDetector:
    """The largest frontal face, found on a frame downscaled to `detect_width` pixels across (cheaper)."""

    def __init__(self, detect_width: int = 320, min_face: int = 40):
        cascade_dir = Path(getattr(getattr(cv2, "data", None), "haarcascades", ""))
        cascade_file = cascade_dir / "haarcascade_frontalface_default.xml"
        if not hasattr(cv2, "CascadeClassifier") or not cascade_file.is_file():
            raise MissingExtraError(
                f"OpenCV {cv2.__version__} has no Haar face cascade; install opencv-python-headless<5, "
                "or pass --no-detect for frames that are already cropped faces"
            )
        self.cascade = cv2.CascadeClassifier(str(cascade_file))
        self.detect_width, self.min_face = detect_width, min_face

    def largest_face(self, gray: np.ndarray) -> Box | None:
        """gray: (H, W) uint8."""
        scale = min(1.0, self.detect_width / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        minimum = max(12, int(self.min_face * scale))
        faces = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(minimum, minimum))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return int(x / scale), int(y / scale), int(w / scale), int(h / scale)


def crop(image: np.ndarray, box: Box, margin: float = 0.0) -> np.ndarray:
    """The box grown by `margin` of its size on each side, clipped to the frame."""
    x, y, w, h = box
    dx, dy = int(w * margin), int(h * margin)
    top, left = max(0, y - dy), max(0, x - dx)
    return image[top : min(image.shape[0], y + h + dy), left : min(image.shape[1], x + w + dx)]
