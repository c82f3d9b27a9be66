"""`fer-edge bench` on the tiny bundle: well-formed reports, ordered percentiles, MACs that match a hand count.
No timing thresholds here: timings belong to the benchmark itself."""

import json
import shutil

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fer_edge.bench.clip import write_face_clip
from fer_edge.bench.report import pareto_front
from fer_edge.cli import app

pytest.importorskip("tf2onnx", reason="the train extra is needed to make the tiny bundle")

PERCENTILES = ("min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")


def hand_count_macs(width: float, size: int = 48) -> tuple[int, int]:
    """(per frame, head) for the seed architecture: 8 same-padded 3x3 convs, 2x2 pooling after every second;
    BiLSTM(128) and BiLSTM(64) over 3 steps (4 gates, input + recurrent products); Dense(128); Dense(5)."""
    filters = [max(1, round(f * width)) for f in (64, 64, 128, 128, 256, 256, 512, 512)]
    frame, channels, side = 0, 1, size
    for i, out in enumerate(filters):
        frame += side * side * 9 * channels * out
        channels = out
        if i % 2 == 1:
            side //= 2
    lstm1, lstm2, dense = (max(1, round(u * width)) for u in (128, 64, 128))
    head = 2 * 3 * 4 * (channels + lstm1) * lstm1 + 2 * 3 * 4 * (2 * lstm1 + lstm2) * lstm2
    head += 2 * lstm2 * dense + dense * 5
    return frame, head


def test_hand_count_of_the_seed_model_is_the_published_468_m_per_frame():
    frame, head = hand_count_macs(1.0)
    assert frame == 468_467_712 and 3 * frame + head == pytest.approx(1.41e9, rel=0.01)


def test_a_training_run_given_for_a_bundle_is_told_to_export_first(tiny_run):
    _, run = tiny_run
    for command in (["bench", str(run)], ["run", "--model", str(run), "--source", str(run / "config.json")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert f"is a training run, not a bundle; export it first: fer-edge export {run} --int8" in result.output


def test_macs_counted_from_the_tflite_graph_match_the_hand_count(tiny_bundle):
    from fer_edge.bench.macs import count_macs

    _, _, bundle, _ = tiny_bundle
    frame, head = hand_count_macs(0.0625)
    assert count_macs(bundle / "encoder_float32.tflite") == frame
    assert count_macs(bundle / "encoder_int8.tflite") == frame
    assert count_macs(bundle / "head_float32.tflite") == head
    assert count_macs(bundle / "full_int8.tflite") == 3 * frame + head


def test_pareto_front_keeps_only_points_nothing_beats_on_both_axes():
    points = [(1.0, 0.80), (2.0, 0.85), (1.5, 0.70), (3.0, 0.85), (4.0, 0.90), (0.5, 0.60)]
    assert pareto_front(points) == [5, 0, 1, 4]


def test_face_clip_places_each_sequence_between_empty_frames(tmp_path):
    frames = np.random.default_rng(0).random((3, 3, 48, 48, 1), dtype=np.float32)
    segments = write_face_clip(frames, tmp_path / "clip.avi", gap=4)
    capture = cv2.VideoCapture(str(tmp_path / "clip.avi"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 3 * (4 + 3) + 4
    assert [s.first for s in segments] == [4, 11, 18]
    for s in segments:
        x, y, w, h = s.box
        assert 140 <= w <= 240 and x + w <= 640 and y + h <= 480
    assert not list(tmp_path.glob(".*tmp*")), "the temporary video was not renamed into place"


@pytest.fixture(scope="module")
def bench_report(tiny_bundle, tiny_reference, tmp_path_factory):
    data, _, bundle, _ = tiny_bundle
    broken = tmp_path_factory.mktemp("bench") / "broken"
    shutil.copytree(bundle, broken)
    payload = bytearray((broken / "full_int8.onnx").read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # one flipped byte: the sha256 check must refuse it
    (broken / "full_int8.onnx").write_bytes(bytes(payload))
    out = broken.parent / "report"
    args = ["bench", str(bundle), str(broken), "--data", str(data), "--runs", "3", "--warmup", "1", "--no-keras"]
    result = CliRunner().invoke(app, [*args, "--threads", "1,2", "--out", str(out), "--reference", str(tiny_reference)])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "bench.json").read_text()), result.output


def test_bench_writes_json_markdown_and_plot(bench_report, tiny_bundle):
    out, results, output = bench_report
    bundle = tiny_bundle[2]
    rows = results["rows"]
    # per bundle: {tflite, onnx} x {float32, int8} x {window, streaming}; and the reference model
    assert len(rows) == 2 * 8 + 1
    assert {r["format"] for r in rows} == {"tflite", "onnx", "fer"}
    # the copy's unchanged files (all but full_int8.onnx) are started once: their start-up numbers are shared
    copied = ("tflite", "onnx")
    copies = {(r["format"], r["precision"], r["mode"]): r["startup"] for r in rows if r["bundle"] == str(bundle)}
    shared = [r for r in rows if r["bundle"] != str(bundle) and r["status"] == "ok" and r["format"] in copied]
    assert len(shared) == 7 and all(r["startup"] == copies[(r["format"], r["precision"], r["mode"])] for r in shared)
    markdown = (out / "bench.md").read_text()
    assert markdown.count("| bundle | artifact | status |") == 2  # one table per thread count
    assert markdown.count("| bundle | artifact | file |") == 1  # and one of start-up numbers
    startup_rows = sum(len(r["startup"]) for r in rows)
    detector_rows = 1 + len(results["detectors"])
    tables = 2 * (1 + len(rows)) + 1 + startup_rows + detector_rows
    assert sum(line.startswith("| ") for line in markdown.splitlines()) == tables
    image = cv2.imread(str(out / "latency_vs_accuracy.png"))
    assert image is not None and image.shape[0] > 300
    assert results["machine"]["cpus"] >= 1 and "onnxruntime" in results["versions"]
    assert "| bundle | artifact | status |" in output  # the table is printed too


def test_every_working_row_has_ordered_percentiles_and_sane_metrics(bench_report):
    _, results, _ = bench_report
    working = [r for r in results["rows"] if r["status"] == "ok" and r["format"] != "fer"]
    assert len(working) == 15
    for row in working:
        assert set(row["latency"]) == {"1", "2"}
        for timings in row["latency"].values():
            for name, stats in timings.items():
                if isinstance(stats, dict):
                    values = [stats[k] for k in PERCENTILES]
                    assert values == sorted(values) and values[0] > 0, (row["format"], name)
        assert 0 <= row["accuracy"]["accuracy"] <= 1 and set(row["accuracy"]["recall"]) == set(
            ("happy", "surprise", "anger", "sadness", "fear")
        )
        assert row["startup"] and all(s["peak_rss_mb"] > 10 for s in row["startup"].values())
    float_rows = [r for r in working if r["precision"] == "float32"]
    assert all(r["accuracy"]["agreement_with_keras"] == 1.0 for r in float_rows)
    streaming = [r for r in working if r["mode"] == "streaming"]
    assert all({"encoder", "head", "new_frame", "window"} <= set(r["latency"]["1"]) for r in streaming)
    assert all(r["macs"]["per_new_frame"] > 0 for r in working)


def test_the_source_model_keras_is_timed_once_for_the_bundles_made_from_it(tiny_bundle, tmp_path):
    data, _, bundle, _ = tiny_bundle
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    args = ["bench", str(bundle), str(copy), "--data", str(data), "--runs", "3", "--warmup", "1", "--threads", "1"]
    result = CliRunner().invoke(app, [*args, "--no-detectors", "--no-end-to-end", "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    keras = [r for r in json.loads((tmp_path / "report" / "bench.json").read_text())["rows"] if r["format"] == "keras"]
    assert [r["bundle"] for r in keras] == [str(bundle), str(copy)] and all(r["status"] == "ok" for r in keras)
    assert keras[0]["latency"]["1"]["window"]["p50_ms"] > 0 and keras[0]["files"][0].endswith("model.keras")
    assert keras[0]["latency"] == keras[1]["latency"] and keras[0]["startup"] == keras[1]["startup"]  # timed once
    assert keras[0]["accuracy"]["agreement_with_keras"] == 1.0


def test_the_reference_model_is_scored_on_the_same_held_out_faces(bench_report, tiny_bundle):
    from fer_edge.manifest import read_manifest

    _, results, output = bench_report
    (reference,) = [r for r in results["rows"] if r["format"] == "fer"]
    assert reference["status"] == "ok" and reference["files"] == ["emotion_model.tflite"]
    assert set(reference["accuracy"]["recall"]) == {"happy", "surprise", "anger", "sadness", "fear"}
    assert 0 <= reference["accuracy"]["accuracy"] <= 1 and reference["latency"]["1"]["window"]["p50_ms"] > 0
    heldout = len(read_manifest(tiny_bundle[2]).heldout_metrics["ids"])
    assert heldout == 9 and "fer reference (emotion_model.tflite)" in output


def test_a_damaged_artifact_stays_in_the_table_marked_failed(bench_report):
    out, results, _ = bench_report
    failed = [r for r in results["rows"] if r["status"] != "ok"]
    assert [(r["format"], r["precision"], r["mode"]) for r in failed] == [("onnx", "int8", "window")]
    assert "sha256" in failed[0]["status"]
    assert "failed: " in (out / "bench.md").read_text()


def test_bench_refuses_a_missing_bundle_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["bench", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "nothing does not exist" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_fold_bundles_of_one_cv_run_are_summarised_as_mean_and_spread():
    from fer_edge.bench.report import markdown
    from fer_edge.bench.suite import fold_summary

    def row(bundle, accuracy, status="ok"):
        return {
            "bundle": bundle,
            "format": "tflite",
            "precision": "int8",
            "mode": "streaming",
            "status": status,
            "accuracy": {"accuracy": accuracy},
        }

    results = {
        "bundles": {
            "b1": {"split": {"fold": 1}, "cv_run": "runs/cv5"},
            "b2": {"split": {"fold": 2}, "cv_run": "runs/cv5"},
            "b3": {"split": {"fold": 3}, "cv_run": "runs/cv5"},
            "single": {"split": {"fold": None}, "cv_run": "runs"},
        },
        "rows": [row("b1", 0.8), row("b2", 0.6), row("b3", 0.1, status="failed: x"), row("single", 0.9)],
    }
    [group] = fold_summary(results)
    assert group["folds"] == 2 and group["mean_accuracy"] == pytest.approx(0.7)
    assert group["std_accuracy"] == pytest.approx(0.1) and group["run"] == "runs/cv5"
    results.update(
        folds=[group],
        config={"threads": [1], "runs": 3, "warmup": 1, "data": "d"},
        ceilings={},
        machine={"cpu": "x", "machine": "x", "cpus": 1, "cpu_flags": [], "python": "3"},
        versions={},
        rows=[],
    )
    assert "| runs/cv5 | tflite int8 streaming | 2 | 70.0% | 10.0% |" in markdown(results)


def test_data_clip_writes_the_bundles_held_out_sequences_as_a_video(tiny_bundle, tmp_path):
    from fer_edge.manifest import read_manifest

    data, _, bundle, _ = tiny_bundle
    out = tmp_path / "clip.avi"
    result = CliRunner().invoke(app, ["data", "clip", str(bundle), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    held_out = len(read_manifest(bundle).heldout_metrics["ids"])
    capture = cv2.VideoCapture(str(out))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape[:2] == (480, 640)
    assert frames == held_out * (3 + 8) + 8  # each sequence after 8 face-free frames, 8 more at the end
    assert f"{held_out} held-out sequences" in result.output
    again = CliRunner().invoke(app, ["data", "clip", str(bundle), "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_bench_times_every_detector_on_the_held_out_faces(bench_report):
    from fer_edge.detect import DETECTORS

    out, results, _ = bench_report
    rows = {r["detector"]: r for r in results["detectors"]}
    assert set(rows) == set(DETECTORS)
    blaze = rows["blazeface"]
    assert blaze["status"] == "ok" and blaze["face_frames"] == 9 * 3  # every frame of the 9 held-out sequences
    assert 0 < blaze["ms_p50"] <= blaze["ms_p90"] and blaze["frames"] == 2 * 27
    assert "| blazeface | ok |" in (out / "bench.md").read_text()
    assert results["end_to_end"]["crop"] == {"detector": "blazeface", "margin": 0.1, "level": True, "lift": 0.05}


def test_detector_rows_on_real_faces_find_every_face_and_none_in_noise(real_ck48):
    from fer_edge.bench.detectors import compare_detectors

    files = sorted(real_ck48.glob("*/*.png"))[::40][:12]
    faces = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files]
    (row,) = [r for r in compare_detectors(faces, log=lambda _: None) if r["detector"] == "blazeface"]
    assert (row["faces_found"], row["face_frames"], row["false_faces"]) == (12, 12, 0)


def test_detector_rows_are_plain_json_when_faces_are_found(monkeypatch):
    """numpy booleans from the box overlap once made the counts numpy integers, which bench.json cannot hold."""
    import fer_edge.bench.detectors as detectors
    from fer_edge.boxes import Detection

    class Finds:
        def detect(self, frame):
            return [Detection((10, 10, 50, 50), 0.9), Detection((300, 300, 40, 40), 0.8)]

    monkeypatch.setattr(detectors, "open_detector", lambda name, threads: Finds())
    frame = np.zeros((480, 640), np.uint8)
    row = detectors.measure_detector("blazeface", 1, [(frame, (10, 10, 50, 50))], [frame])
    assert (row["faces_found"], row["false_faces"]) == (1, 3)
    json.dumps(row)
