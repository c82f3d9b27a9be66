#!/usr/bin/env python3
"""What mirroring every other frame (`fer-edge export --mirror-odd-frames`) costs per new frame: the bundle's
streaming encoder on an even frame of a stream (as it is) and on an odd one (mirrored first), interleaved so that
the VM's drift falls on both alike; medians and 90th percentiles.

    python benchmarks/mirror_cost.py [fer_edge/models/default] [--runs 5000] [--threads 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fer_edge.bench.suite import machine_info
from fer_edge.bench.timing import time_calls
from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.model import EmotionModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, nargs="?", default=DEFAULT_BUNDLE)
    parser.add_argument("--runs", type=int, default=5000, help="timed calls per frame kind, in rounds of 100")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    model = EmotionModel(args.bundle, threads=args.threads)
    if not model.mirror_odd_frames:
        raise SystemExit(f"{args.bundle}: its manifest does not mirror odd frames (see --mirror-odd-frames)")
    frame = np.random.default_rng(0).random((48, 48, 1)).astype(np.float32)
    samples: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(max(1, args.runs // 100)):
        for index in (0, 1):
            timed = time_calls(lambda i=index: model.encode(frame, i), runs=100, warmup=10)
            samples[index].append(timed["p50_ms"])
    even, odd = (np.array(samples[i]) * 1000 for i in (0, 1))  # microseconds
    print(f"{args.bundle}, tflite int8 encoder, {args.threads} thread(s), {machine_info()['cpu']}")
    for name, values in (("even frame (as it is)", even), ("odd frame (mirrored) ", odd)):
        print(f"{name}: median of per-round p50s {np.median(values):.1f} us, p90 {np.percentile(values, 90):.1f}")
    extra = np.median(odd) - np.median(even)
    print(f"odd - even: {extra:+.1f} us per odd frame ({extra / np.median(even):+.1%} of an encoder pass)")


if __name__ == "__main__":
    main()
