"""The wheel a user installs: built from this tree, installed into a fresh venv without TensorFlow or
onnxruntime, it runs the shipped model on a short clip (issue 20: the runtime install stays small)."""

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_clip(path: Path, frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48), isColor=False)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (48, 48), dtype=np.uint8))
    writer.release()
    return path


def site_packages_mb(environment: Path) -> float:
    [site] = list(environment.glob("lib/python*/site-packages")) or list(environment.glob("Lib/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6


@pytest.mark.slow
def test_the_wheel_installs_without_tensorflow_or_onnxruntime_and_runs_the_shipped_model(tmp_path):
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
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    listed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not names & {"tensorflow", "tensorflow-cpu", "keras", "onnxruntime", "tf2onnx"}, names
    print(f"runtime install: {site_packages_mb(environment):.0f} MB of site-packages ({len(names)} packages)")

    clip = write_clip(tmp_path / "clip.avi")
    ran = subprocess.run(
        [str(bin_dir / "fer-edge"), "run", "--source", str(clip), "--no-detect"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 4 and "neutral" in lines[0]["probabilities"]  # the shipped model, 3-frame windows
    assert "INFO:" not in ran.stderr  # the native runtime's chatter stays quiet
    script = "from fer_edge.backends import OnnxModel\nOnnxModel('model.onnx')\n"
    onnx = subprocess.run([str(bin_dir / "python"), "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert onnx.returncode != 0 and "pip install 'fer-edge[onnx]'" in onnx.stderr  # the extra is named
