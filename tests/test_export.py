"""Export of a tiny trained run: every artifact is written, recorded, loadable and consistent."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tf2onnx", reason="the train extra (TensorFlow, tf2onnx) is not installed")

from typer.testing import CliRunner  # noqa: E402

from fer_edge.backends import open_model  # noqa: E402
from fer_edge.cli import app  # noqa: E402
from fer_edge.dataset import load_sequences  # noqa: E402
from fer_edge.export.ranges import ELU_FLOOR  # noqa: E402
from fer_edge.hashing import sha256_file  # noqa: E402
from fer_edge.manifest import Manifest, read_manifest  # noqa: E402
from fer_edge.model import EmotionModel  # noqa: E402
from fer_edge.preprocess import mirror_odd_frames  # noqa: E402
from fer_edge.split import read_split  # noqa: E402


@pytest.fixture
def bundle(tiny_bundle):
    return tiny_bundle


def test_every_artifact_exists_matches_its_hash_and_loads(bundle):
    _, _, out, output = bundle
    manifest = read_manifest(out)
    kinds = {(a.format, a.part, a.precision) for a in manifest.artifacts}
    assert kinds == {
        (f, p, q) for f in ("tflite", "onnx") for p in ("full", "encoder", "head") for q in ("float32", "int8")
    }
    for artifact in manifest.artifacts:
        path = out / artifact.file
        assert sha256_file(path) == artifact.sha256 and path.stat().st_size == artifact.bytes
        assert open_model(path).input.to_dict() == artifact.inputs[0]
    assert sorted(p.name for p in out.iterdir()) == sorted([a.file for a in manifest.artifacts] + ["manifest.json"])
    assert "held-out acc" in output and "bundle written to" in output


def test_manifest_records_preprocessing_calibration_and_source(bundle):
    _, run, out, _ = bundle
    manifest = read_manifest(out)
    split = read_split(run / "split.json")
    assert manifest.classes == ["happy", "surprise", "anger", "sadness", "fear"]
    assert manifest.preprocess["size"] == 48 and manifest.preprocess["value_range"] == [0.0, 1.0]
    assert "mirror_odd_frames" not in manifest.preprocess  # only with --mirror-odd-frames
    assert manifest.calibration["count"] == len(split.train)
    assert manifest.calibration["tflite_elu_floor"] == ELU_FLOOR
    assert manifest.calibration["onnx_elu_floor"] == ELU_FLOOR  # the bundle has int8 ONNX files
    assert manifest.calibration["onnx_weight_bits"] == [7]
    assert {a.weight_bits for a in manifest.artifacts if (a.format, a.precision) == ("onnx", "int8")} == {7}
    assert {a.weight_bits for a in manifest.artifacts if (a.format, a.precision) != ("onnx", "int8")} == {None}
    assert set(manifest.calibration["ids"]) <= set(split.train)
    assert not set(manifest.calibration["ids"]) & set(split.test)
    assert manifest.source_model["sha256"] == sha256_file(run / "model.keras")
    assert manifest.source_model["twin_max_difference"] < 1e-5
    assert not Path(manifest.source_model["run"]).is_absolute()  # no path of the machine that built it
    assert manifest.versions["onnx_opset"] == "17"
    heldout = manifest.heldout_metrics  # what fer-edge bench compares with, without TensorFlow
    assert heldout["ids"] == list(split.test) and len(heldout["labels"]) == len(split.test)
    probabilities = np.asarray(heldout["keras_probabilities"])
    assert probabilities.shape == (len(split.test), 5) and np.allclose(probabilities.sum(1), 1, atol=1e-4)
    assert heldout["keras_accuracy"] == np.mean(probabilities.argmax(1) == heldout["labels"])


def test_int8_tflite_io_is_int8_with_the_models_own_quantization(bundle):
    _, _, out, _ = bundle
    artifact = read_manifest(out).artifact("tflite", "full", "int8")
    model = open_model(out / artifact.file)
    assert model.input.dtype == "int8" and model.output.dtype == "int8"
    assert 0 < model.input.scale < 0.01 and -128 <= model.input.zero_point <= 127  # set by calibration data
    top = (127 - model.input.zero_point) * model.input.scale
    frames = np.linspace(0, top, 3 * 48 * 48, dtype=np.float32).reshape(1, 3, 48, 48, 1)
    restored = model.input.dequantize(model.input.quantize(frames))
    np.testing.assert_allclose(restored, frames, atol=model.input.scale / 2 + 1e-7)
    assert model.input.quantize(np.array([5.0])).item() == 127  # out of range saturates, never wraps


def test_streaming_float_matches_the_whole_model(bundle):
    data_path, run, out, _ = bundle
    manifest = read_manifest(out)
    test = load_sequences(data_path).select(read_split(run / "split.json").test)
    for fmt in ("tflite", "onnx"):
        whole = open_model(out / manifest.artifact(fmt, "full", "float32").file).run(test.frames)
        encoder = open_model(out / manifest.artifact(fmt, "encoder", "float32").file)
        head = open_model(out / manifest.artifact(fmt, "head", "float32").file)
        features = np.stack([encoder.run(test.frames[:, t]) for t in range(3)], axis=1)
        np.testing.assert_allclose(head.run(features), whole, atol=1e-5)
        streaming = manifest.artifact(fmt, "head", "float32").verification["streaming"]
        full = manifest.artifact(fmt, "full", "float32").verification
        assert streaming["agreement_with_keras"] == full["agreement_with_keras"] == 1.0


def test_existing_bundle_is_refused_and_bad_runs_are_named(bundle, tmp_path):
    data, run, out, _ = bundle
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(run), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 2 and "--force" in result.output
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "model.keras").write_bytes(b"not a keras archive")
    result = runner.invoke(app, ["export", str(broken), "--data", str(data), "--out", str(tmp_path / "b1")])
    assert result.exit_code == 1 and "cannot load" in result.output and "Traceback" not in result.output
    (broken / "model.keras").unlink()
    result = runner.invoke(app, ["export", str(broken), "--data", str(data), "--out", str(tmp_path / "b2")])
    assert result.exit_code == 1 and "lacks model.keras" in result.output
    assert not (tmp_path / "b1").exists() and not (tmp_path / "b2").exists()


def test_a_dataset_without_the_runs_sequences_is_refused(bundle, tmp_path):
    from conftest import write_synthetic_ck48

    _, run, _, _ = bundle
    other = write_synthetic_ck48(tmp_path / "other", subjects=3)
    result = CliRunner().invoke(app, ["export", str(run), "--data", str(other), "--out", str(tmp_path / "b")])
    assert result.exit_code == 1 and "are not in" in result.output


def test_manifest_errors_name_the_problem(tmp_path):
    from fer_edge.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not found"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ModelLoadError, match="format_version 99"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 1, "classes": []}))
    with pytest.raises(ModelLoadError, match="lacks the field 'sequence_length'"):
        read_manifest(tmp_path)
    whole = {name: [] for name in Manifest.__dataclass_fields__} | {"format_version": 1, "artifacts": ["x.tflite"]}
    (tmp_path / "manifest.json").write_text(json.dumps(whole))
    with pytest.raises(ModelLoadError, match="'artifacts' must be a list of objects"):
        read_manifest(tmp_path)


def test_a_manifest_from_a_later_fer_edge_loads_without_the_fields_it_adds(bundle, tmp_path):
    folder = tmp_path / "later"
    shutil.copytree(bundle[2], folder)
    raw = json.loads((folder / "manifest.json").read_text())
    raw["signed_by"] = "a later fer-edge"
    raw["artifacts"][0]["runtime_hint"] = {"threads": 2}
    (folder / "manifest.json").write_text(json.dumps(raw))
    manifest = read_manifest(folder)
    assert manifest == read_manifest(bundle[2])  # the additions are left out, everything else is read
    assert EmotionModel(folder, streaming=False).predict_window(np.zeros((3, 48, 48, 1), np.float32)).shape == (
        len(manifest.classes),
    )


def test_float_io_keeps_float_tensors_on_an_int8_model():
    from fer_edge.export.convert import to_tflite
    from fer_edge.train.model import build_encoder

    encoder = build_encoder(width=0.0625)
    calibration = np.random.default_rng(0).random((8, 48, 48, 1), dtype=np.float32)
    for int8_io, dtype in ((True, np.int8), (False, np.float32)):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=to_tflite(encoder, calibration, int8_io=int8_io))
        assert interpreter.get_input_details()[0]["dtype"] == dtype
        assert interpreter.get_output_details()[0]["dtype"] == dtype
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert "CONV_2D" in ops and not ops & {"FLEX", "CUSTOM"}


def test_the_elu_floor_puts_int8_steps_where_elu_is_not_flat():
    """A conv feeds an ELU; a few calibration images drive it far below zero, where ELU is flat. With the floor,
    the int8 model spends its steps on the values that matter and is much closer to float on ordinary faces."""
    import keras

    from fer_edge.export.convert import to_tflite

    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    outputs = keras.layers.Flatten()(keras.layers.Activation("elu")(conv(inputs)))
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.abs(rng.normal(0, 1, (3, 3, 1, 4))).astype(np.float32), np.full(4, -1, np.float32)])
    calibration = rng.random((16, 16, 16, 1), dtype=np.float32)
    calibration[:2] *= -20  # outliers: their conv outputs reach below -50
    faces = rng.random((16, 16, 16, 1), dtype=np.float32)
    reference = model.predict(faces, verbose=0)
    assert conv(calibration).numpy().min() < -50 and conv(faces).numpy().min() > -4  # the premise

    from ai_edge_litert.interpreter import Interpreter

    def error(elu_floor):
        interpreter = Interpreter(model_content=to_tflite(model, calibration, int8_io=False, elu_floor=elu_floor))
        interpreter.allocate_tensors()
        given, taken = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        out = []
        for face in faces:
            interpreter.set_tensor(given, face[None])
            interpreter.invoke()
            out.append(interpreter.get_tensor(taken)[0])
        return float(np.mean(np.abs(np.array(out) - reference)))

    plain, floored = error(None), error(4.0)
    assert floored < 0.5 * plain, (plain, floored)  # 0.044 against 0.118 when written


def test_the_range_top_search_lowers_a_top_stretched_by_outliers_and_follows_float_closer():
    """Two calibration images drive a conv far above what ordinary faces reach; its int8 range spends most steps
    where no face goes. The search, scored on other images, lowers that top and ends closer to float than it began."""
    import keras

    from fer_edge.export.bundle import feature_closeness
    from fer_edge.export.convert import calibrate_tflite, to_tflite
    from fer_edge.export.ranges import elu_keys, search_tops

    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 1))
    conv = keras.layers.Conv2D(16, 3, padding="same")
    outputs = keras.layers.GlobalMaxPooling2D()(keras.layers.Activation("elu")(conv(inputs)))
    model = keras.Model(inputs, outputs)
    conv.set_weights([rng.normal(0, 1, (3, 3, 1, 16)).astype(np.float32), np.zeros(16, np.float32)])
    calibration = rng.random((16, 16, 16, 1), dtype=np.float32)
    calibration[:2] *= 30  # outliers: conv outputs to 160, where faces reach 6
    faces = rng.random((40, 16, 16, 1), dtype=np.float32)
    assert conv(calibration).numpy().max() > 4 * conv(faces).numpy().max()  # the premise

    score = feature_closeness(faces, model.predict(faces, verbose=0), int8_io=False)
    calibrated = calibrate_tflite(to_tflite(model), calibration, elu_floor=None)
    tuned, tops = search_tops(calibrated, score, log=lambda _: None)
    assert tops and set(tops) <= set(elu_keys(calibrated)) and min(tops.values()) <= 0.6
    assert score(tuned) > score(calibrated) + 0.002  # 0.9883 -> 0.99 or more when written


def test_calibrating_the_float_file_gives_the_int8_model_the_converter_gives():
    """calibrate_tflite reads the float file instead of converting the Keras model again; the int8 model made from it
    has the same tensors, types, scales and zero points as the one from TFLiteConverter's own calibrate-only mode."""
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from fer_edge.export.convert import calibrate_tflite, converter_quiet, quantize_tflite, to_tflite

    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 1))
    hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(hidden))
    model = keras.Model(inputs, outputs)
    calibration = rng.random((8, 16, 16, 1), dtype=np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([item[None]] for item in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter._experimental_calibrate_only = True  # noqa: SLF001 - the converter's own path, for comparison
    with converter_quiet():
        theirs = quantize_tflite(converter.convert())
    ours = quantize_tflite(calibrate_tflite(to_tflite(model), calibration, elu_floor=None))

    def tensors(model_bytes):
        found = Interpreter(model_content=model_bytes).get_tensor_details()
        return [
            (
                t["name"],
                str(t["dtype"]),
                list(t["shape"]),
                list(t["quantization_parameters"]["scales"]),
                list(t["quantization_parameters"]["zero_points"]),
            )
            for t in found
        ]

    assert len(tensors(ours)) > 5 and tensors(ours) == tensors(theirs)


def test_range_tops_found_on_the_encoder_apply_to_every_copy_of_its_layers_in_the_whole_window_model():
    """The search runs on the streaming encoder; keyed by layer, each factor reaches the 3 unrolled copies."""
    from tensorflow.lite.tools import flatbuffer_utils

    from fer_edge.export.convert import calibrate_tflite, to_tflite
    from fer_edge.export.ranges import elu_keys, elu_sites, scale_tops
    from fer_edge.export.twin import streaming_parts, unrolled_twin
    from fer_edge.train.model import build_model

    twin = unrolled_twin(build_model(5, width=0.0625), 0.0625)
    encoder, _ = streaming_parts(twin)
    frames = np.random.default_rng(0).random((4, 3, 48, 48, 1), dtype=np.float32)
    full = calibrate_tflite(to_tflite(twin), frames, elu_floor=None)
    keys = elu_keys(calibrate_tflite(to_tflite(encoder), frames.reshape(-1, 48, 48, 1), elu_floor=None))
    assert keys[:4] == ["elu1:in", "elu1:out", "elu2:in", "elu2:out"] and len(keys) == 16

    def tops(calibrated):
        model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
        found: dict[str, list[float]] = {}
        for key, tensor in elu_sites(model):
            found.setdefault(key, []).append(float(tensor.quantization.max[0]))
        return found

    before, after = tops(full), tops(scale_tops(full, {"elu3:out": 0.5, "elu6:in": 0.8}))
    assert all(len(before[key]) == 3 for key in keys)  # each encoder layer has 3 copies in the whole window
    np.testing.assert_allclose(after["elu3:out"], np.multiply(before["elu3:out"], 0.5), rtol=1e-6)
    np.testing.assert_allclose(after["elu6:in"], np.multiply(before["elu6:in"], 0.8), rtol=1e-6)
    assert all(after[key] == before[key] for key in before if key not in ("elu3:out", "elu6:in"))


def _onnx_elu_model(rng):
    """A conv feeding an ELU feeding a 1x1 conv (so both ELU tensors are int8)."""
    import keras

    inputs = keras.Input((16, 16, 1))
    conv, mix = keras.layers.Conv2D(4, 3, padding="same"), keras.layers.Conv2D(2, 1)
    outputs = keras.layers.Flatten()(mix(keras.layers.Activation("elu", name="elu1")(conv(inputs))))
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.abs(rng.normal(0, 1, (3, 3, 1, 4))).astype(np.float32), np.full(4, -1, np.float32)])
    mix.set_weights([rng.normal(0, 1, (1, 1, 4, 2)).astype(np.float32), np.zeros(2, np.float32)])
    return model, conv


def _float_onnx_elu_model(tmp_path, seed):
    """_onnx_elu_model as a float ONNX file in tmp_path, with 16 random calibration images."""
    from fer_edge.export.convert import to_onnx

    rng = np.random.default_rng(seed)
    model, _ = _onnx_elu_model(rng)
    calibration = rng.random((16, 16, 16, 1), dtype=np.float32)
    float_path = tmp_path / "m_float32.onnx"
    to_onnx(model, float_path)
    return float_path, calibration


def _elu_scales(path):
    """(input scale, output scale) of the one ELU in an int8 ONNX file, traced through its QDQ pairs."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    made_by = {out: node for node in graph.node for out in node.output}
    elu = next(node for node in graph.node if node.op_type == "Elu")
    dequantize = made_by[elu.input[0]]
    quantize_in = made_by[dequantize.input[0]]
    quantize_out = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == elu.output[0])
    assert dequantize.op_type == "DequantizeLinear" and quantize_in.op_type == "QuantizeLinear"
    return float(constants[quantize_in.input[1]]), float(constants[quantize_out.input[1]])


def test_the_elu_floor_reaches_int8_onnx_and_brings_it_closer_to_float(tmp_path):
    """The TFLite test above, in ONNX: outliers drive the ELU's input far below zero in calibration only."""
    from fer_edge.export.convert import quantize_onnx, to_onnx

    rng = np.random.default_rng(0)
    model, conv = _onnx_elu_model(rng)
    calibration = rng.random((16, 16, 16, 1), dtype=np.float32)
    calibration[:2] *= -20
    faces = rng.random((16, 16, 16, 1), dtype=np.float32)
    assert conv(calibration).numpy().min() < -50 and conv(faces).numpy().min() > -4  # the premise
    float_path = tmp_path / "m_float32.onnx"
    to_onnx(model, float_path)
    reference = open_model(float_path).run(faces)

    def quantized(name, **edits):
        path = tmp_path / name
        quantize_onnx(float_path, path, calibration, **edits)
        return path

    plain, floored = quantized("plain.onnx", elu_floor=None), quantized("floored.onnx", elu_floor=4.0)
    errors = [float(np.mean(np.abs(open_model(p).run(faces) - reference))) for p in (plain, floored)]
    assert errors[1] < 0.5 * errors[0], errors
    (plain_in, plain_out), (floored_in, floored_out) = _elu_scales(plain), _elu_scales(floored)
    assert floored_in < 0.5 * plain_in and np.isclose(floored_out, plain_out)  # from -4 up, not from below -50


def test_range_tops_apply_to_int8_onnx_by_layer_key(tmp_path):
    """A factor keyed 'elu1:out' scales exactly that tensor's int8 range in the ONNX file."""
    from fer_edge.export.convert import quantize_onnx

    float_path, calibration = _float_onnx_elu_model(tmp_path, seed=1)
    quantize_onnx(float_path, tmp_path / "a.onnx", calibration, elu_floor=None)
    quantize_onnx(float_path, tmp_path / "b.onnx", calibration, elu_floor=None, tops={"elu1:out": 0.5})
    (in_before, out_before), (in_after, out_after) = _elu_scales(tmp_path / "a.onnx"), _elu_scales(tmp_path / "b.onnx")
    assert out_after < 0.6 * out_before  # the top halved; the bottom (near -1) stays
    assert np.isclose(in_after, in_before)  # 'elu1:in' was not named


def test_the_range_top_search_needs_training_stills():
    from fer_edge.errors import UsageError
    from fer_edge.export.bundle import ExportConfig, tuning_stills

    with pytest.raises(UsageError, match="--tune-stills must be at least 0"):
        ExportConfig(run="runs/x", int8=True, tune_stills=-1).validate()
    with pytest.raises(UsageError, match="pass --int8"):
        ExportConfig(run="runs/x", tune_stills=100).validate()
    with pytest.raises(UsageError, match="tflite in --formats"):
        ExportConfig(run="runs/x", int8=True, formats=("onnx",), tune_stills=100).validate()
    with pytest.raises(UsageError, match="--tune-stills needs a run trained on stills"):
        tuning_stills(ExportConfig(run="runs/x", int8=True, tune_stills=100), None, None, log=lambda _: None)


def _int8_weights(path):
    """The int8 weight tensors of a QDQ ONNX file (those fed straight to a DequantizeLinear)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return [
        constants[n.input[0]]
        for n in graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in constants and constants[n.input[0]].dtype == np.int8
    ]


def _peak(path):
    return max(int(np.abs(w.astype(np.int16)).max()) for w in _int8_weights(path))


def test_onnx_weight_bits_set_the_int8_weight_range(tmp_path):
    """7 bits (reduce_range) keep every weight within +-64; 8 bits use the whole int8 range."""
    from fer_edge.export.convert import quantize_onnx

    float_path, calibration = _float_onnx_elu_model(tmp_path, seed=2)
    peaks = {}
    for bits in (7, 8):
        path = tmp_path / f"w{bits}.onnx"
        quantize_onnx(float_path, path, calibration, reduce_range=bits == 7)
        weights = _int8_weights(path)
        assert weights, "no int8 weights found"
        peaks[bits] = max(int(np.abs(w.astype(np.int16)).max()) for w in weights)
    assert peaks[7] <= 64 and peaks[8] == 127, peaks


def test_onnx_weight_bits_other_than_7_or_8_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--int8", "--onnx-weight-bits", "6"])
    assert result.exit_code != 0
    assert "--onnx-weight-bits takes 7, 8 or 7,8, got 6" in result.output
    assert "Traceback" not in result.output and not (Path("bundles") / tmp_path.name).exists()


def test_onnx_weight_bits_need_int8_onnx_files():
    from fer_edge.errors import UsageError
    from fer_edge.export.bundle import ExportConfig

    ExportConfig(run="runs/x", int8=True, onnx_weight_bits=(8,)).validate()  # tflite and onnx by default
    ExportConfig(run="runs/x", int8=True, onnx_weight_bits=(7, 8)).validate()
    for config in (
        ExportConfig(run="runs/x", onnx_weight_bits=(8,)),
        ExportConfig(run="runs/x", int8=True, formats=("tflite",), onnx_weight_bits=(7, 8)),
    ):
        with pytest.raises(UsageError, match="pass --int8 and onnx in --formats"):
            config.validate()
    for bits in ((), (7, 7), (8, 9)):
        with pytest.raises(UsageError, match="--onnx-weight-bits takes 7, 8 or 7,8"):
            ExportConfig(run="runs/x", int8=True, onnx_weight_bits=bits).validate()


def test_both_onnx_weight_widths_are_written_verified_and_picked_by_cpu(tiny_run, tmp_path, monkeypatch):
    import fer_edge.manifest

    data, run = tiny_run
    out = tmp_path / "bundle"
    args = ["export", str(run), "--int8", "--formats", "onnx", "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--min-agreement", "0", "--onnx-weight-bits", "7,8"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.calibration["onnx_weight_bits"] == [7, 8]
    for part in ("full", "encoder", "head"):
        seven, eight = (manifest.artifact("onnx", part, "int8", weight_bits=b) for b in (7, 8))
        assert (seven.file, eight.file) == (f"{part}_int8.onnx", f"{part}_int8w8.onnx")
        assert (out / seven.file).is_file() and (out / eight.file).is_file()
        if part != "encoder":  # the encoder is verified through the head (streaming)
            assert eight.verification and seven.verification
        peaks = [_peak(out / a.file) for a in (seven, eight)]
        assert peaks[0] <= 64 and peaks[1] > 64, peaks  # the second file really has 8-bit weights
    assert manifest.artifact("onnx", "full", "float32").file == "full_float32.onnx"  # one float file for both
    for bits in (7, 8):
        monkeypatch.setattr(fer_edge.manifest, "onnx_weight_bits", lambda bits=bits: bits)
        model = EmotionModel(out, format="onnx", precision="int8")
        suffix = "" if bits == 7 else "w8"
        assert model.files == {"encoder": f"encoder_int8{suffix}.onnx", "head": f"head_int8{suffix}.onnx"}
        assert model.weight_bits == bits


def test_a_negative_elu_floor_is_refused():
    from fer_edge.errors import UsageError
    from fer_edge.export.bundle import ExportConfig

    with pytest.raises(UsageError, match="--elu-floor"):
        ExportConfig(run="runs/x", elu_floor=-1.0).validate()


def test_a_model_with_a_lambda_layer_is_refused_in_safe_mode(tiny_run, tmp_path):
    import keras

    from fer_edge.errors import ModelLoadError
    from fer_edge.export.run_folder import load_run

    _, run = tiny_run
    shutil.copytree(run, tmp_path / "run")
    inputs = keras.Input((3, 48, 48, 1))
    outputs = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2, 3)))(inputs)
    keras.Model(inputs, keras.layers.Dense(5)(outputs)).save(tmp_path / "run" / "model.keras")
    with pytest.raises(ModelLoadError, match="safe mode: Requested the deserialization of a `Lambda` layer"):
        load_run(tmp_path / "run")


def test_calibration_uses_training_data_and_refuses_useless_sets(synthetic_ck48):
    from fer_edge.errors import CalibrationError
    from fer_edge.export.calibration import calibration_set
    from fer_edge.split import seed_split

    data = load_sequences(synthetic_ck48)
    split = seed_split(data)
    subset = calibration_set(data, split, size=10)
    assert len(subset) == 10 and set(subset.ids) <= set(split.train)
    assert len(set(subset.labels)) == 5  # stratified
    with pytest.raises(CalibrationError, match="smaller than the number of classes"):
        calibration_set(data, split, size=3)
    flat = type(data)(np.full_like(data.frames, 0.5), data.labels, data.subjects, data.ids, data.classes)
    with pytest.raises(CalibrationError, match="constant frames"):
        calibration_set(flat, split)


def test_an_interrupted_export_leaves_no_bundle_and_no_temporary_folder(tiny_run, tmp_path, monkeypatch):
    from fer_edge.export import bundle as bundle_module

    data, run = tiny_run
    calls = []
    real_convert = bundle_module.convert_part

    def convert_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_convert(*args, **kwargs)

    monkeypatch.setattr(bundle_module, "convert_part", convert_then_interrupt)
    out = tmp_path / "exports" / "bundle"
    result = CliRunner().invoke(app, ["export", str(run), "--int8", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 130 and "nothing half-written" in result.output
    assert not out.exists() and list((tmp_path / "exports").iterdir()) == []


def test_int8_onnx_weights_use_7_bits_against_saturation_on_x86_without_vnni(bundle):
    import onnx
    from onnx import numpy_helper

    _, _, out, _ = bundle
    graph = onnx.load(str(out / "full_int8.onnx")).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    weights = [w for w in weights if w.size > 1]  # zero points are scalars
    assert weights and max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64


def test_int8_onnx_conv_weights_have_one_scale_per_output_channel_and_matmul_weights_one_in_all(bundle):
    """Per-tensor conv weights lost the float class on 1 face in 10 of the wild model; per-channel LSTM weights made
    onnxruntime run the head 8x slower (docs/export.md)."""
    import onnx
    from onnx import numpy_helper

    _, _, out, _ = bundle
    graph = onnx.load(str(out / "encoder_int8.onnx")).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    made_by = {name: node for node in graph.node for name in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(convs) == 8
    for conv in convs:
        dequantize = made_by[conv.input[1]]
        weights = constants[dequantize.input[0]]
        assert dequantize.op_type == "DequantizeLinear"
        assert constants[dequantize.input[1]].shape == (weights.shape[0],) and weights.shape[0] > 1
    head = onnx.load(str(out / "head_int8.onnx")).graph
    constants = {t.name: numpy_helper.to_array(t) for t in head.initializer}
    made_by = {name: node for node in head.node for name in node.output}
    matmuls = [node for node in head.node if node.op_type == "MatMul" and node.input[1] in made_by]
    dequantized = [made_by[node.input[1]] for node in matmuls if made_by[node.input[1]].input[0] in constants]
    assert dequantized and all(constants[dequantize.input[1]].size == 1 for dequantize in dequantized)


def test_the_prior_shift_adds_tau_log_counts_to_the_logits_and_nothing_else():
    import keras

    from fer_edge.errors import UsageError
    from fer_edge.export.priors import prior_offsets, shift_output_bias

    offsets = prior_offsets(np.array([400, 100, 100]), 0.5)
    assert offsets.sum() == pytest.approx(0)  # centred
    assert offsets[0] - offsets[1] == pytest.approx(0.5 * np.log(4))  # 4x the faces: e^0.5log4 = 2x the odds
    with pytest.raises(UsageError, match="every output class"):
        prior_offsets(np.array([400, 0, 100]), 0.5)

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(5, activation="elu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden))
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    before = model.predict(x, verbose=0)
    shift_output_bias(model, offsets)
    after = model.predict(x, verbose=0)
    # softmax(z + o): log p moves by o plus one constant per row
    moved = np.log(after) - np.log(before) - offsets
    assert np.allclose(moved, moved[:, :1], atol=1e-4)
    assert not np.allclose(after, before, atol=1e-3)
    with pytest.raises(UsageError, match="3 outputs, the prior shift 2"):
        shift_output_bias(model, offsets[:2])


def test_the_prior_shift_is_refused_out_of_range_and_on_runs_without_stills(bundle, tmp_path):
    from fer_edge.errors import UsageError
    from fer_edge.export.bundle import ExportConfig

    for tau in (-0.1, 1.5):
        with pytest.raises(UsageError, match="--prior-shift must be between 0 and 1"):
            ExportConfig(run="runs/x", prior_shift=tau).validate()
    data, run, _, _ = bundle
    result = CliRunner().invoke(
        app, ["export", str(run), "--data", str(data), "--out", str(tmp_path / "b"), "--prior-shift", "0.5"]
    )
    assert result.exit_code != 0 and "--prior-shift needs a run trained on stills" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "b").exists()


def test_export_records_the_mirror_rule_and_verifies_under_it(tiny_run, tmp_path):
    import keras

    data, run = tiny_run
    out = tmp_path / "mirrored"
    args = ["export", str(run), "--formats", "tflite", "--data", str(data), "--out", str(out)]  # float: no calibration
    result = CliRunner().invoke(app, [*args, "--mirror-odd-frames"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.preprocess["mirror_odd_frames"] is True
    test = load_sequences(data).select(read_split(run / "split.json").test)
    windows = np.stack([mirror_odd_frames(window) for window in test.frames])  # as the runtime will show them
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    expected = model.predict(windows, verbose=0)
    np.testing.assert_allclose(manifest.heldout_metrics["keras_probabilities"], expected, atol=1e-5)
    full = EmotionModel(out, "tflite", "float32", streaming=False)
    np.testing.assert_allclose(full.predict_window(test.frames[0]), expected[0], atol=1e-5)


def test_a_run_trained_with_the_mirror_rule_exports_with_it_unless_told_not_to(tiny_run, tmp_path):
    data, run = tiny_run
    trained = tmp_path / "trained-mirrored"
    shutil.copytree(run, trained)
    config = json.loads((trained / "config.json").read_text())
    config["recipe"]["mirror_odd_frames"] = True  # as fer-edge train --mirror-odd-frames records it
    (trained / "config.json").write_text(json.dumps(config))
    args = ["export", str(trained), "--formats", "onnx", "--data", str(data)]  # the rule is the same for any format
    kept = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "kept")])
    assert kept.exit_code == 0, kept.output
    assert read_manifest(tmp_path / "kept").preprocess["mirror_odd_frames"] is True
    dropped = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "dropped"), "--no-mirror-odd-frames"])
    assert dropped.exit_code == 0, dropped.output
    assert "mirror_odd_frames" not in read_manifest(tmp_path / "dropped").preprocess


def test_without_data_export_reads_the_runs_dataset_or_says_what_to_pass(bundle, tmp_path, monkeypatch):
    import json

    monkeypatch.delenv("FER_EDGE_DATA", raising=False)
    _, run, _, _ = bundle
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    record = json.loads((moved / "config.json").read_text())
    record["config"]["data"] = str(tmp_path / "gone")  # the dataset is no longer where the run was trained
    (moved / "config.json").write_text(json.dumps(record))
    result = CliRunner().invoke(app, ["export", str(moved), "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "pass --data PATH" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


def test_conversions_print_nothing_of_their_own(capfd):
    pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")
    import warnings

    import keras

    from fer_edge.export.convert import to_tflite

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    calibration = np.random.default_rng(0).random((4, 4), dtype=np.float32)
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = to_tflite(model), to_tflite(model, calibration, elu_floor=None)
    out, err = capfd.readouterr()
    assert all(converted)
    # not Keras' "Saved artifact at ..." with a line per variable, nor the quantizer's "fully_quantize: 0, ..."
    assert out == "" and err == "", (out, err)
    assert not [w for w in caught if "Statistics for quantized inputs" in str(w.message)]
    assert keras.utils.is_interactive_logging_enabled()  # given back as it was
