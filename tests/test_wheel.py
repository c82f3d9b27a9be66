"""The wheel a user installs: built from this tree and installed into a fresh venv without any extra (no
TensorFlow, no onnxruntime), every runtime command runs on the shipped model, and the TensorFlow commands say
which extra they need in one line."""

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_noise_clip as write_clip

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def site_packages(environment: Path) -> Path:
    [site] = list(environment.glob("lib/python*/site-packages")) or list(environment.glob("Lib/site-packages"))
    return site


def site_packages_mb(environment: Path) -> float:
    return sum(f.stat().st_size for f in site_packages(environment).rglob("*") if f.is_file()) / 1e6


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv holding only the wheel and its base dependencies."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = tmp_path / "src"  # a copy without runs/, bundles/ or the venv, so the build sees only the package
    ignore = shutil.ignore_patterns(".venv", "runs", "bundles", "reports", ".git", "*.egg-info", "build", "dist")
    shutil.copytree(ROOT, source, ignore=ignore)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = list((tmp_path / "dist").glob("fer_edge-*.whl"))
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    bin_dir = environment / ("Scripts" if os.name == "nt" else "bin")
    done = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"runtime install: {site_packages_mb(environment):.0f} MB of site-packages")
    return bin_dir


def fer_edge(bin_dir: Path, *args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FER_EDGE_DATA"}
    return subprocess.run(
        [str(bin_dir / "fer-edge"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=environment,
    )


def test_the_base_install_has_no_tensorflow_nor_onnxruntime_and_prints_its_version(installed):
    listed = subprocess.run([str(installed / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "onnxruntime", "tf2onnx"}, names
    version = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    shown = fer_edge(installed, "--version", cwd=ROOT)
    assert shown.returncode == 0 and shown.stdout.strip() == f"fer-edge {version}"
    module = [str(installed / "python"), "-m", "fer_edge", "--version"]  # where pip's scripts are not on PATH
    as_module = subprocess.run(module, capture_output=True, text=True, cwd=installed)
    assert as_module.returncode == 0 and as_module.stdout.strip() == f"fer-edge {version}"
    in_checkout = subprocess.run(module, capture_output=True, text=True, cwd=ROOT)  # its fer_edge/ comes first
    assert in_checkout.returncode == 1 and "Traceback" not in in_checkout.stderr
    assert in_checkout.stderr.startswith("error: python -m fer_edge found the fer_edge/ folder of a source checkout")


def test_the_wheel_carries_the_licence_and_the_detectors_notice(installed):
    site = site_packages(installed.parent)
    [info] = list(site.glob("fer_edge-*.dist-info"))
    assert "Apache License" in (info / "licenses" / "LICENSE").read_text()
    assert "License-Expression: Apache-2.0" in (info / "METADATA").read_text()
    assert "Apache License" in (site / "fer_edge" / "models" / "detectors" / "NOTICE").read_text()


def test_run_answers_a_photo_and_a_video_and_says_when_there_is_no_face(installed, tmp_path):
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) is not installed")
    cv2.imwrite(str(tmp_path / "astronaut.png"), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((240, 320, 3), 90, np.uint8))
    photos = fer_edge(installed, "run", "--source", tmp_path, cwd=tmp_path)
    assert photos.returncode == 0, photos.stderr[-2000:]
    records = [json.loads(line) for line in photos.stdout.splitlines()]
    assert [(r["image"], r["kind"]) for r in records] == [("astronaut.png", "still"), ("wall.png", "none")]
    assert records[0]["label"] == "happy"
    assert "no face found in wall.png" in photos.stderr and "Traceback" not in photos.stderr

    clip = fer_edge(installed, "run", "--source", write_clip(tmp_path / "clip.avi"), "--no-detect", cwd=tmp_path)
    assert clip.returncode == 0, clip.stderr[-2000:]
    lines = [json.loads(line) for line in clip.stdout.splitlines()]
    assert len(lines) == 4 and "neutral" in lines[0]["probabilities"]  # the shipped model, 3-frame windows
    assert "INFO:" not in clip.stderr  # the native runtime's chatter stays quiet

    script = "from fer_edge import Recognizer\nprint(Recognizer().analyze('astronaut.png')[0].label)\n"
    api = subprocess.run([str(installed / "python"), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert api.returncode == 0 and api.stdout.strip() == "happy", api.stderr[-2000:]


def test_serve_eval_and_bench_run_on_the_shipped_model(installed, tmp_path):
    clip = write_clip(tmp_path / "clip.avi")
    served = fer_edge(
        installed, "serve", "--source", clip, "--no-detect", "--port", "0", "--exit-at-end", "--no-realtime",
        cwd=tmp_path,
    )  # fmt: skip
    assert served.returncode == 0, served.stderr[-2000:]
    assert "serving http://127.0.0.1:" in served.stdout

    rng = np.random.default_rng(0)
    for emotion in ("happy", "sad"):  # Kaggle's folder name: mapped to sadness
        (tmp_path / "faces" / emotion).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(tmp_path / "faces" / emotion / f"{i}.png"), rng.integers(0, 256, (48, 48), np.uint8))
    scored = fer_edge(installed, "eval", "--data", tmp_path / "faces", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert "accuracy" in scored.stdout

    benched = fer_edge(installed, "bench", "default", "--runs", "3", "--warmup", "1", "--out", "b", cwd=tmp_path)
    assert benched.returncode == 0, benched.stderr[-2000:]
    assert "no ONNX rows (pip install 'fer-edge[onnx]' adds them)" in benched.stderr
    report = (tmp_path / "b" / "bench.md").read_text()
    assert "tflite int8 streaming" in report and "Accuracy: not measured (no --data)." in report
    assert "None" not in report


@pytest.mark.parametrize("command", [["train", "--data", "."], ["export", "."]])
def test_train_and_export_name_the_extra_in_one_line(installed, tmp_path, command):
    result = fer_edge(installed, *command, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: fer-edge {command[0]} needs TensorFlow and Keras; install them with: pip install 'fer-edge[train]'"
    ]
    assert not list(tmp_path.iterdir()), "nothing written"


def test_onnx_without_onnxruntime_names_its_extra(installed, tmp_path):
    script = "from fer_edge.backends import OnnxModel\nOnnxModel('model.onnx')\n"
    onnx = subprocess.run([str(installed / "python"), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert onnx.returncode != 0 and "pip install 'fer-edge[onnx]'" in onnx.stderr
