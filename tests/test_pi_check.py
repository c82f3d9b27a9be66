"""The arm64 check's own logic, on x86 without emulation: arguments, parity comparison, report lines."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pi_check.py"
spec = importlib.util.spec_from_file_location("pi_check", SCRIPT)
pi_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pi_check)


def test_defaults_are_the_pi_4_core_and_tflite_runtime():
    args = pi_check.parse_args([])
    assert args.cpu == "cortex-a72" and args.runtime == "tflite-runtime" and args.sequences == 12
    assert "fer-edge" in str(args.cache) and not str(args.cache).startswith(str(SCRIPT.parents[1]))


@pytest.mark.parametrize("argv", [["--sequences", "0"], ["--runtime", "tensorflow"]])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        pi_check.parse_args(argv)
    assert exit_info.value.code == 2


def test_compare_counts_same_classes_and_the_largest_difference():
    reference = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]], np.float32)
    emulated = reference.copy()
    emulated[1] = [0.1, 0.58, 0.32]
    result = pi_check.compare(reference, emulated)
    expected = {"windows": 3, "same_class": 3, "max_probability_difference": pytest.approx(0.02, abs=1e-6)}
    assert result == {**expected, "passed": True}
    emulated[2] = [0.5, 0.3, 0.2]
    assert pi_check.compare(reference, emulated)["same_class"] == 2
    assert not pi_check.compare(reference, emulated)["passed"]
    with pytest.raises(ValueError, match="shapes differ"):
        pi_check.compare(reference, emulated[:2])


def test_report_lines_name_the_cpu_runtime_and_each_result():
    report = {
        "cpu": "cortex-a72",
        "runtime": "tflite-runtime",
        "status": "passed",
        "parity": {"tflite": {"windows": 12, "same_class": 12, "max_probability_difference": 0.004}},
        "run": {"exit": 0, "predictions": 3},
    }
    lines = pi_check.report_lines(report)
    assert lines[0] == "arm64 emulation (cortex-a72, tflite-runtime): passed"
    assert "12/12 same class" in lines[1] and "0.004" in lines[1]
    assert lines[2] == "  fer-edge run on a clip: exit 0, 3 predictions"
