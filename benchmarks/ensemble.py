#!/usr/bin/env python3
"""How far averaging our own models goes: each bundle alone, then the mean of the probabilities of every
combination of two or more, on FER2013 `val` (6 classes) under the FER+ majority or FER2013's own labels.

    python benchmarks/ensemble.py bundles/wild-w0.5-ferplus bundles/wild-w0.5-ferplus-fw0.5x --precision float32

A diagnostic, not a product: an ensemble costs one encoder pass per model. If the best combination is no better
than its best member, the models make the same mistakes, and distilling them into one model cannot pass it either.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from fer_edge.dataset import DEFAULT_CLASSES
from fer_edge.evaluate import EvalConfig, bundle_scorer, load_faces, score

SIX = (*DEFAULT_CLASSES, "neutral")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle folders (two or more)")
    parser.add_argument("--stills", default="../shared/data/FER2013", help="still faces per emotion; val is used")
    parser.add_argument("--labels", choices=("ferplus", "folder"), default="ferplus", help="which labels score")
    parser.add_argument("--precision", choices=("int8", "float32"), default="int8", help="which TFLite files")
    args = parser.parse_args()
    if len(args.bundles) < 2:
        parser.error("give two or more bundles")

    faces = load_faces(EvalConfig(bundle="", data=args.stills, classes=SIX, labels=args.labels), None, print)
    probabilities = {}
    for bundle in args.bundles:
        config = EvalConfig(bundle=str(bundle), data="", precision=args.precision, streaming=True, threads=1)
        scorer = bundle_scorer(config)
        if tuple(scorer.classes) != SIX:
            parser.error(f"{bundle} has the classes {', '.join(scorer.classes)}; this script averages 6-class models")
        probabilities[bundle.name] = scorer.predict(faces)

    def accuracy(names: tuple[str, ...]) -> float:
        mean = np.mean([probabilities[n] for n in names], axis=0)
        return score(mean, faces.labels, SIX, list(SIX))["accuracy"]

    print(
        f"| models ({args.precision} TFLite, streaming; {len(faces.labels)} faces, {args.labels} labels) | accuracy |"
    )
    print("|---|---:|")
    for size in range(1, len(args.bundles) + 1):
        for names in itertools.combinations(probabilities, size):
            print(f"| {' + '.join(names)} | {accuracy(names):.2%} |")


if __name__ == "__main__":
    main()
