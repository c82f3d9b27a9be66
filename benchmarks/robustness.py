#!/usr/bin/env python3
"""Accuracy on FER2013 `val` when the faces look as a cheap camera may show them: dark, bright, flat, noisy,
blurred, JPEG-compressed, small, lit from one side; and framed as other datasets' crops may frame them: looser,
tighter, off-centre, the head rolled.

Noise is measured twice: on the 48x48 face itself (a face as small as the model's input, or very dim light), and on
the face blown up to 144 px, as a camera closer to it would see it, before the runtime's resize averages it down.

    python benchmarks/robustness.py fer_edge/models/default \\
        --reference emotion_model_quantized.tflite --out reports/robustness
    python benchmarks/robustness.py fer_edge/models/default --labels ferplus \\
        --reference emotion_model_quantized.tflite --out reports/robustness-ferplus

Each condition changes the 48x48 face crops (uint8, as read) before the runtime's own `preprocess_frame`, with a
fixed seed, so every model sees the same pixels; then accuracy over the 6 classes with neutral and over the 5 seed
classes, as `fer-edge eval` scores them (int8 TFLite streaming, or the `fer` model at 64x64). The framing changes
have their own mean, so the camera changes' mean stays comparable with earlier runs. No TensorFlow.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from fer_edge.atomic import atomic_dir
from fer_edge.dataset import DEFAULT_CLASSES
from fer_edge.evaluate import EvalConfig, Faces, bundle_scorer, load_faces, reference_scorer, score
from fer_edge.preprocess import preprocess_frame
from fer_edge.stills import static_sequences

SIX = (*DEFAULT_CLASSES, "neutral")


def _gamma(power: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    table = np.round(255 * (np.arange(256) / 255) ** power).astype(np.uint8)
    return lambda image, rng: cv2.LUT(image, table)


def _contrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = image.mean()
    return np.clip((image - mean) * 0.5 + mean, 0, 255).astype(np.uint8)


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def _camera_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The face as a camera 3x closer would see it (144 px), with sensor noise there; the runtime's area
    resize to 48 px then averages the noise down, as it does for every face larger than the model's input."""
    large = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    return np.clip(large + rng.normal(0, 8, large.shape), 0, 255).astype(np.uint8)


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 1.2)


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 25])[1], cv2.IMREAD_GRAYSCALE)


def _small(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape
    small = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _side_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ramp = np.linspace(0.45, 1.35, image.shape[1])[None, :]
    ramp = ramp if rng.random() < 0.5 else ramp[:, ::-1]
    return np.clip(image * ramp, 0, 255).astype(np.uint8)


def framed(
    scale: float, shift: float = 0.0, roll: float = 0.0
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Zoom by `scale` (below 1: looser, the border repeats the edge pixels), shift by `shift` of the side in a
    random direction, roll by `roll` degrees to a random side; the output keeps the crop's size."""

    def change(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = image.shape
        turn = roll if rng.random() < 0.5 else -roll
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), turn, scale)
        direction = rng.uniform(0, 2 * np.pi)
        matrix[:, 2] += shift * width * np.array([np.cos(direction), np.sin(direction)])
        return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return change


CONDITIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray] | None] = {
    "clean": None,
    "dark (gamma 2.2)": _gamma(2.2),
    "bright (gamma 0.45)": _gamma(0.45),
    "flat (contrast x0.5)": _contrast,
    "noise (sigma 12)": _noise,
    "noise at 144 px (sigma 8)": _camera_noise,
    "blur (sigma 1.2 px)": _blur,
    "jpeg (quality 25)": _jpeg,
    "small (24 px, upscaled)": _small,
    "side light (x0.45 to x1.35)": _side_light,
}
FRAMING: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "looser (face x0.8)": framed(0.8),
    "much looser (face x0.65)": framed(0.65),
    "tighter (face x1.2)": framed(1.2),
    "off-centre (10 % of the side)": framed(1.0, shift=0.1),
    "head rolled 15 degrees": framed(1.0, roll=15),
}
MEANS = {"mean of the changed": [c for c in CONDITIONS if c != "clean"], "mean of the framings": list(FRAMING)}


def perturbed(faces: Faces, change, seed: int) -> Faces:
    """The same faces with `change` applied to each crop before the runtime's preprocessing."""
    if change is None:
        return faces
    rng = np.random.default_rng(seed)
    crops = [change(crop, rng) for crop in faces.crops]
    return replace(faces, windows=static_sequences(np.stack([preprocess_frame(c) for c in crops])), crops=crops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle folders, one column each")
    parser.add_argument(
        "--stills", default="../shared/data/FER2013", help="still faces per emotion; its val split is used"
    )
    parser.add_argument("--reference", type=Path, help="the fer package's emotion_model_quantized.tflite")
    parser.add_argument(
        "--out", type=Path, default=Path("reports/robustness"), help="folder for table.md and table.json"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random conditions (noise, side light)")
    parser.add_argument(
        "--labels",
        choices=("folder", "ferplus"),
        default="folder",
        help="score against FER2013's own labels or the FER+ annotators' majority (faces without one left out)",
    )
    args = parser.parse_args()

    faces = load_faces(EvalConfig(bundle="", data=args.stills, classes=SIX, labels=args.labels), None, print)
    key = "fer_val" if args.labels == "folder" else "ferplus_val"
    scorers = [bundle_scorer(EvalConfig(bundle=str(b), data="", threads=1)) for b in args.bundles]
    names = [str(b) for b in args.bundles]
    if args.reference:
        scorers.append(reference_scorer(args.reference, 1))
        names.append(f"fer package ({args.reference.name})")
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in names}
    for condition, change in {**CONDITIONS, **FRAMING}.items():
        changed = perturbed(faces, change, args.seed)
        for name, scorer in zip(names, scorers, strict=True):
            probabilities = scorer.predict(changed)
            six = score(probabilities, changed.labels, scorer.classes, list(SIX))["accuracy_shared"]
            rows = [i for i, label in enumerate(changed.labels) if label in DEFAULT_CLASSES]
            labels = [changed.labels[i] for i in rows]
            five = score(probabilities[rows], labels, scorer.classes, list(DEFAULT_CLASSES))["accuracy_shared"]
            results[name][condition] = {f"{key}_6": six, f"{key}_5": five}
            print(f"{condition:28s} {name}: 6 classes {six:.1%}, 5 classes {five:.1%}", flush=True)
    for name in names:
        for mean, members in MEANS.items():
            results[name][mean] = {
                k: float(np.mean([results[name][m][k] for m in members])) for k in (f"{key}_6", f"{key}_5")
            }
    header = "| condition | " + " | ".join(names) + " |"
    lines = [header, "|---|" + "---:|" * len(names)]
    for condition in [*CONDITIONS, "mean of the changed", *FRAMING, "mean of the framings"]:
        cells = [f"{results[n][condition][f'{key}_6']:.1%} / {results[n][condition][f'{key}_5']:.1%}" for n in names]
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"FER2013 val, {len(faces.labels)} faces of 6 classes, "
        + ("FER2013's own labels" if args.labels == "folder" else "the FER+ majority labels")
        + ": accuracy over the 6 classes with neutral / over the 5 "
        "seed classes (their faces only). int8 TFLite streaming, 1 thread; the fer model at 64x64. "
        f"Seed {args.seed} for the random conditions.",
    ]
    with atomic_dir(args.out) as tmp:
        (tmp / "table.md").write_text("\n".join(lines) + "\n")
        (tmp / "table.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.out}/table.md")


if __name__ == "__main__":
    main()
