#!/usr/bin/env python3
"""Soak: `fer-edge run`'s loop on a looping 640x480 video for many frames, resident memory sampled as it goes.
Flat memory (within a few MB) means nothing accumulates per frame (buffers, timings, detector state).

    python benchmarks/soak.py [--frames 100000] [--bundle BUNDLE] [--data ../shared/data/CK+48] [--out FILE]

The video is made from the first held-out sequences of the bundle (CK+48 faces on noisy frames); without
CK+48 it uses random 48x48 patches, which the detector mostly ignores (then detection is what is soaked).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from fer_edge.bench.clip import write_face_clip
from fer_edge.dataset import load_sequences
from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.manifest import read_manifest
from fer_edge.run import RunConfig, RunStats, steps


def resident_mb() -> float:
    """Current resident set size (Linux /proc), not the peak."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/CK+48"))
    parser.add_argument("--every", type=int, default=5_000, help="sample memory every N frames")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    manifest = read_manifest(args.bundle)
    if (args.data / "happy").is_dir():
        frames = load_sequences(args.data, tuple(manifest.classes)).select(manifest.heldout_metrics["ids"][:10]).frames
    else:
        frames = np.random.default_rng(0).random((10, 3, 48, 48, 1), dtype=np.float32)
    samples = []
    with tempfile.TemporaryDirectory() as scratch:
        video = Path(scratch) / "soak.avi"
        write_face_clip(frames, video)
        stats, started = RunStats(), time.perf_counter()
        config = RunConfig(source=str(video), bundle=str(args.bundle), threads=1, loop=True)
        for count, _ in enumerate(steps(config, stats), 1):
            if count == 1 or count % args.every == 0:
                samples.append(
                    {"frames": count, "rss_mb": round(resident_mb(), 1), "seconds": time.perf_counter() - started}
                )
                print(
                    f"{count:>8} frames  {samples[-1]['rss_mb']:7.1f} MB  {samples[-1]['seconds']:7.0f} s", flush=True
                )
            if count >= args.frames:
                break
    summary = stats.summary()
    result = {
        "frames": args.frames,
        "start_rss_mb": samples[1]["rss_mb"] if len(samples) > 1 else samples[0]["rss_mb"],
        "end_rss_mb": samples[-1]["rss_mb"],
        "samples": samples,
        "predictions": summary["predictions"],
        "resets": summary["window_resets"],
        "frames_per_second": summary["frames_per_second"],
    }
    print(
        f"memory after {samples[1]['frames'] if len(samples) > 1 else 1} frames: {result['start_rss_mb']} MB; "
        f"after {args.frames}: {result['end_rss_mb']} MB; {summary['frames_per_second']:.0f} frames/s"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
