"""The CPU's int8 ceiling: the best MAC/s of single int8 3x3 convolutions in the same runtime as the artifact.

Two shapes of the seed CNN (its 4th and 6th layers) because the rate depends on the channel count; the
ceiling is the faster of the two, so it is a lower bound of what the core can do, measured, not quoted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer_edge.backends import open_model
from fer_edge.bench.timing import time_calls

SHAPES = ((24, 128), (12, 256))  # (map size, channels in = channels out)


def macs(size: int, channels: int) -> int:
    return size * size * 9 * channels * channels


def ceiling_paths(size: int = 24, channels: int = 128) -> dict[str, Path]:
    folder = Path(__file__).with_name("ceiling")
    stem = f"conv3x3_{size}x{channels}_int8"
    return {"tflite": folder / f"{stem}.tflite", "onnx": folder / f"{stem}.onnx"}


def measure_ceiling(fmt: str, threads: int, runs: int, warmup: int) -> dict:
    """MAC/s of each shipped single-convolution model (benchmarks/make_ceiling_models.py) and the best."""
    shapes = {}
    for size, channels in SHAPES:
        model = open_model(ceiling_paths(size, channels)[fmt], threads)
        item = np.random.default_rng(0).random((1, size, size, channels), dtype=np.float32)
        latency = time_calls(lambda m=model, x=item: m.run(x), runs=runs, warmup=warmup)
        count = macs(size, channels)
        rate = count / (latency["p50_ms"] / 1e3)
        shapes[f"{size}x{size}x{channels}"] = {"macs": count, "latency": latency, "macs_per_second": rate}
    return {"shapes": shapes, "macs_per_second": max(s["macs_per_second"] for s in shapes.values())}
