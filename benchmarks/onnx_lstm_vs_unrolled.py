#!/usr/bin/env python3
"""ONNX from the trained model (native LSTM nodes) vs from its unrolled twin (LSTMs as matrix products):
size, single-thread latency of one 3-frame window, and parity with Keras on the run's held-out split,
in float32 and static int8 with per-tensor and per-channel weights (calibrated on the run's training sequences).

    python benchmarks/onnx_lstm_vs_unrolled.py runs/seed-w1 [--data ../shared/data/CK+48] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from fer_edge.backends import open_model
from fer_edge.bench.timing import time_calls
from fer_edge.export.bundle import load_matching_data
from fer_edge.export.calibration import calibration_set
from fer_edge.export.convert import quantize_onnx, to_onnx
from fer_edge.export.run_folder import load_run
from fer_edge.export.twin import unrolled_twin
from fer_edge.metrics import parity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", default="../shared/data/CK+48")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()

    run = load_run(args.run)
    data = load_matching_data(run, args.data)
    test, calib = data.select(run.split.test), calibration_set(data, run.split)
    reference = run.model.predict(test.frames, verbose=0)
    results = {"run": str(args.run), "machine": platform.processor() or platform.machine(), "threads": 1}
    with tempfile.TemporaryDirectory() as scratch:
        for name, model in (("native-lstm", run.model), ("unrolled", unrolled_twin(run.model, run.width))):
            float_path, int8_path = Path(scratch) / f"{name}.onnx", Path(scratch) / f"{name}_int8.onnx"
            channel_path = Path(scratch) / f"{name}_int8_per_channel.onnx"
            to_onnx(model, float_path)
            quantize_onnx(float_path, int8_path, calib.frames, per_channel=False)
            quantize_onnx(float_path, channel_path, calib.frames, per_channel=True)
            variants = (("float32", float_path), ("int8 per-tensor", int8_path), ("int8 per-channel", channel_path))
            for precision, path in variants:
                session = open_model(path, threads=1)
                window = test.frames[:1]
                results[f"{name} {precision}"] = {
                    "bytes": path.stat().st_size,
                    "latency": time_calls(lambda s=session, w=window: s.run(w), runs=args.runs),
                    **parity(session.run(test.frames), reference, test.labels),
                }
    print(f"{'variant':<30} {'MB':>6} {'p50 ms':>7} {'p90 ms':>7} {'acc':>6} {'agree':>6} {'max|dp|':>8}")
    for key, value in results.items():
        if isinstance(value, dict):
            print(
                f"{key:<30} {value['bytes'] / 1e6:>6.2f} {value['latency']['p50_ms']:>7.2f} "
                f"{value['latency']['p90_ms']:>7.2f} {value['accuracy']:>6.1%} {value['agreement_with_keras']:>6.1%} "
                f"{value['max_probability_difference']:>8.3f}"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
