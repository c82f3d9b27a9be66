#!/usr/bin/env python3
"""When is a face crop better scored whole, and when sent through the detector? (`fer-edge eval --faces auto`)

Stratified FER2013 faces of the model's classes are blown up (cubic) to --size px and framed more loosely, as other
datasets' crops may frame them: the face zoomed out about the centre by each --scales factor, the edge pixels
repeated beyond it (benchmarks/robustness.py's framing). Each folder of such crops is scored by `fer-edge eval`'s
own loader twice: every image whole (`--faces crops`) and every image through the detector with the runtime's crop
rule (`--faces detect`, a face the detector misses counted as an error), on the bundle's int8 TFLite streaming model,
1 thread. Beside them: the median share of the picture the detector's largest face covers, the number that
`fer_edge.detect.FILLED_SHARE` compares against.

    python benchmarks/crop_or_detect.py fer_edge/models/default --stills ../shared/data/FER2013 --count 1000 \\
        --out reports/crop-or-detect

The `train` faces choose (docs/detectors.md has the rule); the `val` faces are reported only. No TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from robustness import framed

from fer_edge.atomic import atomic_dir
from fer_edge.detect import FILLED_SHARE, open_detector
from fer_edge.evaluate import EvalConfig, bundle_scorer, load_faces, score
from fer_edge.manifest import read_manifest
from fer_edge.stills import load_stills, relabel, sample


def write_crops(folder: Path, images: np.ndarray, labels: list[str], size: int, scale: float) -> None:
    """The faces at `size` px, zoomed by `scale`, as PNG files in <emotion>/ folders."""
    zoom, rng = framed(scale), np.random.default_rng(0)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        large = cv2.resize(np.round(image[:, :, 0] * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
        (folder / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / label / f"{index:05d}.png"), zoom(large, rng) if scale != 1 else large)


def accuracy(bundle: Path, folder: Path, faces: str, classes: tuple[str, ...]) -> tuple[float, int]:
    """Accuracy over every image of the folder (one the detector misses is an error) and the number it missed."""
    config = EvalConfig(bundle=str(bundle), data=str(folder), faces=faces, threads=1)
    loaded = load_faces(config, None, lambda line: None)
    scorer = bundle_scorer(config)
    result = score(scorer.predict(loaded), loaded.labels, scorer.classes, list(classes))
    missed = sum(loaded.no_face.values())
    return result["accuracy"] * result["faces"] / (result["faces"] + missed), missed


def median_share(folder: Path) -> float:
    detector = open_detector("blazeface", threads=1)
    shares = []
    for path in sorted(folder.glob("*/*.png")):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        found = detector.detect(gray)
        shares.append(found[0].box[2] * found[0].box[3] / gray.size if found else 0.0)
    return float(np.median(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--stills", type=Path, default=Path("../shared/data/FER2013"), help="train/ and val/ faces")
    parser.add_argument("--count", type=int, default=1000, help="faces per split (stratified)")
    parser.add_argument("--size", type=int, default=192, help="side of each crop in px")
    parser.add_argument("--scales", default="1,0.9,0.8,0.7,0.6,0.5", help="how large the face is in its crop")
    parser.add_argument("--out", type=Path, default=Path("reports/crop-or-detect"), help="table.md and table.json")
    args = parser.parse_args()

    classes = tuple(read_manifest(args.bundle).classes)
    scales = [float(s) for s in args.scales.split(",")]
    rows, lines = [], ["| split | face scale | median share | whole | through BlazeFace (missed) | better |"]
    lines.append("|---|---:|---:|---:|---:|---|")
    for split in ("train", "val"):
        stills = sample(relabel(load_stills(args.stills, split), classes), args.count, seed=0)
        labels = [stills.classes[i] for i in stills.labels]
        for scale in scales:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_crops(folder, stills.images, labels, args.size, scale)
                whole, _ = accuracy(args.bundle, folder, "crops", classes)
                detected, missed = accuracy(args.bundle, folder, "detect", classes)
                share = median_share(folder)
            better = "detector" if detected > whole else "whole"
            rows.append(dict(split=split, scale=scale, share=share, whole=whole, detect=detected, missed=missed))
            lines.append(f"| {split} | {scale:g} | {share:.2f} | {whole:.1%} | {detected:.1%} ({missed}) | {better} |")
            print(lines[-1], flush=True)
    lines += [
        "",
        f"{args.bundle}, int8 TFLite streaming, 1 thread; {len(labels)} stratified FER2013 faces per split at "
        f"{args.size} px; accuracy over {len(classes)} classes, a face the detector misses counted as an error. "
        f"`--faces auto` scores a folder whole when the face covers {FILLED_SHARE:.2f} of the picture or more.",
    ]
    with atomic_dir(args.out) as tmp:
        (tmp / "table.md").write_text("\n".join(lines) + "\n")
        (tmp / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
