"""Does averaging the predictions for a sequence and its mirror image help? Scored on the ablation's inner folds.

Test-time flip averaging doubles the runtime's work per frame, so it would have to earn its place. It is scored
on the inner folds of benchmarks/recipe_ablation.py (the seed split's held-out 30 % takes no part), with the
fold models that sweep saved:

    python benchmarks/flip_averaging.py runs/ablation-w0.25/seed_aug_smooth_balanced \
        runs/ablation-w0.25/seed_aug_balanced
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fer_edge.atomic import atomic_write_text
from fer_edge.dataset import load_sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", type=Path, help="ablation variant folders holding fold_1, fold_2, ...")
    parser.add_argument("--data", required=True, help="The CK+48 folder.")
    parser.add_argument("--out", type=Path, default=Path("reports/flip_averaging.json"))
    args = parser.parse_args()

    from fer_edge.export.run_folder import load_run

    results = {"data": str(Path(args.data).resolve()), "folds": []}
    datasets = {}  # one load per class list, not per fold
    for variant in args.variants:
        for fold in sorted(variant.glob("fold_*")):
            run = load_run(fold)
            if run.classes not in datasets:
                datasets[run.classes] = load_sequences(Path(args.data), run.classes)
            test = datasets[run.classes].select(run.split.test)
            plain = run.model.predict(test.frames, verbose=0)
            mirrored = run.model.predict(np.ascontiguousarray(test.frames[:, :, :, ::-1]), verbose=0)
            row = {
                "run": str(fold),
                "sequences": len(test),
                "plain": float(np.mean(plain.argmax(1) == test.labels)),
                "mirrored": float(np.mean(mirrored.argmax(1) == test.labels)),
                "averaged": float(np.mean((plain + mirrored).argmax(1) == test.labels)),
            }
            results["folds"].append(row)
            print(f"{fold}: plain {row['plain']:.1%}, mirrored {row['mirrored']:.1%}, averaged {row['averaged']:.1%}")
    for key in ("plain", "mirrored", "averaged"):
        results[f"{key}_mean"] = float(np.mean([row[key] for row in results["folds"]]))
    print(", ".join(f"{key} {results[f'{key}_mean']:.1%}" for key in ("plain", "mirrored", "averaged")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
