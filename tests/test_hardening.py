"""Rows of the bad-input matrix not covered elsewhere, on the shipped model (no TensorFlow needed)."""

import json
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fer_edge.cli import app
from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.errors import ModelLoadError
from fer_edge.model import EmotionModel
from fer_edge.run import RunConfig, RunStats, predictions


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def copy_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    return bundle


def test_a_folder_that_is_not_a_bundle_is_a_usage_error(tmp_path):
    result = invoke("run", "--bundle", tmp_path, "--source", tmp_path)
    assert result.exit_code == 2 and "has no manifest.json" in result.output


@pytest.mark.parametrize("field, value", [("shape", [1, 64, 64, 1]), ("dtype", "float32")])
def test_a_model_whose_input_differs_from_its_manifest_is_refused_at_load(tmp_path, field, value):
    bundle = copy_bundle(tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    encoder = next(a for a in manifest["artifacts"] if a["part"] == "encoder")
    encoder["inputs"][0][field] = value
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="but its manifest says"):
        EmotionModel(bundle)


def test_no_verify_skips_the_hash_but_a_damaged_file_still_gives_an_answer(tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "head_int8.tflite").write_bytes(b"\x00" * 100)
    faces = tmp_path / "faces"
    faces.mkdir()
    result = invoke("run", "--bundle", bundle, "--source", faces, "--no-verify")
    assert result.exit_code == 1 and "TFL3" in result.output and "Traceback" not in result.output


def test_folder_source_skips_and_lists_unreadable_images_and_reads_odd_names(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    for name in ("a.png", "b_été_😀.png", "d.png"):
        cv2.imencode(".png", face)[1].tofile(folder / name)  # tofile: works for any file name
    cv2.imencode(".png", np.zeros((4000, 4000), np.uint8))[1].tofile(folder / "z_huge.png")
    (folder / "e_empty.png").write_bytes(b"")
    (folder / "f_corrupt.png").write_bytes(b"\x89PNG not really")
    stats = RunStats()
    config = RunConfig(source=str(folder), bundle=str(DEFAULT_BUNDLE), detect=False, images="sequence")
    found = list(predictions(config, stats))
    assert stats.source.read == 4 and stats.faces == 4
    assert sorted(p.split("/")[-1] for p in stats.source.skipped) == ["e_empty.png", "f_corrupt.png"]
    assert len(found) == 1 and stats.resets == 1  # the huge last frame has another resolution: a new window


def test_nan_outputs_are_flagged_invalid_not_reported_as_an_emotion(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 48), 100, np.uint8))
    monkeypatch.setattr(EmotionModel, "head", lambda self, features: np.full(len(self.classes), np.nan, np.float32))
    config = RunConfig(source=str(folder), bundle=str(DEFAULT_BUNDLE), detect=False, images="sequence")
    [prediction] = list(predictions(config))
    assert prediction.label == "invalid" and prediction.confidence == 0.0


def test_an_h5_model_is_never_loaded(tmp_path):
    (tmp_path / "DCNN_model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    result = invoke("export", tmp_path / "DCNN_model.h5")
    assert result.exit_code == 2 and ".h5 models are never loaded" in result.output
