"""The rolling window and bundle loading, on the tiny exported bundle from test_export."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("tf2onnx", reason="the train extra is needed to make the tiny bundle")

from fer_edge.buffer import FaceWindow, predict_still  # noqa: E402
from fer_edge.dataset import load_sequences  # noqa: E402
from fer_edge.errors import InputSpecError, ModelLoadError, UsageError  # noqa: E402
from fer_edge.evaluate import EvalConfig, Faces, bundle_scorer  # noqa: E402
from fer_edge.model import EmotionModel  # noqa: E402
from fer_edge.preprocess import mirror_odd_frames  # noqa: E402
from fer_edge.split import read_split  # noqa: E402
from fer_edge.stills import static_sequences  # noqa: E402


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


@pytest.mark.parametrize("streaming", [True, False])
def test_a_bundle_that_mirrors_odd_frames_does_so_on_every_path(bundle, tmp_path, streaming):
    out, test = bundle
    copy = tmp_path / "mirrored"
    shutil.copytree(out, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["preprocess"]["mirror_odd_frames"] = True
    (copy / "manifest.json").write_text(json.dumps(manifest))
    plain = EmotionModel(out, "tflite", "float32", streaming=streaming)
    mirrored = EmotionModel(copy, "tflite", "float32", streaming=streaming)
    assert mirrored.mirror_odd_frames and not plain.mirror_odd_frames

    noise = np.random.default_rng(3).random((4, 48, 48, 1)).astype(np.float32)  # not symmetric, unlike faces
    stream = np.concatenate([test.frames[0], noise])
    window = FaceWindow(mirrored)
    for t, face in enumerate(stream):  # the windows alternate: [x, mirrored, x], then [mirrored, x, mirrored]
        got = window.push(face)
        if t < 2:
            assert got is None
            continue
        start = t - 2
        expected = plain.predict_window(mirror_odd_frames(stream[start : t + 1], start))
        np.testing.assert_allclose(got, expected, atol=1e-6)
        np.testing.assert_allclose(mirrored.predict_window(stream[start : t + 1], start), expected, atol=1e-6)
    assert not np.allclose(got, plain.predict_window(stream[-3:]), atol=1e-4)  # the rule changes something

    still = noise[0]
    both_sides = plain.predict_window(np.stack([still, still[:, ::-1], still]))
    np.testing.assert_allclose(predict_still(mirrored, still), both_sides, atol=1e-6)
    scorer = bundle_scorer(EvalConfig(str(copy), "", format="tflite", precision="float32", streaming=streaming))
    faces = Faces(static_sequences(noise[:1]), [], ["happy"], ["x"], "stills")
    np.testing.assert_allclose(scorer.predict(faces)[0], both_sides, atol=1e-6)  # fer-edge eval too
    assert "odd frames mirrored" in scorer.name  # and it says so


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
