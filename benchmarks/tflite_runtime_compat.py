#!/usr/bin/env python3
"""Do a bundle's .tflite files load and run in tflite-runtime 2.14 (the wheel many Raspberry Pi OS installs carry)?

tflite-runtime 2.14 needs numpy<2, so it gets its own virtual environment (default ~/.cache/fer-edge/
venv-tflite-2.14, outside the repo). Each model is loaded and invoked once on zeros in a subprocess of that
environment; the result per file is `ok` or the runtime's first error line (for example an op version it
does not know).

    python benchmarks/tflite_runtime_compat.py bundles/edge-w1 [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path

CHECK = r"""
import json, sys
import numpy as np
from tflite_runtime.interpreter import Interpreter
results = {}
for path in sys.argv[1:]:
    try:
        interpreter = Interpreter(model_path=path)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
        interpreter.invoke()
        results[path] = "ok"
    except Exception as error:
        results[path] = str(error).strip().splitlines()[0]
print(json.dumps(results))
"""


def ensure_venv(directory: Path) -> Path:
    python = directory / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(directory)
        subprocess.run([python, "-m", "pip", "install", "-q", "tflite-runtime==2.14.0", "numpy<2"], check=True)
    return python


def check_bundle(bundle: Path, python: Path) -> dict[str, str]:
    files = sorted(str(p) for p in bundle.glob("*.tflite"))
    if not files:
        sys.exit(f"no .tflite files in {bundle}")
    output = subprocess.run([python, "-c", CHECK, *files], capture_output=True, text=True, check=True).stdout
    return {Path(k).name: v for k, v in json.loads(output).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "fer-edge" / "venv-tflite-2.14")
    args = parser.parse_args()
    results = check_bundle(args.bundle, ensure_venv(args.venv))
    for name, outcome in results.items():
        print(f"{name:<24} {outcome}")
    sys.exit(0 if all(v == "ok" for v in results.values()) else 1)


if __name__ == "__main__":
    main()
