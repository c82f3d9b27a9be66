"""The model that ships inside the package: files match their manifest, it runs, and on real CK+48 faces
placed on larger frames the runtime finds them and predicts what the whole model gives for the same crops."""

import json

import numpy as np
import pytest

from fer_edge.bench.clip import write_face_clip
from fer_edge.dataset import load_sequences
from fer_edge.default_model import DEFAULT_BUNDLE, resolve_bundle
from fer_edge.detect import crop
from fer_edge.hashing import sha256_file
from fer_edge.manifest import read_manifest
from fer_edge.model import EmotionModel
from fer_edge.preprocess import preprocess_frame, to_gray
from fer_edge.run import RunConfig, RunStats, steps
from fer_edge.sources import SourceStats, open_source

SHIPPED_LIMIT = 8_000_000


def absolute_paths(value) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in absolute_paths(v)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


def test_shipped_files_match_their_manifest_and_fit_the_size_limit():
    manifest = read_manifest(DEFAULT_BUNDLE)
    assert {(a.format, a.precision) for a in manifest.artifacts} == {("tflite", "int8")}
    assert {a.part for a in manifest.artifacts} == {"full", "encoder", "head"}
    for artifact in manifest.artifacts:
        assert sha256_file(DEFAULT_BUNDLE / artifact.file) == artifact.sha256
    assert sum(a.bytes for a in manifest.artifacts) <= SHIPPED_LIMIT
    assert "made_by" in manifest.notes and manifest.calibration["count"] > 0
    assert not absolute_paths(json.loads((DEFAULT_BUNDLE / "manifest.json").read_text()))  # none of the builder's
    assert resolve_bundle(None) == DEFAULT_BUNDLE


def test_shipped_model_runs_streaming_and_whole_window_alike():
    frames = np.random.default_rng(0).random((3, 48, 48, 1), dtype=np.float32)
    streaming = EmotionModel(DEFAULT_BUNDLE).predict_window(frames)
    whole = EmotionModel(DEFAULT_BUNDLE, streaming=False).predict_window(frames)
    classes = read_manifest(DEFAULT_BUNDLE).classes
    assert streaming.shape == (len(classes),) and abs(float(streaming.sum()) - 1) < 0.02
    assert streaming.argmax() == whole.argmax()


def test_runtime_reads_ck48_pngs_into_exactly_the_training_arrays(real_ck48, tmp_path):
    sequences = load_sequences(real_ck48)
    sid = str(sequences.ids[0])  # e.g. "happy/S010_006"
    emotion, stem = sid.split("/")
    source = open_source(f"{real_ck48 / emotion}/{stem}_*", SourceStats())  # the files in frame order
    runtime = [preprocess_frame(to_gray(frame.image)) for frame in source]
    assert len(runtime) >= 3
    np.testing.assert_array_equal(np.stack(runtime[-3:]), sequences.frames[0])  # a sequence keeps its last 3


def test_ck48_faces_on_large_frames_are_found_reset_and_predicted_like_the_whole_model(real_ck48, tmp_path):
    manifest = read_manifest(DEFAULT_BUNDLE)
    test = load_sequences(real_ck48).select(manifest.heldout_metrics["ids"][:20])
    segments = write_face_clip(test.frames, tmp_path / "clip.avi")
    stats = RunStats()
    plain = RunConfig(source=str(tmp_path / "clip.avi"), bundle=str(DEFAULT_BUNDLE), margin=0.0, level=False, lift=0.0)
    found = list(steps(plain, stats))  # the plain box, so that the crops can be redone from it here
    whole = EmotionModel(DEFAULT_BUNDLE, streaming=False)
    correct = 0
    for segment in segments:
        inside = [s for s in found if segment.first <= s.frame.index < segment.first + segment.length]
        assert all(len(s.faces) == 1 for s in inside), f"sequence {segment.sequence}: one face in each frame"
        predicted = [p for s in inside for p in s.predictions]
        assert len(predicted) == 1, "exactly one full window per sequence: the window must reset in between"
        assert len({s.faces[0].face for s in inside}) == 1, "one face id through a sequence"
        crops = np.stack([preprocess_frame(crop(to_gray(s.frame.image), s.faces[0].box)) for s in inside])
        expected = whole.predict_window(crops)
        got = np.array(list(predicted[0].probabilities.values()))
        assert got.argmax() == expected.argmax() and predicted[0].kind == "window"
        correct += predicted[0].label == test.classes[test.labels[segment.sequence]]
    # Every sequence's window is reset once before the next one (a face missed for 8 frames may keep its id, but not
    # its crops); the last one's face is still tracked when the clip ends.
    assert stats.faces == 3 * len(segments) and stats.resets == len(segments) - 1
    print(f"held-out accuracy through the runtime on 640x480 frames: {correct}/{len(segments)}")
    assert correct >= len(segments) // 2  # far above chance (20 %); the real figure is in the bench report


def write_faces_video(path, fps, count=6):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (48, 48), isColor=False)
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(rng.integers(0, 256, (48, 48), dtype=np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("fps, predictions", [(10, 4), (0.5, 0)])
def test_a_gap_between_frames_resets_the_window(tmp_path, fps, predictions):
    video = write_faces_video(tmp_path / "clip.avi", fps)  # at 0.5 fps every frame is 2 s after the last
    stats = RunStats()
    config = RunConfig(source=str(video), bundle=str(DEFAULT_BUNDLE), detect=False, max_gap=1.0)
    assert len([s for s in steps(config, stats) if s.predictions]) == predictions
    assert stats.resets == (0 if predictions else 5)


def test_loop_plays_a_video_again_with_a_reset_at_each_start(tmp_path):
    video = write_faces_video(tmp_path / "clip.avi", 10)
    config = RunConfig(source=str(video), bundle=str(DEFAULT_BUNDLE), detect=False, loop=True)
    stats = RunStats()
    found = []
    for step in steps(config, stats):
        found.append(step)
        if len(found) == 15:
            break
    assert [s.frame.index for s in found] == list(range(15))
    pattern = [False, False, True, True, True, True]  # no prediction until 3 fresh frames after each restart
    assert [bool(s.predictions) for s in found] == pattern * 2 + pattern[:3]
    assert stats.resets == 2
