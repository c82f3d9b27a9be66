"""Face detection: BlazeFace's anchors, decoding, weighted NMS and letterbox mapping against hand-computed answers;
the shipped model files checked before parsing; the real model on a CK+48 face; Haar's absence as one line;
the native runtime kept quiet."""

import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REAL_DATA

from fer_edge import blazeface
from fer_edge.blazeface import (
    DETECTOR_DIR,
    VARIANTS,
    BlazeFace,
    Letterbox,
    anchors,
    decode,
    letterbox,
    merged,
    squares,
    to_detections,
    weighted_nms,
)
from fer_edge.boxes import Detection, iou
from fer_edge.detect import DETECTORS, FaceDetector, open_detector
from fer_edge.errors import MissingExtraError, ModelLoadError, UsageError

SHORT = anchors(128, VARIANTS["blazeface"].strides, VARIANTS["blazeface"].anchors_per_layer)


def test_anchor_counts_and_centres_follow_the_graphs():
    full = anchors(192, VARIANTS["blazeface-full"].strides, VARIANTS["blazeface-full"].anchors_per_layer)
    assert SHORT.shape == (896, 2) and full.shape == (2304, 2)
    # short range: a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 3 layers x 2 anchors per cell
    assert np.allclose(SHORT[0], SHORT[1]) and np.allclose(SHORT[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(SHORT[2], [1.5 / 16, 0.5 / 16])  # x moves first along a row
    assert np.allclose(SHORT[512:518], [0.5 / 8, 0.5 / 8]) and np.allclose(SHORT[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(full[-1], [47.5 / 48, 47.5 / 48])
    assert anchors(128, (8, 16, 16, 16), 2) is SHORT  # computed once


def test_decode_turns_one_anchor_offset_into_a_known_box():
    raw_boxes = np.zeros((896, 16), np.float32)
    raw_scores = np.full((896, 1), -10.0, np.float32)
    k = 512  # anchor centre (1/16, 1/16)
    raw_scores[k] = 2.0
    # centre +12.8, -6.4 px; size 25.6 x 38.4 px; keypoint 0 on the anchor, keypoint 1 at +6.4, +12.8 px
    raw_boxes[k, :8] = [12.8, -6.4, 25.6, 38.4, 0.0, 0.0, 6.4, 12.8]
    boxes, keypoints, scores = decode(raw_boxes, raw_scores, SHORT, 128, min_score=0.5)
    assert boxes.shape == (1, 4) and keypoints.shape == (1, 6, 2)
    # centre (0.0625 + 0.1, 0.0625 - 0.05) = (0.1625, 0.0125); half size (0.1, 0.15)
    assert np.allclose(boxes[0], [0.0625, -0.1375, 0.2625, 0.1625], atol=1e-6)
    assert np.allclose(keypoints[0, 0], [0.0625, 0.0625]) and np.allclose(keypoints[0, 1], [0.1125, 0.1625])
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert len(decode(raw_boxes, raw_scores, SHORT, 128, min_score=0.9)[2]) == 0  # sigmoid(2) = 0.88
    raw_boxes[k, 2] = 0.0  # a box without width is no face
    assert len(decode(raw_boxes, raw_scores, SHORT, 128, min_score=0.5)[2]) == 0


def test_decode_survives_extreme_logits():
    raw_scores = np.full(896, -1e4, np.float32)
    raw_scores[0] = 1e4
    raw_boxes = np.zeros((896, 16), np.float32)
    raw_boxes[:, 2:4] = 10.0
    with np.errstate(all="raise"):
        _, _, scores = decode(raw_boxes, raw_scores, SHORT, 128, min_score=0.5)
    assert scores.tolist() == [1.0]


def test_weighted_nms_merges_overlapping_boxes_by_score_and_keeps_a_separate_one():
    boxes = np.array([[0, 0, 1, 1], [2, 2, 3, 3], [0.1, 0, 1.1, 1]], np.float32)  # 1st and 3rd: IoU 0.82
    keypoints = np.array([[[0.5, 0.5]], [[2.5, 2.5]], [[0.8, 0.5]]], np.float32)
    scores = np.array([0.9, 0.7, 0.6], np.float32)
    merged, points, kept = weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    assert kept.tolist() == pytest.approx([0.9, 0.7])
    assert np.allclose(merged[0], [0.04, 0, 1.04, 1])  # (0.9 * first + 0.6 * third) / 1.5
    assert np.allclose(points[0], [[0.62, 0.5]])
    assert np.allclose(merged[1], boxes[1]) and np.allclose(points[1], keypoints[1])
    empty = weighted_nms(boxes[:0], keypoints[:0], scores[:0])
    assert [a.shape for a in empty] == [(0, 4), (0, 1, 2), (0,)]
    sized = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    assert iou(sized[0], sized).tolist() == pytest.approx([1.0, 0.0, 0.9 / 1.1])


@pytest.mark.parametrize("height, width", [(480, 640), (640, 480), (100, 300)])
def test_letterbox_maps_input_coordinates_back_to_frame_pixels(height, width):
    frame = np.zeros((height, width), np.uint8)
    x, y, w, h = width // 2, height // 5, width // 5, height // 4
    frame[y : y + h, x : x + w] = 255
    square, placement = letterbox(frame, 128)
    assert square.shape == (128, 128)
    rows, cols = np.nonzero(square > 127)
    found = np.array([[cols.min(), rows.min()], [cols.max() + 1, rows.max() + 1]]) / 128
    pixel = max(height, width) / 128  # one input pixel in frame pixels
    assert np.allclose(placement.to_frame(found), [[x, y], [x + w, y + h]], atol=pixel)
    # the frame is centred: the padding is split evenly between both sides of the short axis
    short_side = round(min(height, width) * 128 / max(height, width))
    assert (placement.offset_x, placement.offset_y)[int(height > width)] == 0
    assert (placement.offset_x, placement.offset_y)[int(height <= width)] == (128 - short_side) // 2


def test_detections_are_clipped_to_the_frame_and_largest_first():
    placement = Letterbox(128, 0.2, 0.2, 0, 16)  # a 640x480 frame in a 128 input
    boxes = np.array([[0.1, 0.2, 0.2, 0.3], [-0.1, 0.5, 0.5, 0.9]], np.float32)
    keypoints = np.full((2, 6, 2), 0.25, np.float32)
    found = to_detections(boxes, keypoints, np.array([0.9, 0.6], np.float32), placement, (480, 640))
    assert [d.score for d in found] == pytest.approx([0.6, 0.9])
    assert found[0].box == (0, 240, 320, 240)  # x from -64 and y to 496 clipped; y 0.5 * 128 -> (64 - 16) * 5
    assert found[1].box == (64, 48, 64, 64) and found[1].keypoints[0] == pytest.approx((160.0, 80.0))


@pytest.mark.parametrize(
    "shape, tiles, expected",
    [
        ((480, 640), False, [(0, 0, 640, 480)]),
        ((480, 640), True, [(0, 0, 480, 480), (160, 0, 480, 480)]),  # overlapping by 320 px: any face <= 320 px whole
        ((640, 480), True, [(0, 0, 480, 480), (0, 160, 480, 480)]),
        ((480, 560), True, [(0, 0, 560, 480)]),  # nearly square: the whole frame is as good
    ],
)
def test_tiles_look_at_a_wide_frame_as_two_overlapping_squares(shape, tiles, expected):
    assert squares(shape, tiles) == expected


def test_a_face_found_in_both_squares_is_one_face_and_two_faces_stay_two():
    points = tuple((0.0, 0.0) for _ in range(6))
    twice = [Detection((200, 100, 80, 80), 0.9, points), Detection((204, 102, 80, 80), 0.7, points)]
    apart = Detection((500, 300, 60, 60), 0.8, points)
    found = merged([*twice, apart], (480, 640))
    assert len(found) == 2 and found[1].box == (500, 300, 60, 60)
    assert found[0].score == pytest.approx(0.9) and found[0].box in {(202, 101, 80, 80), (202, 100, 80, 80)}


def test_blazeface_takes_gray_bgr_and_bgra_frames():
    detector = BlazeFace(threads=1)
    frame = _noise_frame()
    color = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    for image in (frame, frame[:, :, None], color, cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)):
        assert detector.detect(image) == []  # noise: no face, and no error for any layout


def _broken_copy(tmp_path, damage):
    models = tmp_path / "detectors"
    shutil.copytree(DETECTOR_DIR, models)
    path = models / "face_detection_short_range.tflite"
    data = bytearray(path.read_bytes())
    path.write_bytes(damage(data))
    return models, path


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda data: data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:], "damaged"),
        (lambda data: data[: len(data) // 2], "damaged"),
        (lambda data: b"", "damaged"),
    ],
)
def test_a_damaged_detector_file_is_refused_before_the_interpreter_sees_it(tmp_path, monkeypatch, damage, fragment):
    models, path = _broken_copy(tmp_path, damage)

    def no_interpreter(*args, **kwargs):
        raise AssertionError("the interpreter was asked to parse a damaged file")

    monkeypatch.setattr(blazeface, "load_interpreter", no_interpreter)
    with pytest.raises(ModelLoadError) as error:
        BlazeFace("blazeface", models_dir=models)
    message = str(error.value)
    assert fragment in message and str(path) in message and "reinstall fer-edge" in message
    assert "\n" not in message


def test_a_missing_detector_file_or_manifest_is_one_line(tmp_path):
    models, path = _broken_copy(tmp_path, lambda data: data)
    path.unlink()
    with pytest.raises(ModelLoadError, match="missing; reinstall fer-edge"):
        BlazeFace("blazeface", models_dir=models)
    (models / "manifest.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot read the detector manifest"):
        BlazeFace("blazeface-full", models_dir=models)


def test_the_shipped_manifest_lists_both_files_with_their_shapes():
    for name, size, count in (("blazeface", 128, 896), ("blazeface-full", 192, 2304)):
        row = blazeface.read_detector_manifest(DETECTOR_DIR)[name]
        assert (row["input_size"], row["anchors"], row["licence"]) == (size, count, "Apache-2.0")
        assert (DETECTOR_DIR / row["file"]).stat().st_size == row["bytes"]
    assert "Apache License, Version 2.0" in (DETECTOR_DIR / "NOTICE").read_text()


def test_open_detector_names():
    assert DETECTORS == ("blazeface", "blazeface-full", "haar")
    with pytest.raises(UsageError, match="--detector takes blazeface, blazeface-full, haar"):
        open_detector("yunet")


def test_haar_is_one_line_where_opencv_has_no_cascade_classifier(monkeypatch):
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)
    with pytest.raises(MissingExtraError) as error:
        open_detector("haar")
    message = str(error.value)
    assert "Haar face detector is unavailable in OpenCV" in message and "--detector blazeface" in message
    assert "\n" not in message


def _noise_frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(128 + rng.normal(0, 40, (480, 640)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", ["blazeface", "blazeface-full"])
def test_blazeface_finds_nothing_in_noise_or_grey(name):
    detector = open_detector(name, threads=1)
    assert detector.detect(_noise_frame()) == [] and detector.largest_face(_noise_frame(1)) is None
    assert detector.detect(np.full((240, 320), 128, np.uint8)) == []


def test_haar_returns_detections_largest_first():
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip(f"OpenCV {cv2.__version__} has no CascadeClassifier")
    detector = open_detector("haar")
    assert isinstance(detector, FaceDetector) and detector.detect(_noise_frame()) == []


def _real_face() -> np.ndarray:
    faces = sorted((REAL_DATA / "happy").glob("*.png"))
    if not faces:
        pytest.skip(f"CK+48 is not at {REAL_DATA}: no real face to detect")
    return cv2.imread(str(faces[-1]), cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize("name, tiles", [("blazeface", False), ("blazeface-full", False), ("blazeface", True)])
def test_blazeface_finds_a_pasted_ck48_face_where_it_is(name, tiles):
    frame = _noise_frame()
    x, y, size = 380, 150, 160  # with tiles: whole in the right square, cut by the left one's edge; one face
    frame[y : y + size, x : x + size] = cv2.resize(_real_face(), (size, size), interpolation=cv2.INTER_CUBIC)
    detector = open_detector(name, threads=1, tiles=tiles)
    [found] = detector.detect(frame)
    assert isinstance(found, Detection) and 0.5 <= found.score <= 1
    fx, fy, fw, fh = found.box
    assert iou((x, y, size, size), found.box) > 0.5
    points = np.array(found.keypoints)
    assert points.shape == (6, 2)
    # eyes, nose and mouth inside the box; the ear tragions lie on its sides, within a tenth of its width
    low, high, slack = np.array([fx, fy]), np.array([fx + fw, fy + fh]), 0.1 * fw
    assert ((points[:4] >= low) & (points[:4] <= high)).all(), f"keypoints {points.round()} outside {found.box}"
    assert ((points[4:] >= low - slack) & (points[4:] <= high + slack)).all(), f"tragions {points[4:].round()}"
    right_eye, left_eye, nose, mouth = points[:4]
    assert right_eye[0] < nose[0] < left_eye[0] and max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    colour = detector.detect(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    assert [d.box for d in colour] == [found.box]  # BGR frames: the same face
    assert detector.largest_face(frame) == found.box


QUIET_SCRIPT = """
import sys
import numpy as np
from fer_edge.backends import open_model
from fer_edge.blazeface import DETECTOR_DIR
from fer_edge.detect import open_detector
open_detector("blazeface").detect(np.zeros((48, 64), np.uint8))
open_model(DETECTOR_DIR / "face_detection_full_range.tflite").run(np.zeros((1, 192, 192, 3), np.float32))
print("still heard", file=sys.stderr)
"""


def test_the_native_runtime_is_quiet_unless_debugging():
    env = {k: v for k, v in os.environ.items() if k != "FER_EDGE_DEBUG"}
    run = subprocess.run([sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True, env=env, check=True)
    assert "INFO:" not in run.stderr and "still heard" in run.stderr  # descriptor 2 is given back
    loud = subprocess.run(
        [sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True, env={**env, "FER_EDGE_DEBUG": "1"}
    )
    if "INFO:" not in loud.stderr:
        pytest.skip("this TFLite runtime prints nothing when it creates an interpreter")
    assert "XNNPACK" in loud.stderr


def test_levelling_turns_a_tilted_pair_of_eyes_back_to_one_row():
    from fer_edge.detect import CropRule, crop, eye_angle, face_crop

    image = np.zeros((200, 200), np.uint8)
    right_eye, left_eye = (80.0, 90.0), (120.0, 110.0)  # the person's right eye is on the image's left
    for x, y in (right_eye, left_eye):
        cv2.circle(image, (int(x), int(y)), 4, 255, -1)
    assert eye_angle((right_eye, left_eye)) == pytest.approx(np.degrees(np.arctan2(20, 40)))
    detection = Detection((60, 60, 80, 80), 0.9, (right_eye, left_eye, (100, 100), (100, 120), (60, 90), (140, 110)))
    levelled = face_crop(image, detection, CropRule(margin=0.0, level=True))
    assert levelled.shape == (80, 80)
    rows = [int(np.argmax(levelled[:, :40].max(axis=1))), int(np.argmax(levelled[:, 40:].max(axis=1)))]
    assert abs(rows[0] - rows[1]) <= 2  # both eyes on one row after levelling
    plain = face_crop(image, detection, CropRule(margin=0.0, level=False))
    np.testing.assert_array_equal(plain, crop(image, (60, 60, 80, 80)))  # no levelling: the plain slice
    grown = face_crop(image, detection, CropRule(margin=0.1, level=False))
    assert grown.shape == (96, 96)


def test_an_explicit_margin_level_or_lift_replaces_the_detectors_rule():
    from fer_edge.detect import CROP_RULES, crop_rule

    assert crop_rule("blazeface") == CROP_RULES["blazeface"]
    assert crop_rule("blazeface", margin=0.3).margin == 0.3
    assert crop_rule("blazeface", level=True).level is True
    assert crop_rule("haar", margin=None).margin == CROP_RULES["haar"].margin
    assert crop_rule("blazeface", lift=0.0).lift == 0.0 and CROP_RULES["blazeface"].lift > 0
    assert crop_rule("blazeface", margin=0.2).lift == CROP_RULES["blazeface"].lift  # the rest of the rule stays


def test_a_lift_moves_the_crop_up_by_that_share_of_the_box_height():
    from fer_edge.detect import CropRule, crop, crop_rule, face_crop

    image = np.tile(np.arange(200, dtype=np.uint8)[:, None], (1, 200))  # each pixel holds its row number
    box = (60, 60, 80, 80)
    lifted = crop(image, box, lift=0.1)
    assert lifted.shape == (80, 80) and lifted[0, 0] == 52 and lifted[-1, 0] == 131  # 8 rows (0.1 x 80) higher
    assert crop(image, box, margin=0.1, lift=0.1)[0, 0] == 44  # grown by 8 on each side, then 8 higher
    eyes = ((80.0, 90.0), (120.0, 96.0))  # a small tilt: the levelled path turns about the lifted centre
    detection = Detection(box, 0.9, (*eyes, (100, 100), (100, 120), (60, 90), (140, 110)))
    turned = face_crop(image, detection, CropRule(lift=0.1, level=True))
    assert abs(int(turned[40, 40]) - 92) <= 1  # the centre is row 100 - 8
    with pytest.raises(UsageError, match="--lift must be in"):
        crop_rule("blazeface", lift=0.6)
    with pytest.raises(UsageError, match="--margin must be in"):
        crop_rule("blazeface", margin=-0.5)


def test_fills_picture_is_a_share_of_the_picture():
    from fer_edge.detect import FILLED_SHARE, fills_picture

    assert fills_picture(Detection((0, 0, 64, 64), 0.9), (100, 100))  # 0.41
    assert not fills_picture(Detection((0, 0, 62, 62), 0.9), (100, 100))  # 0.38
    assert not fills_picture(Detection((0, 0, 240, 240), 0.9), (480, 640)) and FILLED_SHARE > 240 * 240 / (480 * 640)


def test_run_uses_an_image_that_one_face_fills_whole_and_crops_a_photo(tmp_path):
    from fer_edge.buffer import predict_still
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.detect import CROP_RULES, face_crop
    from fer_edge.model import EmotionModel
    from fer_edge.preprocess import preprocess_frame
    from fer_edge.run import RunConfig, predictions

    faces = sorted((REAL_DATA / "surprise").glob("*.png"))
    if not faces:
        pytest.skip(f"CK+48 is not at {REAL_DATA}: no real face to blow up or paste into a photo")
    face = cv2.resize(cv2.imread(str(faces[-1]), cv2.IMREAD_GRAYSCALE), (120, 120), interpolation=cv2.INTER_CUBIC)
    photo = np.clip(128 + np.random.default_rng(0).normal(0, 40, (480, 640)), 0, 255).astype(np.uint8)
    photo[150:270, 380:500] = face
    model = EmotionModel(DEFAULT_BUNDLE)
    detection = open_detector("blazeface").detect(photo)[0]
    expected = {
        "crop.png": (face, predict_still(model, preprocess_frame(face))),  # the whole image
        "photo.png": (
            photo,
            predict_still(model, preprocess_frame(face_crop(photo, detection, CROP_RULES["blazeface"]))),
        ),
    }
    for name, (image, probabilities) in expected.items():
        cv2.imwrite(str(tmp_path / name), image)
        found = list(predictions(RunConfig(source=str(tmp_path / name), bundle=str(DEFAULT_BUNDLE))))
        assert len(found) == 1 and found[0].kind == "still", name
        np.testing.assert_allclose(list(found[0].probabilities.values()), probabilities, atol=1e-6, err_msg=name)
