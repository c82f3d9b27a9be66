#!/usr/bin/env python3
"""Do a bundle's .tflite files load and run in tflite-runtime 2.14 (the wheel many Raspberry Pi OS installs carry)?

tflite-runtime 2.14 needs numpy<2, so it gets its own virtual environment (default ~/.cache/fer-edge/
venv-tflite-2.14, outside the repo). Each model is loaded and invoked once on zeros in a subprocess of that
environment on the same seeded random inputs that ai-edge-litert gets here; the result per file is `ok` with
the largest output difference between the two runtimes, or the runtime's first error line (for example an op
version it does not know).

    python benchmarks/tflite_runtime_compat.py bundles/edge-w1 [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import numpy as np

CHECK = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
inputs, results = np.load(sys.argv[1]), {}
for path in sys.argv[2:]:
    try:
        interpreter = Interpreter(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        outputs = []
        for item in inputs[path.rsplit("/", 1)[-1]]:
            interpreter.set_tensor(source["index"], item[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(target["index"])[0].astype(np.float64).tolist())
        results[path] = outputs
    except Exception as error:
        results[path] = str(error).strip().splitlines()[0]
print(json.dumps(results))
"""
SAMPLES = 8


def ensure_venv(directory: Path) -> Path:
    python = directory / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(directory)
        subprocess.run([python, "-m", "pip", "install", "-q", "tflite-runtime==2.14.0", "numpy<2"], check=True)
    return python


def reference_runs(files: list[Path]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Seeded random raw inputs for each model and the outputs ai-edge-litert gives for them."""
    from ai_edge_litert.interpreter import Interpreter

    rng = np.random.default_rng(0)
    inputs, outputs = {}, {}
    for path in files:
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        shape, dtype = (SAMPLES, *source["shape"][1:]), np.dtype(source["dtype"])
        if np.issubdtype(dtype, np.integer):
            raw = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape, endpoint=True, dtype=dtype)
        else:
            raw = rng.random(shape, dtype=np.float32)
        results = []
        for item in raw:
            interpreter.set_tensor(source["index"], item[None])
            interpreter.invoke()
            results.append(interpreter.get_tensor(target["index"])[0].astype(np.float64))
        inputs[path.name], outputs[path.name] = raw, np.stack(results)
    return inputs, outputs


def check_bundle(bundle: Path, python: Path) -> dict[str, str]:
    files = sorted(bundle.glob("*.tflite"))
    if not files:
        sys.exit(f"no .tflite files in {bundle}")
    inputs, expected = reference_runs(files)
    with tempfile.TemporaryDirectory() as scratch:
        np.savez(Path(scratch) / "inputs.npz", **inputs)
        command = [python, "-c", CHECK, str(Path(scratch) / "inputs.npz"), *map(str, files)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    results = {}
    for key, value in json.loads(output).items():
        name = Path(key).name
        if isinstance(value, str):
            results[name] = value
        else:
            difference = np.abs(np.asarray(value) - expected[name]).max()
            results[name] = f"ok, max |output difference| vs ai-edge-litert {difference:.3g} (int8 steps or float)"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "fer-edge" / "venv-tflite-2.14")
    args = parser.parse_args()
    results = check_bundle(args.bundle, ensure_venv(args.venv))
    for name, outcome in results.items():
        print(f"{name:<24} {outcome}")
    sys.exit(0 if all(v.startswith("ok") for v in results.values()) else 1)


if __name__ == "__main__":
    main()
