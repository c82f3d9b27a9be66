"""The CPU's int8 ceiling: MAC/s of one int8 3x3 convolution in the same runtime as the artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.backends import open_model
from fer_edge.bench.timing import time_calls

SIZE, CHANNELS = 24, 128
MACS = SIZE * SIZE * 9 * CHANNELS * CHANNELS  # 84,934,656


def ceiling_paths() -> dict[str, Path]:
    folder = Path(__file__).with_name("ceiling")
    return {"tflite": folder / "conv3x3_int8.tflite", "onnx": folder / "conv3x3_int8.onnx"}


def measure_ceiling(fmt: str, threads: int, runs: int, warmup: int) -> dict:
    """MAC/s of the shipped single-convolution model (made by benchmarks/make_ceiling_models.py)."""
    model = open_model(ceiling_paths()[fmt], threads)
    item = np.random.default_rng(0).random((1, SIZE, SIZE, CHANNELS), dtype=np.float32)
    latency = time_calls(lambda: model.run(item), runs=runs, warmup=warmup)
    return {"macs": MACS, "latency": latency, "macs_per_second": MACS / (latency["p50_ms"] / 1e3)}
