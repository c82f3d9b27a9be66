"""`fer-edge eval`: scoring by name against a hand count, stills and sequences through the tiny bundle, photos
without a face, the reference model's row, and bad input as one line."""

import json

import cv2
import numpy as np
import pytest
from conftest import REAL_DATA, write_synthetic_stills
from typer.testing import CliRunner

from fer_edge.cli import app
from fer_edge.evaluate import score


def test_score_matches_a_hand_count():
    model = ("happy", "anger", "neutral")
    # six faces: happy, happy, anger, anger, neutral, disgust (the model has no disgust)
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],  # happy -> happy (right)
            [0.2, 0.3, 0.5],  # happy -> neutral (wrong; over happy/anger only: anger, still wrong)
            [0.1, 0.6, 0.3],  # anger -> anger (right)
            [0.4, 0.2, 0.4],  # anger -> happy (argmax takes the first of a tie; wrong)
            [0.1, 0.1, 0.8],  # neutral -> neutral (right)
            [0.9, 0.05, 0.05],  # disgust: not scored
        ]
    )
    labels = ["happy", "happy", "anger", "anger", "neutral", "disgust"]
    result = score(probabilities, labels, model, ["happy", "anger", "neutral", "disgust"])
    assert result["faces"] == 5 and result["accuracy"] == pytest.approx(3 / 5)
    assert result["recall"] == {"happy": 0.5, "anger": 0.5, "neutral": 1.0}
    assert result["not_scored"] == {"disgust": 1} and result["predicted_outside_data"] == {}
    # F1: happy 2*1/(2+2)=0.5, anger 2*1/(2+1)=2/3, neutral 2*1/(1+2)=2/3
    assert result["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert result["confusion"]["counts"] == [[1, 0, 1], [1, 1, 0], [0, 0, 1]]

    # the same faces on data without neutral: neutral predictions are errors the report names, and the
    # accuracy over the shared classes takes the argmax over happy and anger alone
    no_neutral = score(probabilities[:4], labels[:4], model, ["happy", "anger"])
    assert no_neutral["accuracy"] == pytest.approx(2 / 4)  # faces 1 and 3
    assert no_neutral["predicted_outside_data"] == {"neutral": 1}
    assert no_neutral["accuracy_shared"] == pytest.approx(2 / 4)  # faces 1 and 3; face 2 -> anger, face 4 -> happy
    assert no_neutral["shared_classes"] == ["happy", "anger"]

    # asked for fewer classes than the faces have (an 8-class model's held-out part scored on the seed classes):
    # the other faces are left out, whatever the model says of them
    asked = score(probabilities, labels, model, ["happy", "anger"])
    assert asked["faces"] == 4 and asked["not_scored"] == {"neutral": 1, "disgust": 1}
    assert asked["accuracy"] == no_neutral["accuracy"] and asked["recall"] == no_neutral["recall"]


pytest.importorskip("tf2onnx", reason="the train extra is needed to make the tiny bundle")


def eval_cli(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_stills_are_scored_and_labels_the_model_lacks_are_counted(tiny_bundle, tmp_path):
    _, _, bundle, _ = tiny_bundle
    stills = write_synthetic_stills(tmp_path / "FER", per_class=6)
    out = tmp_path / "report"
    result = eval_cli(bundle, "--data", stills, "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "eval.json").read_text())
    ours = report["models"][0]
    assert report["data"]["faces"] == 7 * 3 and ours["faces"] == 5 * 3
    assert ours["not_scored"] == {"disgust": 3, "neutral": 3}
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 15
    assert ours["accuracy"] == pytest.approx(sum(p["label"] == p["predicted"] for p in predictions) / 15)
    assert sum(map(sum, ours["confusion"]["counts"])) == 15
    assert cv2.imread(str(out / "confusion.png")) is not None
    assert "not scored (the model has no such class): disgust 3, neutral 3" in result.output


def test_sequences_score_the_bundles_held_out_part(tiny_bundle, tmp_path):
    from fer_edge.manifest import read_manifest

    data, _, bundle, _ = tiny_bundle
    heldout = read_manifest(bundle).heldout_metrics
    result = eval_cli(bundle, "--data", data, "--out", tmp_path / "r", "--precision", "float32", "--no-streaming")
    assert result.exit_code == 0, result.output
    ours = json.loads((tmp_path / "r" / "eval.json").read_text())["models"][0]
    assert ours["faces"] == len(heldout["ids"])
    # float32 whole-window TFLite agrees with the Keras probabilities the export recorded
    keras_right = np.mean(np.argmax(heldout["keras_probabilities"], axis=1) == np.array(heldout["labels"]))
    assert ours["accuracy"] == pytest.approx(keras_right)
    every = eval_cli(bundle, "--data", data, "--all-sequences")
    assert every.exit_code == 0 and "30 sequences" in every.output


def test_photos_without_a_face_are_counted_not_guessed(tiny_bundle, tmp_path):
    _, _, bundle, _ = tiny_bundle
    stills = write_synthetic_stills(tmp_path / "photos", per_class=2, folders=("happy", "sad"))
    noise = np.random.default_rng(0).integers(0, 255, (240, 320)).astype(np.uint8)
    cv2.imwrite(str(stills / "val" / "happy" / "street.png"), noise)
    result = eval_cli(bundle, "--data", stills, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert report["data"]["no_face"] == {"happy": 1} and report["data"]["faces"] == 4
    forced = eval_cli(bundle, "--data", stills, "--faces", "crops")
    assert forced.exit_code == 0 and "5 stills" in forced.output


def test_the_reference_model_gets_its_own_row(tiny_bundle, tiny_reference, tmp_path):
    _, _, bundle, _ = tiny_bundle
    reference = tiny_reference
    stills = write_synthetic_stills(tmp_path / "FER", per_class=4)
    result = eval_cli(bundle, "--data", stills, "--reference", reference, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    reference_row = json.loads((tmp_path / "r" / "eval.json").read_text())["models"][1]
    assert reference_row["classes"] == ["anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral"]
    assert reference_row["faces"] == 14 and reference_row["not_scored"] == {}
    assert (tmp_path / "r" / "confusion_reference.png").is_file()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--data", "{tmp}/nowhere"], "does not exist"),
        (["--faces", "maybe"], "--faces takes auto, crops, detect"),
        (["--reference", "{tmp}/nothing.tflite"], "--reference"),
        (["--classes", "happy,bored"], "unknown emotion 'bored'"),
        (["--split", "test"], "has no test/ part; it has train/, val/"),
        (["--data", "{tmp}/FER/val", "--split", "train"], "has no train/ or val/ parts: leave out --split"),
    ],
)
def test_bad_input_is_one_line(tiny_bundle, tmp_path, args, fragment):
    _, _, bundle, _ = tiny_bundle
    stills = write_synthetic_stills(tmp_path / "FER", per_class=2)
    result = eval_cli(bundle, "--data", stills, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code != 0 and fragment in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def _photo(face: np.ndarray | None, seed: int) -> np.ndarray:
    """A 640x480 noisy photo, with the face pasted at 160 px when one is given."""
    photo = np.clip(128 + np.random.default_rng(seed).normal(0, 40, (480, 640)), 0, 255).astype(np.uint8)
    if face is not None:
        photo[150:310, 380:540] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
    return photo


@pytest.mark.parametrize("detector", ["blazeface", "blazeface-full"])
def test_photos_go_through_the_chosen_detector(tmp_path, detector):
    # the shipped default model scores them (no bundle to train); only which photos hold a face is checked
    faces = sorted((REAL_DATA / "happy").glob("*.png"))
    if not faces:
        pytest.skip(f"CK+48 is not at {REAL_DATA}: no real face to paste into a photo")
    for folder, face in (("happy", cv2.imread(str(faces[-1]), cv2.IMREAD_GRAYSCALE)), ("sad", None)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "photos" / folder / "photo.png"), _photo(face, seed=len(folder)))
    result = eval_cli("--data", tmp_path / "photos", "--detector", detector, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "eval.json").read_text())
    assert report["data"]["faces"] == 1 and report["data"]["no_face"] == {"sadness": 1}
    level, lift = {"blazeface": (True, 0.05), "blazeface-full": (False, 0.0)}[detector]  # CROP_RULES, as applied
    assert report["crop"] == {"detector": detector, "margin": 0.1, "level": level, "lift": lift}


def test_auto_takes_a_folder_of_large_face_crops_whole_and_photos_through_the_detector(tmp_path):
    # the shipped default model scores them; real faces, because the decision rests on what BlazeFace finds
    faces = sorted((REAL_DATA / "happy").glob("*.png"))
    if not faces:
        pytest.skip(f"CK+48 is not at {REAL_DATA}: no real face to blow up or paste into a photo")
    face = cv2.imread(str(faces[-1]), cv2.IMREAD_GRAYSCALE)
    for folder in ("crops", "photos"):
        (tmp_path / folder / "happy").mkdir(parents=True)
    cv2.imwrite(
        str(tmp_path / "crops" / "happy" / "big.png"), cv2.resize(face, (120, 120), interpolation=cv2.INTER_CUBIC)
    )
    cv2.imwrite(str(tmp_path / "photos" / "happy" / "photo.png"), _photo(face, seed=1))
    for folder, faces_option, whole in (("crops", "auto", True), ("crops", "detect", False), ("photos", "auto", False)):
        result = eval_cli("--data", tmp_path / folder, "--faces", faces_option, "--out", tmp_path / "r")
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / "r" / "eval.json").read_text())
        assert report["data"]["scored_whole"] is whole and report["data"]["faces"] == 1, (folder, faces_option)
        assert ("scoring the images as face crops, whole" in result.output) is whole


def test_the_face_crop_decision_follows_the_share_of_the_picture_a_face_covers(tmp_path):
    from fer_edge.boxes import Detection
    from fer_edge.evaluate import _face_crop_folder
    from fer_edge.stills import StillFile

    class Boxes:  # a stand-in detector: one face of the given side in every picture
        def __init__(self, side):
            self.side = side

        def detect(self, gray):
            return [Detection((0, 0, self.side, self.side), 0.9)]

    def folder(size, count):
        paths = []
        for i in range(count):
            path = tmp_path / f"{size}-{i}.png"
            cv2.imwrite(str(path), np.random.default_rng(i).integers(0, 255, (size, size), dtype=np.uint8))
            paths.append(StillFile(path, "happy"))
        return paths

    opened = []

    def opener(side):
        def detector():
            opened.append(side)
            return Boxes(side)

        return detector

    big = folder(100, 30)
    assert _face_crop_folder(big, opener(64), print) is True  # 0.41 of the picture: a face crop
    assert _face_crop_folder(big, opener(60), print) is False  # 0.36: looser than a face crop scored whole
    assert _face_crop_folder(folder(48, 5), opener(48), print) is False and 48 not in opened  # no detector needed


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["--detector", "yunet"], 2, "--detector takes blazeface, blazeface-full, haar"),
        (["--detector", "haar", "--faces", "detect"], 1, "the Haar face detector is unavailable in OpenCV"),
        (["--lift", "0.7"], 2, "--lift must be in (-0.5, 0.5), got 0.7"),
        (["--margin", "1.5"], 2, "--margin must be in (-0.4, 1), got 1.5"),
    ],
)
def test_detector_problems_are_one_line(tmp_path, monkeypatch, args, code, fragment):
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)  # as in OpenCV 5
    stills = write_synthetic_stills(tmp_path / "FER", per_class=2)
    result = eval_cli("--data", stills, *args)
    assert result.exit_code == code and fragment in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_ferplus_labels_replace_the_folders_and_faces_without_a_majority_are_not_scored(tmp_path):
    from test_ferplus import votes, write_ferplus

    from fer_edge.errors import UsageError
    from fer_edge.evaluate import EvalConfig, evaluate

    root = write_synthetic_stills(tmp_path / "FER2013", per_class=4, folders=("happy", "sad", "fear"))
    write_ferplus(
        root / "ferplus.csv",
        {
            "val/sad/val_00000.jpg": votes(neutral=6, sadness=4),  # FER+ says neutral
            "val/sad/val_00001.jpg": votes(sadness=8, unknown=2),
            "val/fear/val_00000.jpg": votes(surprise=5, fear=5),  # a tie: no majority
            "val/fear/val_00001.jpg": votes(NF=10),  # not a face
            "val/happy/val_00000.jpg": votes(happiness=10),
            "val/happy/val_00001.jpg": votes(contempt=7, happiness=3),
            "train/happy/train_00000.jpg": votes(anger=10),  # another split: not read
        },
    )
    bundle = "fer_edge/models/default"  # six classes: no contempt
    lines = []
    result = evaluate(EvalConfig(bundle, str(root), labels="ferplus"), lines.append)
    assert result["data"]["per_class"] == {"neutral": 1, "sadness": 1, "happy": 1, "contempt": 1}
    ours = result["models"][0]
    assert ours["faces"] == 3 and ours["not_scored"] == {"contempt": 1}
    assert "not scored: 0 faces without votes, 2 without a majority" in "\n".join(lines)
    assert 0 <= ours["macro_recall"] <= 1
    chosen = evaluate(EvalConfig(bundle, str(root), labels="ferplus", classes=("happy", "neutral")), lines.append)
    assert chosen["data"]["per_class"] == {"neutral": 1, "happy": 1} and "2 of other classes" in lines[-4]
    for config, fragment in [
        (EvalConfig(bundle, str(root), labels="ferplus", classes=("bored",)), r"FER\+ has no class bored"),
        (EvalConfig(bundle, str(root), labels="votes"), "--labels takes folder, ferplus"),
        (EvalConfig(bundle, str(root / "nowhere.csv"), labels="ferplus"), "does not exist"),
        (EvalConfig(bundle, str(root), ferplus=str(root / "ferplus.csv")), r"--ferplus names the FER\+ votes"),
    ]:
        with pytest.raises(UsageError, match=fragment):
            evaluate(config, lines.append)
    result = eval_cli("default", "--data", root, "--labels", "ferplus", "--classes", "happy,neutral")
    assert result.exit_code == 0 and "labels: the FER+ majority from" in result.output, result.output
    assert "2 faces" in result.output and "macro recall" in result.output
    (root / "ferplus.csv").unlink()
    with pytest.raises(UsageError, match=r"no ferplus.csv in"):
        evaluate(EvalConfig(bundle, str(root), labels="ferplus"), lines.append)
    result = eval_cli("default", "--data", root, "--labels", "ferplus")
    assert result.exit_code == 2 and "no ferplus.csv in" in result.output and "Traceback" not in result.output


def test_colour_photos_go_to_the_detector_in_colour_as_the_runtime_sees_them(tmp_path):
    """The runtime's detector sees the camera's colour frame; eval's does too, so it finds the same faces."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) is not installed")
    from fer_edge.blazeface import BlazeFace
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.evaluate import EvalConfig, evaluate

    photo = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    detector = BlazeFace()

    def far(side: int) -> np.ndarray:  # her photo shrunk to `side` pixels on a 640x480 frame
        frame = np.full((480, 640, 3), 120, np.uint8)
        frame[100 : 100 + side, 100 : 100 + side] = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
        return frame

    # a size at which the detector finds her face in colour but not in gray (about 30 px)
    sizes = [
        s
        for s in range(120, 260, 4)
        if detector.detect(far(s)) and not detector.detect(far(s).mean(2).astype(np.uint8))
    ]
    if not sizes:
        pytest.skip("no size at which colour finds the face and gray does not")
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "near.png"), photo)
    cv2.imwrite(str(tmp_path / "happy" / "far.png"), far(sizes[0]))
    results = evaluate(EvalConfig(bundle=str(DEFAULT_BUNDLE), data=str(tmp_path), faces="detect"), log=lambda _: None)
    assert results["data"]["faces"] == 2 and results["data"]["no_face"] == {}
