#!/usr/bin/env python3
"""Which crop rule (margin around the detector's box, eyes levelled or not) makes a detected face look like a
training face? A bundle's CK+48 sequences are placed on 640x480 frames (fer_edge.bench.clip), upright and tilted
in the picture plane, and run through `fer-edge run`'s loop with every rule, for every detector.

The rule (margin, lift, levelling) is chosen on the run's TRAINING sequences (mean over the upright and tilted
clips; a tie goes to the margin nearest 0, then to the lift nearest 0, then to no levelling); the held-out column is
reported, never used to choose.

With --stills (a model trained on stills too, such as `wild`): a stratified sample of the still set's `train` faces
of the model's classes, each a static 3-frame sequence, joins the choice (the mean over every training clip, CK+48
and stills weighing the same), and as many `val` faces are reported beside the held-out sequences.

    python benchmarks/crop_margin.py fer_edge/models/default [--data ../shared/data/CK+48]
        [--stills ../shared/data/FER2013 --stills-count 300]
        [--detectors blazeface,blazeface-full,haar] [--margins -0.05,0,0.1,0.2] [--lifts 0] [--tilts 0,15]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from fer_edge.atomic import atomic_write_text
from fer_edge.bench.clip import write_face_clip
from fer_edge.bench.suite import heldout
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.errors import MissingExtraError
from fer_edge.manifest import read_manifest
from fer_edge.model import EmotionModel
from fer_edge.run import RunConfig, predictions
from fer_edge.stills import load_stills, relabel, sample

# Splits whose clips choose the rule; the others are reported only.
CHOOSING = ("training", "stills training")


def accuracy_through_runtime(config: RunConfig, sequences: Sequences, segments: list) -> float:
    found = list(predictions(config))
    correct = 0
    for segment in segments:
        inside = [p for p in found if segment.first <= p.frame < segment.first + segment.length]
        correct += bool(inside) and inside[-1].label == sequences.classes[sequences.labels[segment.sequence]]
    return correct / len(segments)


def direct_accuracy(bundle: Path, sequences: Sequences) -> float:
    """The bundle's int8 TFLite streaming model on the faces' own 48x48 crops: what a perfect crop would give."""
    model = EmotionModel(bundle, "tflite", "int8", streaming=True, threads=1)
    names = [model.classes[int(model.predict_window(w).argmax())] for w in sequences.frames]
    return sum(n == sequences.classes[i] for n, i in zip(names, sequences.labels, strict=True)) / len(names)


def still_sequences(data: Path, split: str, classes: tuple[str, ...], count: int) -> Sequences:
    """A stratified sample of `count` stills of the model's classes, each a static sequence."""
    stills = load_stills(data, split)
    stills = sample(relabel(stills, tuple(c for c in classes if c in stills.classes)), count, seed=0)
    return Sequences(stills.as_sequences(), stills.labels, stills.ids, stills.ids, stills.classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--data", default="../shared/data/CK+48")
    parser.add_argument("--detectors", default="blazeface,blazeface-full,haar")
    parser.add_argument("--margins", default="-0.05,0,0.1,0.2")
    parser.add_argument("--lifts", default="0", help="shares of the box height to move the crop up")
    parser.add_argument("--tilts", default="0,15", help="clips with faces turned by up to this many degrees")
    parser.add_argument("--stills", type=Path, default=None, help="a still set with train/ and val/ (FER2013)")
    parser.add_argument("--stills-count", type=int, default=300, help="faces sampled from each of its splits")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    manifest = read_manifest(args.bundle)
    test, _ = heldout(manifest, args.bundle, args.data)
    every = load_sequences(Path(args.data), tuple(test.classes))
    known = {str(i) for i in every.ids}  # a wild bundle also calibrated on stills: only CK+48's sequences here
    training = every.select([i for i in manifest.calibration["ids"] if i in known])
    splits = {"training": training, "held-out": test}
    if args.stills:
        for split, name in (("train", "stills training"), ("val", "stills val")):
            splits[name] = still_sequences(args.stills, split, tuple(manifest.classes), args.stills_count)
    margins = [float(m) for m in args.margins.split(",")]
    lifts = [float(u) for u in args.lifts.split(",")]
    tilts = [float(t) for t in args.tilts.split(",")]
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        clips = {}
        for name, sequences in splits.items():
            for tilt in tilts:
                clip = Path(scratch) / f"{name}-{tilt:g}.avi"
                clips[name, tilt] = (clip, write_face_clip(sequences.frames, clip, seed=1, tilt=tilt))
        for detector in args.detectors.split(","):
            levels = (False, True) if detector.startswith("blazeface") else (False,)
            try:
                for margin, lift, level in itertools.product(margins, lifts, levels):
                    row = {}
                    for (name, tilt), (clip, segments) in clips.items():
                        config = RunConfig(
                            source=str(clip),
                            bundle=str(args.bundle),
                            threads=1,
                            detector=detector,
                            margin=margin,
                            lift=lift,
                            level=level,
                        )
                        row[f"{name} tilt {tilt:g}"] = accuracy_through_runtime(config, splits[name], segments)
                    choosing = [row[f"{n} tilt {t:g}"] for n in CHOOSING if n in splits for t in tilts]
                    row["training"] = sum(choosing) / len(choosing)
                    key = f"{margin:g}" + (f" lift {lift:g}" if lift else "") + (" level" if level else "")
                    results.setdefault(detector, {})[key] = {"margin": margin, "lift": lift, "level": level, **row}
                    print(detector, key, {k: round(v, 3) for k, v in row.items()}, flush=True)
            except MissingExtraError as error:
                print(f"{detector}: skipped ({error})")
    chosen = {
        detector: max(rows.values(), key=lambda r: (r["training"], -abs(r["margin"]), -abs(r["lift"]), not r["level"]))
        for detector, rows in results.items()
    }
    print(f"\ndirect 48x48 crops, held-out (Keras): {manifest.heldout_metrics['keras_accuracy']:.1%}")
    direct = {n: direct_accuracy(args.bundle, splits[n]) for n in splits if n.startswith("stills")}
    for name, value in direct.items():
        print(f"direct 48x48 crops, {name} (int8 TFLite streaming): {value:.1%}")
    columns = [f"{n} tilt {t:g}" for n in splits for t in tilts]
    print(f"{'detector':<15} {'rule':<22} " + " ".join(f"{c:>22}" for c in columns))
    for detector, rows in results.items():
        for key, row in rows.items():
            mark = "   <- chosen" if row is chosen[detector] else ""
            print(f"{detector:<15} {key:<22} " + " ".join(f"{row[c]:>22.1%}" for c in columns) + mark)
    if args.out:
        summary = {
            "bundle": str(args.bundle),
            "results": results,
            "chosen": {d: {"margin": r["margin"], "lift": r["lift"], "level": r["level"]} for d, r in chosen.items()},
            "direct_crops": direct,
        }
        atomic_write_text(args.out, json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
