"""`fer-edge run` and its Python API on the tiny bundle: frames in, JSON lines and a summary out."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fer_edge.cli import app
from fer_edge.dataset import load_sequences
from fer_edge.split import read_split

pytest.importorskip("tf2onnx", reason="the train extra is needed to make the tiny bundle")


@pytest.fixture
def faces(tiny_bundle, tmp_path):
    """Two held-out sequences written as a folder of face crops (6 PNGs, in order), and their frames."""
    data, run, bundle, _ = tiny_bundle
    test = load_sequences(data).select(read_split(run / "split.json").test)
    frames = test.frames[:2].reshape(-1, 48, 48, 1)
    folder = tmp_path / "faces"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.round(frame[:, :, 0] * 255).astype(np.uint8))
    return bundle, folder, frames


def run_cli(*args):
    return CliRunner().invoke(app, ["run", *map(str, args)])


def test_folder_of_faces_gives_one_prediction_per_full_window(faces, tmp_path):
    from fer_edge.buffer import FaceWindow
    from fer_edge.model import EmotionModel

    bundle, folder, frames = faces
    out = tmp_path / "out.jsonl"
    result = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--images", "sequence", "--jsonl", out)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [2, 3, 4, 5]  # nothing claimed before 3 frames
    assert {(line["kind"], line["id"]) for line in lines} == {("window", 1)}
    window = FaceWindow(EmotionModel(bundle))
    expected = [p for p in (window.push(f) for f in frames) if p is not None]
    for line, probabilities in zip(lines, expected, strict=True):
        np.testing.assert_allclose(list(line["probabilities"].values()), probabilities, atol=1e-6)
        assert line["label"] in ("happy", "surprise", "anger", "sadness", "fear")
        assert set(line["latency_ms"]) == {"detect", "preprocess", "inference"}
    assert "frames 6 read" in result.output and "predictions 4" in result.output


def test_images_are_stills_by_default_every_one_answered_on_its_own(faces, tmp_path):
    from fer_edge.buffer import predict_still
    from fer_edge.model import EmotionModel

    bundle, folder, frames = faces
    result = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--jsonl", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["image"] for line in lines] == [f"{i:03d}.png" for i in range(6)]
    assert {(line["kind"], line["id"]) for line in lines} == {("still", 1)}
    model = EmotionModel(bundle)
    for line, frame in zip(lines, frames, strict=True):
        np.testing.assert_allclose(list(line["probabilities"].values()), predict_still(model, frame), atol=1e-6)
    whole = EmotionModel(bundle, streaming=False)  # a still is the face repeated: the whole model agrees
    np.testing.assert_allclose(predict_still(whole, frames[0]), predict_still(model, frames[0]), atol=0.05)
    single = run_cli("--bundle", bundle, "--source", folder / "000.png", "--no-detect")
    assert single.exit_code == 0 and "predictions 1" in single.output, single.output


def test_a_video_runs_to_its_end_with_a_summary(faces, tmp_path):
    bundle, _, frames = faces
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48), isColor=False)
    for frame in frames:
        writer.write(np.round(frame[:, :, 0] * 255).astype(np.uint8))
    writer.release()
    result = run_cli("--bundle", bundle, "--source", video, "--no-detect", "--format", "onnx", "--precision", "float32")
    assert result.exit_code == 0, result.output
    predictions = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(predictions) == 4 and "frames 6 read" in result.output


def test_frames_without_a_face_give_no_prediction(faces, tmp_path):
    bundle, _, _ = faces
    empty = tmp_path / "empty.png"
    cv2.imwrite(str(empty), np.full((480, 640), 90, np.uint8))
    result = run_cli("--bundle", bundle, "--source", empty)
    assert result.exit_code == 0, result.output
    assert "faces 0" in result.output and "predictions 0" in result.output


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("missing.mp4", "does not exist"),
        ("7", "cannot open camera 7; check that it is connected and not in use, or give a photo, video or folder"),
        ("corrupt.avi", "cannot open video"),
    ],
)
def test_unusable_sources_are_one_clear_line(faces, tmp_path, monkeypatch, source, fragment):
    bundle, _, _ = faces
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt.avi").write_bytes(b"\x00" * 1000)
    result = run_cli("--bundle", bundle, "--source", source)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0] and "Traceback" not in result.output


def test_fer_edge_run_never_loads_tensorflow(faces):
    bundle, folder, _ = faces
    script = (
        "import sys\n"
        "from fer_edge.cli import main\n"
        f"sys.argv = ['fer-edge', 'run', '--bundle', {str(bundle)!r}, '--source', {str(folder)!r}, '--no-detect', "
        "'--images', 'sequence']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf2onnx', 'sklearn'})\n"
        "print('HEAVY', heavy)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout
    assert output.count('"label"') == 4
    assert "HEAVY []" in output


def test_out_writes_the_overlay_video_and_refuses_to_overwrite(faces, tmp_path):
    bundle, folder, _ = faces
    out = tmp_path / "annotated.avi"
    result = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--images", "sequence", "--out", out)
    assert result.exit_code == 0, result.output
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 6 and frames[0].shape == (48, 48, 3)

    def green(image):  # pixels of the drawn bars; the grayscale input has none
        return int(np.sum((image[:, :, 1].astype(int) - image[:, :, 2]) > 60))

    assert green(frames[0]) == 0 and green(frames[1]) == 0  # window not full yet: nothing claimed
    assert all(green(f) > 10 for f in frames[2:])
    again = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--out", out)
    assert again.exit_code == 2 and "--force" in again.output


def test_out_draws_on_a_photo_and_on_each_photo_of_a_folder(faces, tmp_path):
    bundle, folder, _ = faces

    def green(image):  # pixels of the drawn bars; the grayscale input has none
        return int(np.sum((image[:, :, 1].astype(int) - image[:, :, 2]) > 60))

    photo = tmp_path / "photo.png"
    result = run_cli("--bundle", bundle, "--source", folder / "000.png", "--no-detect", "--out", photo)
    assert result.exit_code == 0 and "annotated image written" in result.output, result.output
    image = cv2.imread(str(photo))
    assert image.shape == (48, 48, 3) and green(image) > 10
    annotated = tmp_path / "annotated"
    result = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--out", annotated)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in annotated.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert all(green(cv2.imread(str(p))) > 10 for p in annotated.iterdir())
    refused = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--out", tmp_path / "one.jpg")
    assert refused.exit_code == 2 and "give a folder" in refused.output and not (tmp_path / "one.jpg").exists()


def test_show_without_a_display_is_one_clear_line(faces, monkeypatch):
    bundle, folder, _ = faces
    monkeypatch.delenv("DISPLAY", raising=False)
    result = run_cli("--bundle", bundle, "--source", folder, "--no-detect", "--show")
    if result.exit_code == 0:
        pytest.skip("this OpenCV has a GUI and a display: --show works here")
    assert result.exit_code == 2 and result.output.startswith("error: --show needs a display")


@pytest.mark.parametrize("name", ["full_int8.tflite", "full_float32.onnx"])
def test_a_bare_model_file_runs_whole_window_with_its_own_input_spec(faces, name):
    from fer_edge.buffer import FaceWindow
    from fer_edge.model import EmotionModel

    bundle, folder, frames = faces
    result = run_cli("--bundle", bundle / name, "--source", folder, "--no-detect", "--images", "sequence")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    window = FaceWindow(EmotionModel(bundle, name.split(".")[1], name.split("_")[1].split(".")[0], streaming=False))
    expected = [p for p in (window.push(f) for f in frames) if p is not None]
    for line, probabilities in zip(lines, expected, strict=True):
        np.testing.assert_allclose(list(line["probabilities"].values()), probabilities, atol=1e-6)


def test_a_bare_encoder_file_is_refused_with_a_hint(faces):
    bundle, folder, _ = faces
    result = run_cli("--bundle", bundle / "encoder_int8.tflite", "--source", folder, "--no-detect")
    assert result.exit_code == 1 and "a bare model file must take" in result.output
