"""A demo clip with three faces that stay in view and move: scikit-image's public-domain astronaut (Eileen Collins,
NASA) pasted three times (as she is, mirrored, and smaller) onto a 640x480 background, drifting smoothly, one face
passing partly in front of another. 12 s at 15 frames/s, MJPG .avi, no dataset image anywhere.

    pip install scikit-image            # the picture; not a fer-edge dependency
    python benchmarks/demo_clip.py reports/demo_3faces.avi
    python benchmarks/ids.py reports/demo_3faces.avi

`faces(n)` gives each face's true box in frame n (benchmarks/ids.py counts ids per real face with it).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = (640, 480)  # width, height
FPS = 15.0
SECONDS = 12.0
FRAMES = int(SECONDS * FPS)
PATCH = (30, 230, 140, 310)  # top, bottom, left, right of the astronaut's head in the 512x512 picture
FACE = (178, 81, 94, 94)  # BlazeFace's box on the picture itself (x, y, w, h), to know where the face is in a patch

Box = tuple[int, int, int, int]  # x, y, width, height


@dataclass(frozen=True)
class Path2D:
    """A face's centre moving on two slow sines (pixels, seconds), its patch `scale` times the picture's size."""

    scale: float
    mirror: bool
    x: tuple[float, float, float, float]  # centre, amplitude, period, phase (radians)
    y: tuple[float, float, float, float]

    def centre(self, t: float, speed: float = 1.0) -> tuple[float, float]:
        (cx, ax, px, fx), (cy, ay, py, fy) = self.x, self.y
        t *= speed
        return cx + ax * np.sin(2 * np.pi * t / px + fx), cy + ay * np.sin(2 * np.pi * t / py + fy)


# left: as she is, drifting; middle: mirrored, crossing right and back in front of the third face's left side;
# right: smaller, bobbing. Face sizes about 100, 90 and 75 px: a person 1-2 m from a 640x480 webcam.
PATHS = (
    Path2D(1.05, False, (120, 40, 8.0, 0.0), (230, 30, 6.0, 0.0)),
    Path2D(0.95, True, (330, 80, 12.0, 0.0), (250, 25, 5.0, 1.0)),
    Path2D(0.80, False, (540, 30, 9.0, 2.0), (220, 45, 7.0, 0.5)),
)


def astronaut() -> np.ndarray:
    """The picture as BGR uint8 (512, 512, 3)."""
    try:
        from skimage import data
    except ImportError:
        raise SystemExit("the demo faces come from scikit-image: pip install scikit-image") from None
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def background(rng: np.random.Generator) -> np.ndarray:
    """A dim room: a vertical gradient, a few soft blobs, fine noise (BGR uint8)."""
    width, height = SIZE
    ramp = np.linspace(70, 140, height, dtype=np.float32)[:, None, None]
    image = np.broadcast_to(ramp * np.array([1.0, 0.95, 0.85], np.float32), (height, width, 3)).copy()
    blobs = cv2.GaussianBlur(rng.normal(0, 40, (height // 16, width // 16, 3)).astype(np.float32), (0, 0), 1.5)
    image += cv2.resize(blobs, SIZE, interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 4, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def sprite(picture: np.ndarray, path: Path2D) -> tuple[np.ndarray, np.ndarray, Box]:
    """The head patch scaled (and mirrored), a soft elliptical alpha mask, and the face box inside the patch."""
    top, bottom, left, right = PATCH
    patch = picture[top:bottom, left:right]
    x, y, w, h = FACE[0] - left, FACE[1] - top, FACE[2], FACE[3]
    if path.mirror:
        patch, x = patch[:, ::-1], patch.shape[1] - x - w
    size = (round(patch.shape[1] * path.scale), round(patch.shape[0] * path.scale))
    patch = cv2.resize(patch, size, interpolation=cv2.INTER_AREA if path.scale < 1 else cv2.INTER_CUBIC)
    mask = np.zeros(patch.shape[:2], np.float32)
    cv2.ellipse(mask, (size[0] // 2, size[1] // 2), (size[0] // 2 - 4, size[1] // 2 - 4), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 4)[:, :, None]
    s = path.scale
    return patch, mask, (round(x * s), round(y * s), round(w * s), round(h * s))


def faces(n: int, speed: float = 1.0) -> list[Box]:
    """The true face boxes (x, y, w, h) in frame n, in PATHS' order."""
    boxes = []
    for path in PATHS:
        height, width = PATCH[1] - PATCH[0], PATCH[3] - PATCH[2]
        cx, cy = path.centre(n / FPS, speed)
        left, top = round(cx - width * path.scale / 2), round(cy - height * path.scale / 2)
        x, y, w, h = FACE[0] - PATCH[2], FACE[1] - PATCH[0], FACE[2], FACE[3]
        if path.mirror:
            x = width - x - w
        s = path.scale
        boxes.append((left + round(x * s), top + round(y * s), round(w * s), round(h * s)))
    return boxes


def frames(speed: float = 1.0) -> list[np.ndarray]:
    """The clip's FRAMES BGR frames; `speed` times faster movement (the same paths)."""
    rng = np.random.default_rng(43)
    picture, room = astronaut(), background(rng).astype(np.float32)
    sprites = [sprite(picture, path) for path in PATHS]
    clip = []
    for n in range(FRAMES):
        frame = room.copy()
        for path, (patch, mask, _) in zip(PATHS, sprites, strict=True):
            cx, cy = path.centre(n / FPS, speed)
            left, top = round(cx - patch.shape[1] / 2), round(cy - patch.shape[0] / 2)
            # clipped to the frame (the paths keep every face inside it)
            x0, y0 = max(left, 0), max(top, 0)
            x1, y1 = min(left + patch.shape[1], SIZE[0]), min(top + patch.shape[0], SIZE[1])
            part = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
            region = frame[y0:y1, x0:x1]
            region[:] = mask[part] * patch[part] + (1 - mask[part]) * region
        frame += rng.normal(0, 3, frame.shape).astype(np.float32)  # sensor noise, new in every frame
        clip.append(np.clip(frame, 0, 255).astype(np.uint8))
    return clip


def write(path: Path, speed: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE, isColor=True)
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write an MJPG video to {path}")
    for frame in frames(speed):
        writer.write(frame)
    writer.release()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="The .avi to write.")
    parser.add_argument("--still", type=Path, help="Also write frame 0 as a PNG here (for a look).")
    parser.add_argument("--speed", type=float, default=1.0, help="Faces move this many times faster.")
    args = parser.parse_args(argv)
    write(args.out, args.speed)
    if args.still:
        cv2.imwrite(str(args.still), frames(args.speed)[0])
    print(f"wrote {args.out}: {FRAMES} frames, {SIZE[0]}x{SIZE[1]}, {FPS:g} frames/s, {len(PATHS)} faces")


if __name__ == "__main__":
    main()
