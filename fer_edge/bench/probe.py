"""Start-up cost of one artifact, measured in a fresh process so that numbers do not bleed into each other.

    python -m fer_edge.bench.probe MODEL [--threads N] [--runs N --warmup N]   ->  one JSON line on stdout

Times: importing the runtime, loading the model, the first inference, the average of the next 10 (warm-up),
with --runs the latency statistics of that many more; peak resident memory of the whole process.
MODEL is a .tflite, an .onnx or (where TensorFlow is installed) a .keras file, loaded in safe mode.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fer_edge.bench.timing import time_calls


def load(path: Path, threads: int | None) -> tuple[Callable[[np.ndarray], object], tuple[int, ...]]:
    """A callable running one batch, and the input shape without the batch axis."""
    if path.suffix == ".keras":
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras

        model = keras.saving.load_model(path, safe_mode=True)
        serve = tf.function(lambda x: model(x, training=False))  # traced once, as a deployment would
        return serve, tuple(model.input_shape[1:])
    from fer_edge.backends import open_model

    runtime = open_model(path, threads)
    return runtime.run, runtime.input.shape[1:]


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux from VmHWM, which starts afresh at exec; ru_maxrss would
    carry over the high-water mark of the parent that forked this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)


def probe(path: Path, threads: int | None, runs: int = 0, warmup: int = 10) -> dict:
    started = time.perf_counter()
    if path.suffix == ".tflite":
        from fer_edge.backends import tflite_interpreter_class

        tflite_interpreter_class()
    else:
        importlib.import_module({".onnx": "onnxruntime", ".keras": "keras"}.get(path.suffix, "onnxruntime"))
    imported = time.perf_counter()
    run, shape = load(path, threads)
    loaded = time.perf_counter()
    item = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    run(item)
    first = time.perf_counter()
    for _ in range(10):
        run(item)
    warm = time.perf_counter()
    latency = time_calls(lambda: run(item), runs, warmup) if runs else None
    return {
        "latency": latency,
        "import_ms": (imported - started) * 1e3,
        "load_ms": (loaded - imported) * 1e3,
        "first_inference_ms": (first - loaded) * 1e3,
        "warmup_mean_ms": (warm - first) * 1e3 / 10,
        "to_first_result_ms": (first - started) * 1e3,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(probe(args.model, args.threads, args.runs, args.warmup)))


if __name__ == "__main__":
    main()
