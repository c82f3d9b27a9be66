#!/usr/bin/env python3
"""How closely a run's int8 TFLite encoder follows its float one, for each ELU floor (export/ranges.py), on
training stills only: the calibration sample is the export's (class-stratified, seed 0), the probe is other
training stills. Reports the cosine between int8 and float features and how often the float head, fed int8
features, picks the class it picks from float ones. One thread, this machine.

    python benchmarks/elu_floor.py runs/wild-w0.5-then30x2 [--stills ../shared/data/FER2013] [--out reports/elu-floor]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer_edge.atomic import atomic_dir
from fer_edge.backends import open_model
from fer_edge.bench.suite import machine_info
from fer_edge.export.bundle import ExportConfig, calibration_stills, feature_cosines, training_stills, tuning_stills
from fer_edge.export.convert import to_tflite
from fer_edge.export.run_folder import load_run
from fer_edge.export.twin import streaming_parts, unrolled_twin
from fer_edge.metrics import parity

FLOORS = (None, 2.0, 3.0, 4.0, 5.0, 6.0)


def closeness(
    features: np.ndarray, reference: np.ndarray, decided: np.ndarray, classify: Callable[[np.ndarray], np.ndarray]
) -> dict:
    """How an int8 encoder's features follow the float ones on the probe: the cosine's median and 5th percentile, and
    how often the float head (classify) keeps the class it picks from float features (decided)."""
    cosine = feature_cosines(features, reference)
    check = parity(classify(features), decided, decided.argmax(1))
    return {
        "cosine_median": float(np.median(cosine)),
        "cosine_p5": float(np.percentile(cosine, 5)),
        "agreement": check["agreement_with_keras"],
        "agreement_beyond_ties": check["agreement_beyond_ties"],
    }


def write_report(out: Path, lines: list[str], payload: dict) -> None:
    """table.md (the lines) and table.json (the payload) into out, replaced whole; the table printed."""
    with atomic_dir(out, force=True) as tmp:
        (tmp / "table.md").write_text("\n".join(lines) + "\n")
        (tmp / "table.json").write_text(json.dumps(payload, indent=1))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder of the wild recipe")
    parser.add_argument("--stills", type=Path, default=Path("../shared/data/FER2013"))
    parser.add_argument("--calib-stills", type=int, default=2000, help="as fer-edge export --calib-stills")
    parser.add_argument(
        "--probe", type=int, default=4000, help="training stills drawn to probe (calibration ones left out)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/elu-floor"))
    args = parser.parse_args()

    run = load_run(args.run)
    encoder, head = streaming_parts(unrolled_twin(run.model, run.width))
    export = ExportConfig(
        run=str(args.run), stills=str(args.stills), calib_stills=args.calib_stills, tune_stills=args.probe
    )
    train = training_stills(run, export, print)
    calibration = calibration_stills(export, train, print)  # the very sample fer-edge export draws
    probe = tuning_stills(export, train, calibration, print)  # and the one --tune-stills searches on
    steps = run.model.input_shape[1]

    def classify(features: np.ndarray) -> np.ndarray:
        return head.predict(np.repeat(features[:, None], steps, axis=1), verbose=0)

    reference = encoder.predict(probe.images, verbose=0)
    decided = classify(reference)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for floor in FLOORS:
            path = Path(scratch) / "encoder.tflite"
            path.write_bytes(to_tflite(encoder, calibration.images, elu_floor=floor))
            features = open_model(path, threads=1).run(probe.images)
            rows.append({"elu_floor": floor, **closeness(features, reference, decided, classify)})
            print(f"floor {floor}: cosine median {rows[-1]['cosine_median']:.4f}, 5th pct {rows[-1]['cosine_p5']:.4f}")

    lines = [
        f"ELU floor, {args.run}: int8 TFLite encoder against float on {len(probe)} training stills outside the "
        f"{len(calibration)} calibration stills ({machine_info()['cpu']}, 1 thread)",
        "",
        "| floor | feature cosine, median | 5th percentile | float head's class kept | beyond near-ties |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        floor = "none" if row["elu_floor"] is None else f"{row['elu_floor']:g}"
        lines.append(
            f"| {floor} | {row['cosine_median']:.4f} | {row['cosine_p5']:.4f} | {row['agreement']:.1%} | "
            f"{row['agreement_beyond_ties']:.1%} |"
        )
    write_report(args.out, lines, {"run": str(args.run), "probe": len(probe), "rows": rows})


if __name__ == "__main__":
    main()
