"""The runtime must start without TensorFlow: checked in a fresh interpreter, as typer checks rich."""

import json
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "tf2onnx", "sklearn", "matplotlib", "onnx")

SCRIPT = """
import json, sys, pkgutil, importlib
import fer_edge
for module in pkgutil.walk_packages(fer_edge.__path__, "fer_edge."):  # subpackages too (fer_edge.cli, .bench)
    if module.name.split(".")[1] not in ("train", "export"):
        importlib.import_module(module.name)
from typer.testing import CliRunner
from fer_edge.cli import app
for command in ([], ["run"], ["serve"], ["watch"], ["eval"], ["bench"], ["train"], ["export"]):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
print(json.dumps(sorted(sys.modules)))
"""


def test_runtime_modules_and_cli_help_load_no_heavy_framework():
    output = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    loaded = {name.split(".")[0] for name in json.loads(output)}
    assert "fer_edge" in loaded and "cv2" in loaded
    assert not loaded & set(HEAVY), f"runtime imported {sorted(loaded & set(HEAVY))}"
