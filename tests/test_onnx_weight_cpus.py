"""The ONNX weight-bits benchmark's runner: the features it brings back from another interpreter are the model's."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

onnx = pytest.importorskip("onnx", reason="onnx is not installed")

onnx_weight_cpus = load_script("benchmarks/onnx_weight_cpus.py")


def _matmul_model(path: Path, weights: np.ndarray) -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, weights.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, weights.shape[1]])],
        [numpy_helper.from_array(weights, "w")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("cpu", ["native", "haswell"])
def test_features_come_back_from_each_interpreter(tmp_path, cpu):
    if cpu == "haswell" and shutil.which("qemu-x86_64-static") is None:
        pytest.skip("qemu-x86_64-static is not installed (Debian package qemu-user-static)")
    rng = np.random.default_rng(0)
    weights, images = rng.normal(size=(6, 3)).astype(np.float32), rng.random((70, 6), dtype=np.float32)
    model, source = tmp_path / "m.onnx", tmp_path / "images.npy"
    _matmul_model(model, weights)
    np.save(source, images)
    features = onnx_weight_cpus.features_on(cpu, model, source, tmp_path, tmp_path / "cache")
    assert features.shape == (70, 3)  # two batches of the runner's 64, joined in order
    np.testing.assert_allclose(features, images @ weights, rtol=1e-5, atol=1e-5)


def test_a_failing_run_names_the_cpu(tmp_path):
    source = tmp_path / "images.npy"
    np.save(source, np.zeros((2, 6), np.float32))
    with pytest.raises(SystemExit, match="native: the encoder run failed"):
        onnx_weight_cpus.features_on("native", tmp_path / "missing.onnx", source, tmp_path, tmp_path / "cache")
