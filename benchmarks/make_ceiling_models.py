#!/usr/bin/env python3
"""Write the single-layer int8 models `fer-edge bench` uses to measure this CPU's int8 ceiling.

One 3x3 convolution, 128 -> 128 channels on a 24x24 map (the shape of the seed CNN's 4th layer, 84.9 M MACs),
quantized exactly as the bundles are (TFLite full int8; ONNX static QDQ int8 per-channel). The files ship in
fer_edge/bench/ceiling/ so that the benchmark needs no TensorFlow; rerun this script to remake them.

    python benchmarks/make_ceiling_models.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

from fer_edge.atomic import atomic_write_bytes
from fer_edge.bench.ceiling import CHANNELS, SIZE, ceiling_paths
from fer_edge.export.convert import quantize_onnx, to_onnx, to_tflite


def main() -> None:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, CHANNELS), name="features")
    model = keras.Model(inputs, keras.layers.Conv2D(CHANNELS, 3, padding="same", name="conv")(inputs))
    calibration = np.random.default_rng(0).random((16, SIZE, SIZE, CHANNELS), dtype=np.float32)
    paths = ceiling_paths()
    atomic_write_bytes(paths["tflite"], to_tflite(model, calibration))
    with tempfile.TemporaryDirectory() as scratch:
        float_path, int8_path = Path(scratch) / "float.onnx", Path(scratch) / "int8.onnx"
        to_onnx(model, float_path)
        quantize_onnx(float_path, int8_path, calibration)
        atomic_write_bytes(paths["onnx"], int8_path.read_bytes())
    for path in paths.values():
        print(f"{path}  {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
