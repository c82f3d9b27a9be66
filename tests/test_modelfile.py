"""Untrusted model files: refused before native code where the damage is visible, never a crash or a hang.

Uses the model files that ship in the package (no TensorFlow needed): the default bundle and the ceiling
convolution in both formats."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from fer_edge.bench.ceiling import ceiling_paths
from fer_edge.cli import app
from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.errors import ModelLoadError
from fer_edge.modelfile import LFS_POINTER, check_model_file

TFLITE = DEFAULT_BUNDLE / "full_int8.tflite"
ONNX = ceiling_paths()["onnx"]


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda tflite, onnx: b"", "plausible model size"),
        (lambda tflite, onnx: tflite[:40], "plausible model size"),
        (lambda tflite, onnx: bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8)), "not a TFLite model"),
        (lambda tflite, onnx: onnx, "looks like ONNX: rename it to .onnx"),
        (lambda tflite, onnx: LFS_POINTER + b"\noid sha256:abc\nsize 1555064\n" + b" " * 64, "git lfs pull"),
        (lambda tflite, onnx: b"\xff\xff\xff\x7fTFL3" + tflite[8:], "root table offset"),
    ],
)
def test_damaged_tflite_files_are_refused_before_native_code(tmp_path, make, fragment):
    path = tmp_path / "model.tflite"
    path.write_bytes(make(TFLITE.read_bytes(), ONNX.read_bytes()))
    with pytest.raises(ModelLoadError, match=fragment.replace("(", r"\(")):
        check_model_file(path)


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda tflite, onnx: tflite, "TFLite model, not ONNX"),
        (lambda tflite, onnx: onnx[: len(onnx) // 2], "runs past the end"),
        (lambda tflite, onnx: bytes(np.random.default_rng(1).integers(0, 256, 4096, np.uint8)), "not a usable ONNX"),
    ],
)
def test_damaged_onnx_files_are_refused_before_native_code(tmp_path, make, fragment):
    path = tmp_path / "model.onnx"
    path.write_bytes(make(TFLITE.read_bytes(), ONNX.read_bytes()))
    with pytest.raises(ModelLoadError, match=fragment):
        check_model_file(path)


def test_onnx_with_external_data_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx package (train extra) writes the external-data file")
    model = onnx.load(str(ONNX))
    onnx.save_model(
        model, str(tmp_path / "model.onnx"), save_as_external_data=True, location="model.onnx.data", size_threshold=0
    )
    assert (tmp_path / "model.onnx.data").exists()
    with pytest.raises(ModelLoadError, match="external data"):
        check_model_file(tmp_path / "model.onnx")


LOAD = """
import sys, numpy as np
from fer_edge.backends import open_model
from fer_edge.errors import FerEdgeError
try:
    model = open_model(sys.argv[1], threads=1)
    model.run(np.zeros((1, *model.input.shape[1:]), np.float32))
    print("loaded")
except FerEdgeError as error:
    print("refused:", error)
    sys.exit(1)
"""


def damaged(data: bytes, rng: np.random.Generator, other: bytes) -> bytes:
    kind = rng.integers(3)
    if kind == 0:  # truncate
        return data[: int(rng.integers(8, len(data)))]
    if kind == 1:  # flip bytes
        out = bytearray(data)
        for position in rng.integers(0, len(data), int(rng.integers(1, 16))):
            out[position] ^= int(rng.integers(1, 256))
        return bytes(out)
    cut = int(rng.integers(8, min(len(data), len(other))))  # splice two files
    return data[:cut] + other[cut:]


@pytest.mark.parametrize("source", [TFLITE, ONNX], ids=["tflite", "onnx"])
def test_fuzzed_models_load_or_are_refused_never_crash_or_hang(tmp_path, source):
    rng = np.random.default_rng(7)
    original = source.read_bytes()
    other = (ONNX if source == TFLITE else TFLITE).read_bytes()
    outcomes = []
    for case in range(12):
        path = tmp_path / f"case{case}{source.suffix}"
        path.write_bytes(damaged(original, rng, other))
        done = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode in (0, 1), f"case {case} died with {done.returncode}: {done.stderr[-300:]}"
        outcomes.append(done.stdout.split(":")[0].strip())
    assert "refused" in outcomes  # the damage is real: at least some files must be refused


def test_a_bit_flipped_bundle_file_is_refused_by_its_sha256(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    data = bytearray((bundle / "encoder_int8.tflite").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / "encoder_int8.tflite").write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["run", "--bundle", str(bundle), "--source", str(tmp_path)])
    assert result.exit_code == 1 and "does not match the sha256" in result.output
