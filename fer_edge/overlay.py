"""What `--show` and `--out` draw on a frame: each face's box, id and label, and its probability bars."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_edge.errors import UsageError

if TYPE_CHECKING:
    from fer_edge.run import FaceStep

GREEN, GREY, WHITE = (60, 200, 60), (150, 150, 150), (255, 255, 255)


def draw(image: np.ndarray, faces: Sequence[FaceStep]) -> np.ndarray:
    """A BGR copy of `image` (grayscale or BGR uint8) with every face's box, id and label, and one panel of
    probability bars per predicted face down the left side; a face without a prediction yet: just its box."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    scale = max(0.4, canvas.shape[1] / 1000)
    for face in faces:
        p = face.prediction
        if face.box is not None:
            x, y, w, h = face.box
            cv2.rectangle(canvas, (x, y), (x + w, y + h), GREEN if p else GREY, 2)
            text = f"{face.face}: {p.label}" if p else str(face.face)
            cv2.putText(canvas, text, (x, max(15, y - 8)), cv2.FONT_HERSHEY_SIMPLEX, scale, GREEN, 2, cv2.LINE_AA)
    panels = [f.prediction for f in faces if f.prediction is not None]
    if not panels:
        return canvas
    rows = len(panels[0].probabilities) + 1  # a title row, then one bar per class
    bar_height = max(6, min(int(18 * scale / 0.64), (canvas.shape[0] - 8) // (len(panels) * rows) - 4))
    text_scale = min(scale * 0.7, bar_height / 26)
    width, top = int(canvas.shape[1] * 0.25), 8
    for prediction in panels:
        cv2.putText(
            canvas,
            f"face {prediction.id}",
            (8, top + bar_height - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            text_scale,
            WHITE,
            1,
            cv2.LINE_AA,
        )
        top += bar_height + 4
        for name, value in prediction.probabilities.items():
            cv2.rectangle(canvas, (8, top), (8 + int(width * value), top + bar_height), GREEN, -1)
            cv2.rectangle(canvas, (8, top), (8 + width, top + bar_height), GREY, 1)
            cv2.putText(
                canvas,
                f"{name} {value:.2f}",
                (12 + width, top + bar_height - 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                text_scale,
                WHITE,
                1,
                cv2.LINE_AA,
            )
            top += bar_height + 4
    return canvas


def check_display() -> None:
    """--show needs an OpenCV built with a GUI and a display; fail before the run starts, not at frame one."""
    try:
        cv2.namedWindow("fer-edge", cv2.WINDOW_AUTOSIZE)
    except cv2.error:
        raise UsageError(
            "--show needs a display and OpenCV with GUI support (opencv-python, not opencv-python-headless); "
            "use --out annotated.mp4 to write the overlay to a video instead"
        ) from None


def show(canvas: np.ndarray) -> bool:
    """Display one frame; False when the user pressed q or Esc."""
    cv2.imshow("fer-edge", canvas)
    return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)


def open_writer(path: Path, size: tuple[int, int], fps: float) -> cv2.VideoWriter:
    """mp4v for .mp4/.m4v/.mov, MJPG otherwise (both ship with OpenCV's wheels)."""
    codec = "mp4v" if path.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size, isColor=True)
    if not writer.isOpened():
        raise UsageError(f"OpenCV cannot write a {codec} video to {path}; try an .avi or .mp4 name")
    return writer


class OverlayVideo:
    """The --out writer. It opens at the second frame, so that the frame rate comes from the timestamps,
    and keeps the first frame's size (later frames of another size are resized)."""

    def __init__(self, path: Path):
        self.path = path
        self.first: tuple[np.ndarray, float] | None = None
        self.writer: cv2.VideoWriter | None = None

    def write(self, canvas: np.ndarray, timestamp: float) -> None:
        if self.first is None:
            self.first = (canvas, timestamp)
            return
        if self.writer is None:
            interval = timestamp - self.first[1]
            self._open(1 / interval if 0.005 < interval < 2 else 30.0)
        height, width = self.first[0].shape[:2]
        self.writer.write(canvas if canvas.shape[:2] == (height, width) else cv2.resize(canvas, (width, height)))

    def _open(self, fps: float) -> None:
        first = self.first[0]
        self.writer = open_writer(self.path, (first.shape[1], first.shape[0]), fps)
        self.writer.write(first)

    def close(self) -> bool:
        """Finish the file; False if no frame came (nothing is written then)."""
        if self.first is None:
            return False
        if self.writer is None:
            self._open(30.0)
        self.writer.release()
        return True
