"""Face detectors side by side on the same 640x480 frames: ms per frame (p50/p90 after warm-up), faces found,
false faces. The frames: grey noise with one face pasted at 140-240 px (a different size and place per frame,
the box known), and as many face-free noise frames. Used by `fer-edge bench` (the held-out faces of the first
bundle) and `benchmarks/detectors.py` (any CK+48 faces).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from fer_edge.boxes import Box, iou
from fer_edge.detect import DETECTORS, open_detector
from fer_edge.errors import MissingExtraError

Log = Callable[[str], None]
FRAME = (640, 480)
FACE_PX = (140, 240)
MIN_IOU = 0.5  # a detection overlapping the pasted face this much found it; any other detection is false
WARMUP = 10


def noise_frame(rng: np.random.Generator) -> np.ndarray:
    return np.clip(128 + rng.normal(0, 40, FRAME[::-1]), 0, 255).astype(np.uint8)


def pasted_frames(faces: Sequence[np.ndarray], rng: np.random.Generator) -> list[tuple[np.ndarray, Box]]:
    """One frame per face (uint8 grayscale), the face scaled and pasted on noise; with its box (x, y, w, h)."""
    frames = []
    for face in faces:
        side = int(rng.integers(FACE_PX[0], FACE_PX[1] + 1))
        x, y = int(rng.integers(0, FRAME[0] - side)), int(rng.integers(0, FRAME[1] - side))
        frame = noise_frame(rng)
        frame[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        frames.append((frame, (x, y, side, side)))
    return frames


def measure_detector(
    name: str, threads: int, with_faces: list[tuple[np.ndarray, Box]], without: list[np.ndarray]
) -> dict:
    """One detector over every frame: timings of each detect() call, faces found, false faces."""
    detector = open_detector(name, threads=threads)
    for frame in without[:WARMUP]:
        detector.detect(frame)
    times, found, false_faces = [], 0, 0
    for frame, truth in with_faces:
        start = time.perf_counter_ns()
        faces = detector.detect(frame)
        times.append((time.perf_counter_ns() - start) / 1e6)
        found += any(iou(f.box, truth) >= MIN_IOU for f in faces)
        false_faces += sum(bool(iou(f.box, truth) < MIN_IOU) for f in faces)  # bools: numpy's would make int64
    for frame in without:
        start = time.perf_counter_ns()
        false_faces += len(detector.detect(frame))
        times.append((time.perf_counter_ns() - start) / 1e6)
    return {
        "detector": name,
        "status": "ok",
        "threads": threads,
        "ms_p50": float(np.percentile(times, 50)),
        "ms_p90": float(np.percentile(times, 90)),
        "faces_found": found,
        "face_frames": len(with_faces),
        "false_faces": false_faces,
        "frames": len(times),
    }


def compare_detectors(
    faces: Sequence[np.ndarray], threads: int = 1, empty: int | None = None, seed: int = 0, log: Log = print
) -> list[dict]:
    """Every detector in DETECTORS on the same frames: one frame per face and `empty` (default: as many) without;
    a detector this machine lacks (Haar on OpenCV 5) gets a row that says so."""
    rng = np.random.default_rng(seed)
    with_faces = pasted_frames(faces, rng)
    without = [noise_frame(rng) for _ in range(max(len(with_faces) if empty is None else empty, WARMUP))]
    rows = []
    for name in DETECTORS:
        try:
            row = measure_detector(name, threads, with_faces, without)
        except MissingExtraError as error:
            rows.append({"detector": name, "status": f"unavailable: {error}", "threads": threads})
            log(f"detector {name}: unavailable ({error})")
            continue
        rows.append(row)
        log(
            f"detector {name:15} {row['ms_p50']:6.2f} / {row['ms_p90']:6.2f} ms p50/p90   faces "
            f"{row['faces_found']}/{row['face_frames']}   false faces {row['false_faces']}   ({row['frames']} "
            f"frames, {threads} thread{'s' * (threads > 1)})"
        )
    return rows
