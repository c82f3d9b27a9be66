"""A test video made from face sequences: each face scaled up and placed somewhere on a larger noisy frame,
with face-free frames between sequences, so that detection, window resets and predictions can be checked
against known answers. Used by `fer-edge bench` (end to end) and the runtime tests. Nothing is saved but
the video the caller asks for; with CK+48 that file stays outside the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.atomic import atomic_path


@dataclass(frozen=True)
class Segment:
    """Where one sequence lies in the clip: frames [first, first + length), face box (x, y, w, h)."""

    sequence: int
    first: int
    length: int
    box: tuple[int, int, int, int]


def write_face_clip(
    frames: np.ndarray,
    path: Path,
    size: tuple[int, int] = (640, 480),
    face_px: tuple[int, int] = (140, 240),
    gap: int = 8,
    fps: float = 30.0,
    seed: int = 0,
    tilt: float = 0.0,
) -> list[Segment]:
    """frames: (N, T, h, w, 1) float in [0, 1] (what `load_sequences` gives). Writes an MJPG .avi.

    tilt: each sequence's face is turned by an angle drawn from [-tilt, tilt] degrees (a head tilted in the
    picture plane; 0 keeps CK+48's upright faces).

    Each sequence is preceded by `gap` frames without a face (more than the runtime's default --lost-after),
    so the runtime must reset its window between sequences.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    segments, index = [], 0
    with atomic_path(Path(path)) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, size, isColor=False)
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write an MJPG video to {path}")

        def background() -> np.ndarray:
            return rng.normal(110, 25, (height, width)).clip(0, 255).astype(np.uint8)

        for number, sequence in enumerate(frames):
            for _ in range(gap):
                writer.write(background())
            side = int(rng.integers(face_px[0], face_px[1] + 1))
            x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-tilt, tilt), 1.0) if tilt else None
            for frame in sequence:
                image = background()
                face = np.round(frame[..., 0] * 255).astype(np.uint8)
                face = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
                if turn is not None:
                    face = cv2.warpAffine(face, turn, (side, side), borderMode=cv2.BORDER_REPLICATE)
                image[y : y + side, x : x + side] = face
                writer.write(image)
            segments.append(Segment(number, index + gap, len(sequence), (x, y, side, side)))
            index += gap + len(sequence)
        for _ in range(gap):
            writer.write(background())
        writer.release()
    return segments
