#!/usr/bin/env python3
"""ONNX int8 weights in 8 or 7 bits (onnxruntime's reduce_range), per tensor or per channel: how far each
quantized model is from the Keras model, on the run's training sequences (which choose) and held-out ones
(which only report). One thread, onnxruntime's CPU provider on this machine.

    python benchmarks/onnx_weight_range.py runs/edge-w0.5 bundles/edge-w0.5 [--data ../shared/data/CK+48]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

from fer_edge.backends import open_model
from fer_edge.export.bundle import load_matching_data
from fer_edge.export.calibration import calibration_set
from fer_edge.export.convert import quantize_onnx
from fer_edge.export.run_folder import load_run
from fer_edge.metrics import parity

SETTINGS = [(bits, per_channel) for bits in (8, 7) for per_channel in (False, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("bundle", type=Path, help="a bundle exported from the run (its full_float32.onnx is used)")
    parser.add_argument("--data", default="../shared/data/CK+48")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    run = load_run(args.run)
    data = load_matching_data(run, args.data)
    parts = {"training": calibration_set(data, run.split), "held-out": data.select(run.split.test)}
    keras = {name: run.model.predict(part.frames, verbose=0) for name, part in parts.items()}
    results: dict = {"run": str(args.run), "machine": platform.processor() or platform.machine(), "settings": {}}
    print(f"{'weights':<22} {'part':<9} {'agree':>6} {'max|dp|':>8} {'mean|dp|':>9} {'acc':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        for bits, per_channel in SETTINGS:
            label = f"{bits}-bit per-{'channel' if per_channel else 'tensor'}"
            path = Path(scratch) / f"{bits}-{per_channel}.onnx"
            quantize_onnx(
                args.bundle / "full_float32.onnx",
                path,
                parts["training"].frames,
                per_channel=per_channel,
                reduce_range=bits == 7,
            )
            session = open_model(path, threads=1)
            for name, part in parts.items():
                probabilities = session.run(part.frames)
                row = {
                    **parity(probabilities, keras[name], part.labels),
                    "mean_probability_difference": float(np.mean(np.abs(probabilities - keras[name]))),
                }
                results["settings"].setdefault(label, {})[name] = row
                print(
                    f"{label:<22} {name:<9} {row['agreement_with_keras']:>6.1%} "
                    f"{row['max_probability_difference']:>8.3f} {row['mean_probability_difference']:>9.4f} "
                    f"{row['accuracy']:>6.1%}"
                )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
