"""The arm64 check's own logic, on x86 without emulation: arguments, parity comparison, report lines."""

import numpy as np
import pytest
from conftest import ROOT, load_script

pi_check = load_script("benchmarks/pi_check.py")


def test_defaults_are_the_pi_4_core_and_tflite_runtime():
    args = pi_check.parse_args([])
    assert args.cpu == "cortex-a72" and args.runtime == "tflite-runtime" and args.sequences == 12
    assert "fer-edge" in str(args.cache) and not str(args.cache).startswith(str(ROOT))


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
    assert result == {**expected, "passed": True, "flips": [], "near_tie_flips": 0}
    emulated[2] = [0.5, 0.3, 0.2]
    result = pi_check.compare(reference, emulated)
    assert result["same_class"] == 2 and not result["passed"] and result["near_tie_flips"] == 0
    assert result["flips"] == [{"window": 2, "x86_top_two_margin": pytest.approx(0.1, abs=1e-4)}]
    float_model = reference + np.array([0.0, 0.0, 0.05], np.float32)
    away = pi_check.compare(reference, emulated, float_model)["max_difference_from_float"]
    assert away == {"x86": pytest.approx(0.05, abs=1e-6), "arm64": pytest.approx(0.25, abs=1e-6)}
    with pytest.raises(ValueError, match="shapes differ"):
        pi_check.compare(reference, emulated[:2])
    tied = np.array([[0.4, 0.4, 0.2]], np.float32)  # an exact tie on x86 that arm64 breaks the other way
    result = pi_check.compare(tied, np.array([[0.39, 0.41, 0.2]], np.float32))
    assert result["passed"] and result["near_tie_flips"] == 1 and result["same_class"] == 0


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
    report["parity"]["tflite"].update(same_class=11, flips=[{"window": 4, "x86_top_two_margin": 0.03}])
    report["parity"]["tflite"]["max_difference_from_float"] = {"x86": 0.05, "arm64": 0.25}
    lines = pi_check.report_lines(report)
    assert lines[2] == "    max |dp| from the float Keras model: x86 0.05, arm64 0.25"
    assert lines[3] == "    window 4: class differs; top-two margin on x86 0.03 (a near-tie)"


HOST_CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel name\t: AMD EPYC\n"


def test_the_cortex_a72_cpuinfo_lists_each_cpu_as_the_pi_4s_core():
    text = pi_check.arm_cpuinfo(4)
    assert text.count("processor\t:") == 4 and text.count("CPU part\t: 0xd08") == 4
    assert "processor\t: 3\n" in text and pi_check.is_arm_cpuinfo(text)
    assert not pi_check.is_arm_cpuinfo(HOST_CPUINFO)


@pytest.mark.parametrize(
    ("choice", "shown", "root", "bind"),
    [
        ("auto", HOST_CPUINFO, True, True),
        ("auto", HOST_CPUINFO, False, False),
        ("auto", "CPU implementer\t: 0x41\n", True, False),
        ("emulator", HOST_CPUINFO, True, False),
        ("cortex-a72", "CPU implementer\t: 0x41\n", True, True),
    ],
)
def test_a_cortex_a72_cpuinfo_is_bound_only_when_needed_and_possible(choice, shown, root, bind, capsys):
    assert pi_check.choose_cpuinfo(choice, shown, root) is bind
    warned = "run as root" in capsys.readouterr().out
    assert warned == (choice == "auto" and not root)


def test_asking_for_the_cortex_a72_cpuinfo_without_root_says_why_it_cannot():
    with pytest.raises(SystemExit, match="run as root"):
        pi_check.choose_cpuinfo("cortex-a72", HOST_CPUINFO, False)


def test_the_bound_cpuinfo_wraps_the_emulator_in_a_private_mount_namespace(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(pi_check.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(pi_check.subprocess, "run", lambda command, **kw: seen.update(command=command, env=kw["env"]))
    pi_check.emulate(tmp_path, tmp_path / "site", "cortex-a72", ["-c", "pass"], cpuinfo=tmp_path / "cpuinfo")
    command = seen["command"]
    assert command[:3] == ["unshare", "-m", "sh"] and "mount --bind" in command[4]
    assert command[5] == str(tmp_path / "cpuinfo") and command[6] == "/usr/bin/qemu-aarch64-static"
    assert command[-2:] == ["-c", "pass"] and seen["env"]["QEMU_CPU"] == "cortex-a72"
    assert seen["env"]["PYTHONSAFEPATH"] == "1" and seen["env"]["PYTHONPATH"].endswith(str(tmp_path / "layout"))
    pi_check.emulate(tmp_path, tmp_path / "site", "cortex-a72", ["-c", "pass"])
    assert seen["command"][0] == "/usr/bin/qemu-aarch64-static"


def test_compare_boxes_needs_the_same_faces_in_every_frame():
    x86 = [[], [[10, 10, 100, 100]], [[10, 10, 100, 100], [300, 50, 80, 80]]]
    same = pi_check.compare_boxes(x86, [[], [[11, 10, 100, 100]], [[300, 50, 80, 80], [10, 10, 100, 100]]])
    assert same == {
        "frames": 3,
        "same_faces": 3,
        "faces_x86": 3,
        "faces_arm64": 3,
        "min_iou": pytest.approx(0.99, abs=0.01),
        "passed": True,
    }
    moved = pi_check.compare_boxes(x86, [[], [[40, 10, 100, 100]], [[10, 10, 100, 100]]])
    assert moved["same_faces"] == 1 and not moved["passed"] and moved["faces_arm64"] == 2
    with pytest.raises(ValueError, match="frame counts differ"):
        pi_check.compare_boxes(x86, x86[:2])


def test_the_detector_check_runs_the_same_script_as_the_emulated_side(real_ck48, tmp_path):
    """With this machine's python standing in for the emulator, both sides must agree exactly."""
    import subprocess
    import sys

    from fer_edge.bench.clip import write_face_clip
    from fer_edge.dataset import load_sequences

    data = load_sequences(real_ck48, ("happy", "surprise", "anger", "sadness", "fear"))
    clip = tmp_path / "clip.avi"
    write_face_clip(data.frames[:2], clip, gap=2)

    def run_here(args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True)

    result = pi_check.check_detector(clip, tmp_path, "ai-edge-litert", run_here)
    assert result["passed"] and result["frames"] == 2 * (2 + 3) + 2
    assert result["faces_x86"] == result["faces_arm64"] == 6 and result["min_iou"] == 1.0
    lines = pi_check.report_lines(
        {"cpu": "cortex-a72", "runtime": "ai-edge-litert", "status": "passed", "detector": result}
    )
    assert lines[1] == "  blazeface on the clip: 12/12 frames with the same faces (x86 6, arm64 6), min IoU 1.00"


def test_the_emulated_side_imports_the_package_as_installed_train_and_export_included(tmp_path):
    """The repo keeps train/ and export/ beside fer_edge/; pip installs them inside it, and the CLI imports one."""
    import subprocess
    import sys
    import sysconfig

    layout = pi_check.installed_layout(tmp_path / "layout")
    code = "import fer_edge.cli, fer_edge.export.ranges as r, fer_edge.train as t; print(r.__file__); print(t.__file__)"
    # -S: no .pth files, so this venv's editable install cannot find them for it; the libraries come from PYTHONPATH,
    # as on the emulated side
    path = f"{layout}:{sysconfig.get_paths()['purelib']}"
    command = [sys.executable, "-S", "-c", code]  # run from the repo: PYTHONSAFEPATH keeps its fer_edge/ out
    done = subprocess.run(command, env={"PYTHONPATH": path, "PYTHONSAFEPATH": "1"}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert done.stdout.decode().split() == [
        str(layout / "fer_edge" / "export" / "ranges.py"),
        str(layout / "fer_edge" / "train" / "__init__.py"),
    ]
    assert pi_check.installed_layout(tmp_path / "layout") == layout  # remade in place
