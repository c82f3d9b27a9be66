"""The rolling window and bundle loading, on the tiny exported bundle from test_export."""

import shutil

import numpy as np
import pytest

pytest.importorskip("tf2onnx", reason="the train extra is needed to make the tiny bundle")

from fer_edge.buffer import FaceWindow  # noqa: E402
from fer_edge.dataset import load_sequences  # noqa: E402
from fer_edge.errors import InputSpecError, ModelLoadError, UsageError  # noqa: E402
from fer_edge.model import EmotionModel  # noqa: E402
from fer_edge.split import read_split  # noqa: E402


@pytest.fixture
def bundle(tiny_bundle):
    data, run, out, _ = tiny_bundle
    return out, load_sequences(data).select(read_split(run / "split.json").test)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_streaming_window_gives_the_whole_models_prediction(bundle, fmt, precision):
    out, test = bundle
    whole = EmotionModel(out, fmt, precision, streaming=False)
    window = FaceWindow(EmotionModel(out, fmt, precision, streaming=True))
    frames = test.frames[0]
    assert window.push(frames[0]) is None and window.push(frames[1]) is None  # no claim before 3 frames
    streamed = window.push(frames[2])
    expected = whole.predict_window(frames)
    assert streamed.shape == (5,) and streamed.argmax() == expected.argmax()
    if precision == "float32":
        np.testing.assert_allclose(streamed, expected, atol=1e-5)
    # rolling on: the next push predicts frames 1, 2 and the new one
    rolled = window.push(test.frames[1, 0])
    np.testing.assert_allclose(rolled, window.model.head(np.stack(list(window.items))), atol=1e-6)
    window.reset()
    assert not window.full and window.push(frames[0]) is None


def test_a_damaged_model_file_is_refused_before_loading(bundle, tmp_path):
    out, _ = bundle
    copy = tmp_path / "bundle"
    shutil.copytree(out, copy)
    target = copy / "encoder_int8.tflite"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match="does not match the sha256"):
        EmotionModel(copy, "tflite", "int8")
    target.unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        EmotionModel(copy, "tflite", "int8")


def test_wrong_window_shape_and_missing_variant_are_clear_errors(bundle):
    out, _ = bundle
    model = EmotionModel(out, "onnx", "float32", streaming=False)
    with pytest.raises(InputSpecError, match="expected a window of shape"):
        model.predict_window(np.zeros((2, 48, 48, 1), np.float32))
    with pytest.raises(UsageError, match="has no int16"):
        EmotionModel(out, "tflite", "int16")
