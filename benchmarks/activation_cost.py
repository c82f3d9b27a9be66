#!/usr/bin/env python3
"""Where does int8 time go? The seed encoder with ELU (what we ship) against the same encoder with ReLU,
both full-int8 TFLite, random weights, calibrated on random frames: in TFLite the converter keeps ELU in float
(DEQUANTIZE -> ELU -> QUANTIZE around each of the 8 layers), while ReLU fuses into the int8 convolution.
Timing only: accuracy of a ReLU model would need retraining.

    python benchmarks/activation_cost.py [--width 1] [--runs 200]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import keras
import numpy as np

from fer_edge.backends import open_model
from fer_edge.bench.timing import time_calls
from fer_edge.export.convert import to_tflite
from fer_edge.train.model import build_encoder


def with_activation(width: float, activation: str) -> keras.Model:
    encoder = build_encoder(width)
    if activation == "elu":
        return encoder
    config = encoder.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "Activation":
            layer["config"]["activation"] = activation
    return keras.Model.from_config(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    calibration = np.random.default_rng(0).random((32, 48, 48, 1), dtype=np.float32)
    frame = calibration[:1]
    print(f"{'activation':<10} {'p50 ms':>7} {'p90 ms':>7}  ops")
    with tempfile.TemporaryDirectory() as scratch:
        for activation in ("elu", "relu"):
            path = Path(scratch) / f"{activation}.tflite"
            path.write_bytes(to_tflite(with_activation(args.width, activation), calibration))
            model = open_model(path, threads=1)
            ops = Counter(op["op_name"] for op in model.interpreter._get_ops_details() if op["op_name"] != "DELEGATE")
            latency = time_calls(lambda m=model: m.run(frame), runs=args.runs, warmup=20)
            print(f"{activation:<10} {latency['p50_ms']:>7.2f} {latency['p90_ms']:>7.2f}  {dict(ops)}")


if __name__ == "__main__":
    main()
