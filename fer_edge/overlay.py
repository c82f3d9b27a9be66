"""What `--show`, `--out` and `serve` draw on a frame: each face's box and, beside it, its id, label and probability
bars."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from fer_edge.atomic import atomic_path
from fer_edge.dataset import IMAGE_SUFFIXES
from fer_edge.errors import UsageError
from fer_edge.sources import Frame, is_image_source, is_one_image

if TYPE_CHECKING:
    from fer_edge.run import FaceStep

GREEN, GREY, WHITE, BAR = (60, 200, 60), (150, 150, 150), (255, 255, 255), (40, 170, 250)
FONT = cv2.FONT_HERSHEY_SIMPLEX
GAP = 6  # pixels between a face's box and its panel
Rect = tuple[int, int, int, int]  # x, y, width, height
SIDES = ("right", "left", "below", "above")  # where a panel goes, first choice first
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}


def draw(image: np.ndarray, faces: Sequence[FaceStep], bars: bool = True) -> np.ndarray:
    """A BGR copy of `image` (grayscale or BGR uint8) with every face's box and, beside it, a panel: its id and
    label, and with `bars` one probability bar per class (without: the label alone, as `serve`'s video, whose page
    draws the bars). Panels sit right of their face, else left, below or above, inside the frame, and cover no other
    face's box where there is room (`place_panels`). A face without a prediction yet: its grey box and id."""
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    style = PanelStyle.for_width(canvas.shape[1])
    shown = [f for f in faces if f.box is not None or f.prediction is not None]
    panels = [style.lines(f, bars) for f in shown]
    boxes = [f.box if f.box is not None else (0, 0, 0, 0) for f in shown]
    order = SIDES if bars else ("above", "below", "right", "left")  # a label alone reads best on top of its box
    rects = place_panels(boxes, [style.size(lines) for lines in panels], canvas.shape[:2], order)
    for face in shown:
        if face.box is not None:
            x, y, w, h = face.box
            cv2.rectangle(canvas, (x, y), (x + w, y + h), GREEN if face.prediction else GREY, 2)
    for face, lines, rect in zip(shown, panels, rects, strict=True):
        style.render(canvas, rect, lines, GREEN if face.prediction else GREY)
    return canvas


class PanelStyle:
    """Text and bar sizes for a frame of a given width, and what a face's panel holds."""

    def __init__(self, scale: float):
        self.scale = scale
        (_, text_height), baseline = cv2.getTextSize("Ag", FONT, scale, 1)
        self.row = text_height + baseline + 3
        self.pad = 4
        self.bar_width = round(70 * scale / 0.45)

    @classmethod
    def for_width(cls, width: int) -> PanelStyle:
        return cls(max(0.35, min(0.8, width / 1400)))

    def lines(self, face: FaceStep, bars: bool) -> list[tuple[str, float | None]]:
        """(text, bar value or None) per row: the title, then one bar per class when `bars`."""
        p = face.prediction
        if p is None or p.label == "none":
            return [(str(face.face), None)]
        rows: list[tuple[str, float | None]] = [(f"{face.face}: {p.label} {p.confidence:.2f}", None)]
        if bars:
            rows += [(f"{name} {value:.2f}", float(value)) for name, value in p.probabilities.items()]
        return rows

    def size(self, lines: list[tuple[str, float | None]]) -> tuple[int, int]:
        widths = [
            cv2.getTextSize(text, FONT, self.scale, 1)[0][0] + (self.bar_width + 4 if value is not None else 0)
            for text, value in lines
        ]
        return max(widths) + 2 * self.pad, len(lines) * self.row + 2 * self.pad

    def render(self, canvas: np.ndarray, rect: Rect, lines: list[tuple[str, float | None]], color: tuple) -> None:
        x, y, w, h = rect
        region = canvas[max(y, 0) : y + h, max(x, 0) : x + w]
        region[:] = region // 3  # darkened, so that the text reads on any background
        top = y + self.pad
        for index, (text, value) in enumerate(lines):
            left = x + self.pad
            if value is not None:
                bar_top, bar_bottom = top + 2, top + self.row - 3
                if np.isfinite(value):
                    end = left + round(self.bar_width * min(max(value, 0.0), 1.0))
                    cv2.rectangle(canvas, (left, bar_top), (end, bar_bottom), BAR, -1)
                cv2.rectangle(canvas, (left, bar_top), (left + self.bar_width, bar_bottom), GREY, 1)
                left += self.bar_width + 4
            ink = color if index == 0 else WHITE
            cv2.putText(canvas, text, (left, top + self.row - 4), FONT, self.scale, ink, 1, cv2.LINE_AA)
            top += self.row


def place_panels(
    boxes: Sequence[Rect], sizes: Sequence[tuple[int, int]], shape: tuple[int, int], order: Sequence[str] = SIDES
) -> list[Rect]:
    """Where each face's panel goes: boxes (x, y, w, h) and panel sizes (width, height), one per face, in a frame of
    this (height, width) -> one rectangle (x, y, w, h) per panel, inside the frame where it fits.

    Each panel is tried at each side of its own box in `order` (level with the box's top or left edge, GAP away),
    moved inside the frame; it takes the first place that covers no face's box and no panel placed before it, else
    the place that covers the least of other faces' boxes (then of panels, then of its own box)."""
    height, width = shape
    placed: list[Rect] = []
    for index, ((x, y, w, h), (pw, ph)) in enumerate(zip(boxes, sizes, strict=True)):
        places = {
            "right": (x + w + GAP, y),
            "left": (x - GAP - pw, y),
            "below": (x, y + h + GAP),
            "above": (x, y - GAP - ph),
        }
        others = [b for n, b in enumerate(boxes) if n != index]
        best, best_cost = None, None
        for side in order:
            px, py = places[side]
            rect = (min(max(px, 0), max(width - pw, 0)), min(max(py, 0), max(height - ph, 0)), pw, ph)
            cost = (
                sum(overlap(rect, b) for b in others),
                sum(overlap(rect, p) for p in placed),
                overlap(rect, (x, y, w, h)),
            )
            if best_cost is None or cost < best_cost:
                best, best_cost = rect, cost
            if cost == (0, 0, 0):
                break
        placed.append(best)
    return placed


def overlap(a: Rect, b: Rect) -> int:
    """The area two (x, y, w, h) rectangles share, in pixels."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0)


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
    """The --out writer for a video name. It opens at the second frame, so that the frame rate comes from the
    timestamps, and keeps the first frame's size (later frames of another size are resized)."""

    what = "annotated video"

    def __init__(self, path: Path):
        self.path = path
        self.first: tuple[np.ndarray, float] | None = None
        self.writer: cv2.VideoWriter | None = None

    def write(self, canvas: np.ndarray, frame: Frame) -> None:
        if self.first is None:
            self.first = (canvas, frame.timestamp)
            return
        if self.writer is None:
            interval = frame.timestamp - self.first[1]
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


class OverlayImages:
    """The --out writer for photos: one photo's overlay as an image (`--out annotated.jpg`), or each photo's
    overlay under its own name in a folder (`--out annotated/`), every file written whole or not at all."""

    def __init__(self, path: Path, folder: bool):
        self.path, self.folder = path, folder
        self.what = "annotated images" if folder else "annotated image"
        self.names: set[str] = set()

    def write(self, canvas: np.ndarray, frame: Frame) -> None:
        if not self.folder:
            save_image(self.path, canvas)
            self.names.add(self.path.name)
            return
        name = frame.name
        if name in self.names:  # the same file name from two folders of a glob
            name = f"{Path(name).stem}-{frame.index}{Path(name).suffix}"
        self.names.add(name)
        with atomic_path(self.path / name) as tmp:
            save_image(tmp, canvas)

    def close(self) -> bool:
        return bool(self.names)


def save_image(path: Path, canvas: np.ndarray) -> None:
    if not cv2.imwrite(str(path), canvas):
        raise UsageError(f"OpenCV cannot write an image to {path}; try a .jpg or .png name")


def check_overlay_output(out: Path, source: str) -> str:
    """What --out writes for this source: "video", "image" (one photo) or "folder" (many photos); a name that
    fits none is refused before a model loads."""
    suffix = out.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        if not is_one_image(source):
            raise UsageError(
                f"--out {out} is one image, for one photo; for a folder or glob of photos give a folder "
                "(--out annotated/), for a video or camera a video name (--out annotated.mp4)"
            )
        return "image"
    if suffix == "" or out.is_dir():
        if not is_image_source(source):
            raise UsageError(f"--out {out} is a folder, for photos; for a video or camera give --out annotated.mp4")
        return "folder"
    raise UsageError(
        f"--out {out}: give a video name ({', '.join(sorted(VIDEO_SUFFIXES))}), an image name for one photo "
        "(.jpg, .png) or a folder for many photos"
    )


@contextlib.contextmanager
def overlay_output(out: Path, kind: str) -> Iterator[OverlayVideo | OverlayImages]:
    """The --out writer of a kind that check_overlay_output chose."""
    if kind == "folder":
        out.mkdir(parents=True, exist_ok=True)
        yield OverlayImages(out, folder=True)
        return
    with atomic_path(out) as tmp:
        yield OverlayVideo(tmp) if kind == "video" else OverlayImages(tmp, folder=False)
