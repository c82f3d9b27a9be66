#!/usr/bin/env python3
"""Face detectors side by side: ms per 640x480 frame (p50/p90 after warm-up), faces found, false faces.

    python benchmarks/detectors.py [--frames 200] [--threads 1] [--data ../shared/data/CK+48] [--out FILE]

Each detector sees the same frames (fer_edge/bench/detectors.py): noisy grey 640x480 frames with one CK+48
face pasted at 140-240 px (a different face, size and place per frame), and as many face-free noisy frames.
Without CK+48 only the face-free frames are run (time and false faces). `fer-edge bench` makes the same rows
from a bundle's held-out faces. Do not run it while something else loads the CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from fer_edge.atomic import atomic_write_text
from fer_edge.bench.detectors import compare_detectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="frames with a face, and as many without")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/CK+48"))
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    files = sorted(args.data.glob("*/*.png"))
    faces = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in rng.choice(files, args.frames)] if files else []
    if not faces:
        print(f"no CK+48 at {args.data}: face-free frames only")
    rows = compare_detectors(faces, args.threads, empty=args.frames, seed=1)
    if args.out:
        atomic_write_text(args.out, json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
