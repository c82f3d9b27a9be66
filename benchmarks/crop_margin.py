#!/usr/bin/env python3
"""How much margin around the detected face box matches CK+48's tight framing? Faces of a bundle's run are
placed on 640x480 frames (fer_edge.bench.clip) and run through `fer-edge run`'s loop with each margin.

The margin is chosen on the run's TRAINING sequences; the held-out column is reported, never used to choose.

    python benchmarks/crop_margin.py bundles/seed-w1 [--data ../shared/data/CK+48] [--margins -0.1,0,0.1,0.2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from fer_edge.atomic import atomic_write_text
from fer_edge.bench.clip import write_face_clip
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.manifest import read_manifest
from fer_edge.run import RunConfig, predictions


def accuracy_through_runtime(bundle: Path, sequences: Sequences, clip: Path, segments: list, margin: float) -> float:
    found = list(predictions(RunConfig(source=str(clip), bundle=str(bundle), threads=1, margin=margin)))
    correct = 0
    for segment in segments:
        inside = [p for p in found if segment.first <= p.frame < segment.first + segment.length]
        correct += bool(inside) and inside[-1].label == sequences.classes[sequences.labels[segment.sequence]]
    return correct / len(segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--data", default="../shared/data/CK+48")
    parser.add_argument("--margins", default="-0.1,-0.05,0,0.05,0.1,0.2")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    manifest = read_manifest(args.bundle)
    data = load_sequences(Path(args.data), tuple(manifest.classes))
    splits = {
        "training": data.select(manifest.calibration["ids"]),
        "held-out": data.select(manifest.heldout_metrics["ids"]),
    }
    results = {}
    for name, sequences in splits.items():
        with tempfile.TemporaryDirectory() as scratch:
            clip = Path(scratch) / "clip.avi"
            segments = write_face_clip(sequences.frames, clip, seed=1)
            for margin in (float(m) for m in args.margins.split(",")):
                accuracy = accuracy_through_runtime(args.bundle, sequences, clip, segments, margin)
                results.setdefault(margin, {})[name] = accuracy
    # A tie goes to the margin nearest 0, the runtime's default: the smallest change to the detector's box.
    best = max(results, key=lambda m: (results[m]["training"], -abs(m)))
    print(
        f"{'margin':>7} {'training':>9} {'held-out':>9}   (direct 48x48 crops, held-out: "
        f"{manifest.heldout_metrics['keras_accuracy']:.1%})"
    )
    for margin, row in results.items():
        print(
            f"{margin:>7.2f} {row['training']:>9.1%} {row['held-out']:>9.1%}"
            + ("   <- chosen" if margin == best else "")
        )
    if args.out:
        summary = {"bundle": str(args.bundle), "results": results, "chosen": best}
        atomic_write_text(args.out, json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
