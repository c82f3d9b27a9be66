"""The Python API: `Recognizer` on a photo or an array, on a video, and its one result type."""

import dataclasses
import importlib.metadata
import inspect
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import fer_edge
from fer_edge import Face, FerEdgeError, Recognizer
from fer_edge.boxes import iou
from fer_edge.cli import app
from fer_edge.errors import InputSpecError, UsageError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


def face_photo(path: Path | None = None) -> np.ndarray:
    """A real face in BGR: scikit-image's public-domain astronaut (Eileen Collins, NASA), 512x512."""
    image = cv2.cvtColor(
        pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) is not installed").astronaut(),
        cv2.COLOR_RGB2BGR,
    )
    if path is not None:
        cv2.imwrite(str(path), image)
    return image


def test_public_surface_is_what_all_names():
    """Everything `import fer_edge` offers besides its submodules is listed in __all__, and nothing else."""
    public = {n for n, v in vars(fer_edge).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert public == set(fer_edge.__all__) - {"__version__"}
    assert {"Recognizer", "Face", "FerEdgeError"} <= set(fer_edge.__all__)
    assert all(hasattr(fer_edge, name) for name in fer_edge.__all__)


def test_a_recognizer_shows_its_model_detector_and_classes(recognizer):
    assert repr(recognizer) == (
        "Recognizer(model='default', detector='blazeface', "
        "classes=('happy', 'surprise', 'anger', 'sadness', 'fear', 'neutral'))"
    )


def test_version_is_the_one_in_pyproject():
    declared = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert fer_edge.__version__ == declared == importlib.metadata.version("fer-edge")
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"fer-edge {declared}"


def test_a_photo_path_and_its_bgr_rgb_and_gray_arrays_give_the_same_faces(recognizer, tmp_path):
    image = face_photo(tmp_path / "face.png")
    from_file = recognizer.analyze(tmp_path / "face.png")
    assert len(from_file) == 1, "the drawn face is found"
    face = from_file[0]
    assert face.id == 1 and face.kind == "still" and face.image == "face.png"
    assert face.label in recognizer.classes and face.label == max(face.probabilities, key=face.probabilities.get)
    assert abs(sum(face.probabilities.values()) - 1) < 0.05
    x, y, w, h = face.box
    assert 180 < x + w / 2 < 270 and 80 < y + h / 2 < 170, "the box is on her face"
    bgr = recognizer.analyze(image)
    rgb = recognizer.analyze(np.ascontiguousarray(image[..., ::-1]), rgb=True)
    assert (
        [(f.label, f.box, f.probabilities) for f in rgb]
        == [(f.label, f.box, f.probabilities) for f in bgr]
        == [(face.label, face.box, face.probabilities)]
    ), "a colour array is the file"
    [gray] = recognizer.analyze(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))  # the detector sees less: a nearby box
    assert gray.label == face.label and iou(gray.box, face.box) > 0.8
    assert gray.probabilities == pytest.approx(face.probabilities, abs=0.05)


def test_draw_puts_the_box_and_label_on_a_copy_of_the_photo(recognizer, tmp_path):
    image = face_photo(tmp_path / "face.png")
    faces = recognizer.analyze(image)
    drawn = recognizer.draw(tmp_path / "face.png", faces)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    changed = np.any(drawn != image, axis=2)
    x, y, w, h = faces[0].box
    assert changed[y, x : x + w].mean() > 0.9, "the box's top edge is drawn"
    assert not changed[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4].any(), "the face itself is not covered"
    assert changed.mean() < 0.2 and (recognizer.draw(image, []) == image).all(), "nothing else is drawn"
    assert np.array_equal(recognizer.draw(np.ascontiguousarray(image[..., ::-1]), faces, rgb=True), drawn)


def test_no_face_is_an_empty_list_not_a_guess(recognizer):
    assert recognizer.analyze(np.full((240, 320), 128, np.uint8)) == []


@pytest.mark.parametrize(
    "image, fragment",
    [
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10, 2), np.uint8), "shape"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_bad_arrays_are_refused_with_what_was_expected(recognizer, image, fragment):
    with pytest.raises(InputSpecError, match=fragment):
        recognizer.analyze(image)


def test_a_missing_photo_and_unknown_options_are_one_clear_error(recognizer, tmp_path):
    with pytest.raises(InputSpecError, match="does not exist"):
        recognizer.analyze(tmp_path / "nope.jpg")
    with pytest.raises(UsageError, match="unknown options maxfaces"):
        Recognizer(maxfaces=2)
    with pytest.raises(UsageError, match="--max-faces"):
        Recognizer(max_faces=0)
    with pytest.raises(FerEdgeError, match="does not exist"):
        Recognizer(model=tmp_path / "missing-bundle")


def test_stream_yields_a_list_per_frame_and_to_dict_is_the_json_line(recognizer, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    image = face_photo()
    for shift in range(6):
        writer.write(np.roll(image, 4 * shift, axis=1))
    writer.release()
    frames = list(recognizer.stream(str(video)))
    assert len(frames) == 6
    assert [len(f) for f in frames[:2]] == [0, 0], "a window fills on a face's third frame"
    answered = [face for faces in frames for face in faces]
    assert len(answered) == 4 and {f.id for f in answered} == {1} and {f.kind for f in answered} == {"window"}
    assert all(isinstance(f, Face) for f in answered)

    result = CliRunner().invoke(app, ["run", "--source", str(video)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["frame"] for line in lines] == [f.frame for f in answered]
    for line, face in zip(lines, answered, strict=True):
        assert set(line) == {f.name for f in dataclasses.fields(Face)}
        assert line["id"] == face.id and line["label"] == face.label and line["box"] == list(face.box)
        assert line["probabilities"] == pytest.approx(face.probabilities)


def test_run_says_when_a_photo_has_no_face_and_writes_a_countable_record(tmp_path):
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((240, 320, 3), 90, np.uint8))
    face_photo(tmp_path / "face.png")
    result = CliRunner().invoke(app, ["run", "--source", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no face found in wall.png" in result.stderr and "face.png" not in result.stderr.split("frames ")[0]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    none = [r for r in records if r["kind"] == "none"]
    assert len(none) == 1 and none[0]["image"] == "wall.png" and none[0]["id"] is None and none[0]["box"] is None
    assert set(none[0]) == {f.name for f in dataclasses.fields(Face)}
    assert [r["image"] for r in records if r["kind"] == "still"] == ["face.png"]


class ScriptedDetector:
    """Finds one face at a fixed box in the frames listed, none elsewhere (calls counted as frames)."""

    def __init__(self, present: set[int], box=(40, 30, 80, 80)):
        self.present, self.box, self.calls = present, box, 0

    def detect(self, image):
        from fer_edge.boxes import Detection

        found = [Detection(self.box, 0.9)] if self.calls in self.present else []
        self.calls += 1
        return found


@pytest.mark.parametrize(
    "present, answered",
    [
        (set(range(10)), list(range(2, 10))),  # a window from the third frame on
        ({0, 1, 2, 3, 5, 6, 7}, [2, 3, 5, 6, 7]),  # missed once: the window goes on
        ({0, 1, 2, 3, 7, 8, 9}, [2, 3, 9]),  # missed for a window's span: same id, a new window
    ],
)
def test_a_missed_face_keeps_its_id_and_its_window_only_across_a_short_gap(recognizer, present, answered):
    from fer_edge.run import RunStats, process
    from fer_edge.sources import Frame

    rng = np.random.default_rng(0)
    frames = (Frame(rng.integers(0, 256, (160, 200), np.uint8), i, i / 15) for i in range(10))
    config = dataclasses.replace(recognizer.config, margin=0.0, level=False, lift=0.0)
    steps = list(process(frames, config, recognizer.model, ScriptedDetector(present), stills=False, stats=RunStats()))
    faces = [face for step in steps for face in step.predictions]
    assert [f.frame for f in faces] == answered
    assert {f.id for f in faces} == {1}
