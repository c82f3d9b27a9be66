"""A bundle's int8 encoder recovered as float Keras weights computes what the int8 file computes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")

from fer_edge.backends import load_interpreter  # noqa: E402
from fer_edge.cli import app  # noqa: E402
from fer_edge.errors import UsageError  # noqa: E402
from fer_edge.train.recover import recover_encoder, write_recovered  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "fer_edge" / "models" / "default"


def faces(count: int, seed: int = 0) -> np.ndarray:
    """Smooth synthetic 'faces': blurred noise with a bright oval, in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    oval = (((yy - 24) / 20) ** 2 + ((xx - 24) / 15) ** 2 < 1).astype(np.float32)
    noise = rng.random((count, 12, 12)).repeat(4, axis=1).repeat(4, axis=2)
    return np.clip(0.5 * oval + 0.5 * noise, 0, 1).astype(np.float32)[..., None]


def int8_features(images: np.ndarray) -> np.ndarray:
    interpreter = load_interpreter(DEFAULT / "encoder_int8.tflite")
    given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    (in_scale, in_zero), (out_scale, out_zero) = given["quantization"], taken["quantization"]
    features = []
    for image in images:
        interpreter.set_tensor(given["index"], np.round(image[None] / in_scale + in_zero).astype(np.int8))
        interpreter.invoke()
        features.append((interpreter.get_tensor(taken["index"]).astype(np.float32) - out_zero) * out_scale)
    return np.concatenate(features).reshape(len(images), -1)


def test_recovered_encoder_matches_the_shipped_int8_encoder():
    import keras

    images = faces(96)
    encoder = recover_encoder(DEFAULT, 0.5, images[:64])
    recovered = encoder.predict(images[64:], verbose=0)
    quantized = int8_features(images[64:])
    assert recovered.shape == quantized.shape
    assert np.corrcoef(recovered.ravel(), quantized.ravel())[0, 1] > 0.98
    # each batch norm is the identity in inference mode: its statistics are the conv output's own
    bn = encoder.get_layer("bn1")
    gamma, beta, mean, variance = bn.get_weights()
    assert np.allclose(gamma, np.sqrt(variance + bn.epsilon)) and np.allclose(beta, mean)
    assert np.all(variance > 0)
    keras.backend.clear_session()


def test_recovering_at_the_wrong_width_says_so(tmp_path):
    with pytest.raises(UsageError, match="does not match a width-0.25 encoder"):
        recover_encoder(DEFAULT, 0.25, faces(4))
    assert not (tmp_path / "out").exists()


def test_written_stage_one_folder_records_its_bundle(tmp_path):
    import keras

    out = write_recovered(DEFAULT, 0.5, faces(16), tmp_path / "recovered")
    record = json.loads((out / "pretrain.json").read_text())
    assert record["config"] == {"width": 0.5, "epochs": 0}
    source = record["recovered_from"]
    assert source["file"] == "encoder_int8.tflite" and source["statistics_stills"] == 16
    assert (out / "encoder.weights.h5").stat().st_size > 1_000_000
    keras.backend.clear_session()


def test_pretrain_from_a_bundle_checks_its_width_and_encoder(synthetic_ck48, synthetic_stills, tmp_path):
    base = ["train", "--recipe", "wild", "--data", str(synthetic_ck48), "--stills", str(synthetic_stills)]
    base += ["--out", str(tmp_path / "r")]
    narrow = CliRunner().invoke(app, [*base, "--width", "0.25", "--pretrain-from", str(DEFAULT)])
    assert narrow.exit_code == 2 and "has width 0.5, this run 0.25" in narrow.output
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["part"] != "encoder"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    headless = CliRunner().invoke(app, [*base, "--width", "0.5", "--pretrain-from", str(bundle)])
    assert headless.exit_code == 2 and "has no int8 TFLite encoder" in headless.output
    assert not (tmp_path / "r").exists()
