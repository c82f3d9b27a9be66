#!/usr/bin/env python3
"""Print the training results table (docs/guide.md) from run folders (metrics.json, or summary.json for --cv runs).

python benchmarks/results_table.py runs/seed-w1 runs/edge-w1 runs/edge-w0.25-cv5 runs/seed-w0.25-cv5
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(run: Path) -> str:
    config = json.loads((run / "config.json").read_text())
    settings, machine = config["config"], config["machine"]
    threads = machine.get("thread_env", {}).get("TF_NUM_INTRAOP_THREADS", "default")
    where = f"{machine['cpus']} CPUs, TF threads {threads}"
    if (run / "summary.json").exists():
        summary = json.loads((run / "summary.json").read_text())
        folds = ", ".join(f"{f['accuracy']:.1%}" for f in summary["per_fold"])
        accuracy = f"{summary['accuracy_mean']:.1%} ± {summary['accuracy_std']:.1%} (folds: {folds})"
        protocol = f"subject-independent {summary['folds']}-fold"
        f1 = f"{summary['macro_f1_mean']:.3f}"
        minutes = summary["train_seconds"] / 60
    else:
        metrics = json.loads((run / "metrics.json").read_text())
        correct = round(metrics["accuracy"] * metrics["test_sequences"])
        accuracy = f"{metrics['accuracy']:.1%} ({correct}/{metrics['test_sequences']})"
        protocol = "seed stratified 70/30"
        f1 = f"{metrics['macro_f1']:.3f}"
        minutes = metrics["train_seconds"] / 60
    auxiliary = ", ".join(config["recipe"].get("auxiliary_classes", [])) or "none"  # older runs lack the field
    return (
        f"| `{run.name}` | {config['recipe']['name']} | {config['recipe']['epochs']} | {auxiliary} "
        f"| {settings['width']:g} | {protocol} | {accuracy} | {f1} | {minutes:.0f} min | {where} |"
    )


def main() -> None:
    runs = [Path(arg) for arg in sys.argv[1:]]
    if not runs:
        sys.exit(__doc__)
    print(
        "| run | recipe | epochs | auxiliary classes | width | split | held-out accuracy | macro F1 | training time "
        "| threads |"
    )
    print("|---|---|---:|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(run))


if __name__ == "__main__":
    main()
