#!/usr/bin/env python3
"""Face detectors side by side: ms per 640x480 frame (p50/p90 after warm-up), faces found, false faces.

    python benchmarks/detectors.py [--frames 200] [--threads 1] [--data ../shared/data/CK+48] [--out FILE]

Each detector sees the same frames: noisy grey 640x480 frames with one CK+48 face pasted at 140-240 px
(a different face, size and place per frame), and as many face-free noisy frames. Without CK+48 only the
face-free frames are run (time and false faces). Haar is skipped where OpenCV has no CascadeClassifier.
Do not run it while something else loads the CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from fer_edge.atomic import atomic_write_text
from fer_edge.detect import DETECTORS, Box, open_detector
from fer_edge.errors import MissingExtraError

WARMUP = 10


def noise_frame(rng: np.random.Generator) -> np.ndarray:
    return np.clip(128 + rng.normal(0, 40, (480, 640)), 0, 255).astype(np.uint8)


def face_frames(data: Path, count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, Box]]:
    """count frames with one pasted face each, and where it is; none without CK+48."""
    files = sorted(data.glob("*/*.png"))
    frames = []
    for path in rng.choice(files, size=count, replace=True) if files else []:
        size = int(rng.integers(140, 241))
        x, y = int(rng.integers(0, 640 - size)), int(rng.integers(0, 480 - size))
        frame = noise_frame(rng)
        face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        frame[y : y + size, x : x + size] = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
        frames.append((frame, (x, y, size, size)))
    return frames


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - width * height
    return width * height / union if union else 0.0


def measure(name: str, threads: int, with_faces: list, without: list[np.ndarray]) -> dict:
    detector = open_detector(name, threads=threads)
    for frame in without[:WARMUP]:
        detector.detect(frame)
    times, found, false_faces = [], 0, 0
    for frame, truth in with_faces:
        start = time.perf_counter_ns()
        faces = detector.detect(frame)
        times.append((time.perf_counter_ns() - start) / 1e6)
        found += any(overlap(f.box, truth) > 0.5 for f in faces)
        false_faces += sum(overlap(f.box, truth) <= 0.5 for f in faces)
    for frame in without:
        start = time.perf_counter_ns()
        false_faces += len(detector.detect(frame))
        times.append((time.perf_counter_ns() - start) / 1e6)
    return {
        "detector": name,
        "ms_p50": float(np.percentile(times, 50)),
        "ms_p90": float(np.percentile(times, 90)),
        "faces_found": found,
        "face_frames": len(with_faces),
        "false_faces": false_faces,
        "frames": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames with a face, and as many without")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/CK+48"))
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with_faces = face_frames(args.data, args.frames, rng)
    without = [noise_frame(rng) for _ in range(args.frames)]
    if not with_faces:
        print(f"no CK+48 at {args.data}: face-free frames only")
    rows = []
    for name in DETECTORS:
        try:
            rows.append(measure(name, args.threads, with_faces, without))
        except MissingExtraError as error:
            print(f"{name}: skipped ({error})")
            continue
        row = rows[-1]
        print(
            f"{name:15} {row['ms_p50']:6.2f} / {row['ms_p90']:6.2f} ms p50/p90   faces {row['faces_found']}"
            f"/{row['face_frames']}   false faces {row['false_faces']}   ({row['frames']} frames, "
            f"{args.threads} thread{'s' * (args.threads > 1)})"
        )
    if args.out:
        atomic_write_text(args.out, json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
