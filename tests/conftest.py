"""Shared fixtures: a tiny synthetic CK+48-shaped tree, and the real CK+48 when it is present."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from fer_edge.dataset import DEFAULT_CLASSES

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT / ".." / "shared" / "data" / "CK+48"


def load_script(relative: str) -> ModuleType:
    """A script of the repository (benchmarks/*.py, tasks.py) as a module: scripts are files, not a package."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_synthetic_ck48(
    root: Path, classes=DEFAULT_CLASSES, subjects: int = 6, frames: int = 4, seed: int = 0
) -> Path:
    """root/<class>/S<subject>_<session>_<frame>.png: every subject has one session per class.

    Each class draws a bar in its own place so that a model can learn something; a few images are
    64x64 colour to exercise the conversion to 48x48 grayscale.
    """
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for subject in range(1, subjects + 1):
            base = rng.integers(60, 120, size=(48, 48)).astype(np.uint8)
            for frame in range(1, frames + 1):
                image = base.copy()
                row = 4 + 8 * label
                image[row : row + 6, 8:40] = 200 + 10 * frame
                path = folder / f"S{100 + subject:03d}_{label + 1:03d}_{frame:08d}.png"
                if subject == 1 and frame == frames:
                    image = cv2.resize(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), (64, 64))
                cv2.imwrite(str(path), image)
    return root


# Kaggle's FER2013 folder names -> the row of the bar a synthetic still draws (CK+48's classes share rows with
# write_synthetic_ck48 so that one model can learn both; neutral draws none).
STILL_ROWS = {"happy": 0, "surprise": 1, "angry": 2, "sad": 3, "fear": 4, "disgust": 5, "neutral": None}


def write_synthetic_stills(root: Path, per_class: int = 8, seed: int = 1, folders=tuple(STILL_ROWS)) -> Path:
    """root/{train,val}/<kaggle name>/<n>.jpg: 48x48 grayscale stills, a bar per class as in the sequences."""
    rng = np.random.default_rng(seed)
    for part, count in (("train", per_class), ("val", max(2, per_class // 2))):
        for name in folders:
            folder = root / part / name
            folder.mkdir(parents=True)
            for n in range(count):
                image = rng.integers(60, 120, size=(48, 48)).astype(np.uint8)
                if STILL_ROWS[name] is not None:
                    row = 4 + 8 * STILL_ROWS[name]
                    image[row : row + 6, 8:40] = 220
                cv2.imwrite(str(folder / f"{part}_{n:05d}.jpg"), image)
    return root


def write_still_csv(path: Path, rows: list[tuple[int, np.ndarray, str]]) -> Path:
    """fer2013.csv: (emotion code, 48x48 uint8 image, Usage) per row."""
    lines = ["emotion,pixels,Usage"]
    lines += [f"{code},{' '.join(str(int(v)) for v in image.ravel())},{usage}" for code, image, usage in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_noise_clip(path: Path, frames: int = 6) -> Path:
    """A 48x48 gray MJPG video of noise at 10 frames/s: with --no-detect, every frame is a face crop."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48), isColor=False)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (48, 48), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def synthetic_stills(tmp_path: Path) -> Path:
    return write_synthetic_stills(tmp_path / "FER2013")


@pytest.fixture
def synthetic_ck48(tmp_path: Path) -> Path:
    return write_synthetic_ck48(tmp_path / "CK+48")


@pytest.fixture(scope="session")
def real_ck48() -> Path:
    if not (REAL_DATA / "happy").is_dir():
        pytest.skip(f"real CK+48 not found at {REAL_DATA} (research-only licence, not in the repo)")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset, run folder): a width-0.0625 model trained for 2 epochs on a synthetic tree, made once."""
    pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")
    from fer_edge.train.training import TrainConfig, train

    root = tmp_path_factory.mktemp("tiny")
    data = write_synthetic_ck48(root / "CK+48")
    run = root / "run"
    train(TrainConfig(data=str(data), out=str(run), width=0.0625, epochs=2, batch_size=8), log=lambda line: None)
    return data, run


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory) -> Path:
    """A stand-in for the fer package's model: (1, 64, 64, 1) float in, 7 class probabilities out (TFLite)."""
    pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")
    import keras
    import tensorflow as tf

    inputs = keras.Input((64, 64, 1), batch_size=1)
    outputs = keras.layers.Dense(7, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    path = tmp_path_factory.mktemp("reference") / "emotion_model.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run, tmp_path_factory) -> tuple[Path, Path, Path, str]:
    """(dataset, run, bundle, CLI output): `fer-edge export --int8` of the tiny run, made once.

    The first test to use `tiny_run` (test_bench's first) comes before the first to use this, so that neither
    setup carries both the training and the export."""
    pytest.importorskip("tf2onnx", reason="the train extra (TensorFlow, tf2onnx) is not installed")
    from typer.testing import CliRunner

    from fer_edge.cli import app

    data, run = tiny_run
    out = tmp_path_factory.mktemp("export") / "bundle"
    args = ["export", str(run), "--int8", "--data", str(data), "--out", str(out), "--min-agreement", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return data, run, out, result.output
