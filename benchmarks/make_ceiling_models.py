#!/usr/bin/env python3
"""Write the single-layer int8 models `fer-edge bench` uses to measure this CPU's int8 ceiling.

One 3x3 convolution per shape in fer_edge.bench.ceiling.SHAPES (24x24 with 128 channels, 12x12 with 256: the seed
CNN's 4th and 6th layers), quantized exactly as the bundles are (TFLite full int8; ONNX static QDQ int8). The
files ship in fer_edge/bench/ceiling/ so that the benchmark needs no TensorFlow; rerun this script to remake them.

    python benchmarks/make_ceiling_models.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np

from fer_edge.atomic import atomic_write_bytes
from fer_edge.bench.ceiling import SHAPES, ceiling_paths
from fer_edge.export.convert import quantize_onnx, to_onnx, to_tflite


def main() -> None:
    keras.utils.set_random_seed(0)
    for size, channels in SHAPES:
        inputs = keras.Input((size, size, channels), name="features")
        model = keras.Model(inputs, keras.layers.Conv2D(channels, 3, padding="same", name="conv")(inputs))
        calibration = np.random.default_rng(0).random((16, size, size, channels), dtype=np.float32)
        paths = ceiling_paths(size, channels)
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
