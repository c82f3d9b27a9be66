"""Latency statistics the same way everywhere: warm-up runs excluded, perf_counter_ns, medians and percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def time_calls(call: Callable[[], object], runs: int = 100, warmup: int = 10) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = np.empty(runs)
    for i in range(runs):
        started = time.perf_counter_ns()
        call()
        samples[i] = (time.perf_counter_ns() - started) / 1e6
    return {
        "runs": runs,
        "warmup": warmup,
        "mean_ms": float(samples.mean()),
        "std_ms": float(samples.std()),
        "min_ms": float(samples.min()),
        "p50_ms": float(np.percentile(samples, 50)),
        "p90_ms": float(np.percentile(samples, 90)),
        "p99_ms": float(np.percentile(samples, 99)),
        "max_ms": float(samples.max()),
    }
