"""The wild recipe: stills pretrain the per-frame CNN, then sequences and static stills train the whole model with
neutral; the run exports (calibrated on training stills too) and `fer-edge eval` scores the bundle on stills."""

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import write_synthetic_ck48, write_synthetic_stills

pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")

from typer.testing import CliRunner  # noqa: E402

from fer_edge.cli import app  # noqa: E402
from fer_edge.dataset import ALL_CLASSES, DEFAULT_CLASSES, Sequences, load_sequences  # noqa: E402
from fer_edge.preprocess import mirror_windows  # noqa: E402
from fer_edge.split import read_split  # noqa: E402
from fer_edge.stills import Stills  # noqa: E402

TINY_WILD = ["--width", "0.0625", "--epochs", "2", "--pretrain-epochs", "1", "--stills-per-epoch", "24"]
TINY_WILD += ["--batch-size", "8"]


@pytest.fixture(scope="module")
def wild(tmp_path_factory) -> dict:
    """A tiny wild run (stage 1 and stage 2) on synthetic CK+48 and stills, shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("wild")
    data = write_synthetic_ck48(tmp_path / "CK+48", classes=ALL_CLASSES)
    stills = write_synthetic_stills(tmp_path / "FER2013", per_class=8)
    run, encoder = tmp_path / "run", tmp_path / "stage1"
    args = ["train", "--recipe", "wild", "--data", data, "--stills", stills, "--encoder", encoder, "--out", run]
    framing = ["--jitter-scale", "0.2", "--jitter-shift", "0.1", "--jitter-noise", "0.04"]  # recorded by both stages
    framing += ["--pretrain-noise", "0.03"]  # stage 1's noise alone
    framing += ["--lr", "2e-4"]  # stage 2's peak rate
    result = CliRunner().invoke(app, [*map(str, args), *TINY_WILD, *framing])
    assert result.exit_code == 0, result.output
    return {"tmp": tmp_path, "data": data, "stills": stills, "run": run, "encoder": encoder, "args": args,
            "output": result.output}  # fmt: skip


@pytest.fixture(scope="module")
def wild_bundle(wild) -> dict:
    """The run exported int8 (TFLite: the range tops are searched there; ONNX is tested on the tiny bundle), with the
    training stills read once (counted) for calibration and the range tops."""
    import fer_edge.export.bundle as export_module

    reads = []
    read = export_module.load_stills
    bundle = wild["tmp"] / "bundle"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export_module, "load_stills", lambda *a, **k: reads.append(a) or read(*a, **k))
        exported = CliRunner().invoke(
            app,
            ["export", str(wild["run"]), "--int8", "--data", str(wild["data"]), "--out", str(bundle)]
            + ["--min-agreement", "0", "--calib-stills", "24", "--tune-stills", "48", "--formats", "tflite"],
        )
    assert exported.exit_code == 0, exported.output
    return {"bundle": bundle, "output": exported.output, "reads": reads}


@pytest.mark.slow
def test_wild_trains_stage_one_on_stills_then_the_whole_model_with_neutral(wild):
    import keras

    run, encoder = wild["run"], wild["encoder"]
    assert "stage 1: training the per-frame CNN on stills" in wild["output"]
    assert "and 24 of 56 stills per epoch as static sequences" in wild["output"]
    pretrain = json.loads((encoder / "pretrain.json").read_text())
    assert pretrain["train_stills"] == 56 and pretrain["val_stills"] == 28 and pretrain["config"]["epochs"] == 1
    assert pretrain["augmentation"]["scale"] == 0.2 and pretrain["augmentation"]["shift"] == 0.1
    assert pretrain["augmentation"]["noise"] == 0.03

    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == [*DEFAULT_CLASSES, "neutral"] and config["sequence_classes"] == list(DEFAULT_CLASSES)
    assert config["recipe"]["auxiliary_classes"] == ["contempt", "disgust"]
    assert config["augmentation"]["scale"] == 0.2 and config["recipe"]["jitter_shift"] == 0.1
    assert config["augmentation"]["noise"] == 0.04 and config["recipe"]["jitter_noise"] == 0.04
    assert config["recipe"]["learning_rate"] == 2e-4
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 6)
    assert all(w.dtype == "float32" for w in model.weights)  # trained in bfloat16, saved in float32
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stills_val"]["stills"] == 24  # 4 per class of the 6 the model has (disgust is auxiliary)
    history = json.loads((run / "history.json").read_text())
    assert len(history["stills_val_accuracy_all"]) == 2
    assert history["learning_rate"][0] == pytest.approx(2e-4, rel=1e-5)  # the cosine starts at --lr, not at 5e-4


@pytest.mark.slow
def test_a_second_run_reuses_stage_one_and_scores_its_windows_mirrored(wild):
    import keras

    run2 = wild["tmp"] / "run2"
    args = wild["args"]
    again = CliRunner().invoke(app, [*map(str, args[:-1]), str(run2), *TINY_WILD, "--mirror-odd-frames"])
    assert again.exit_code == 0 and "stage 1: reusing the encoder" in again.output
    assert json.loads((run2 / "config.json").read_text())["recipe"]["mirror_odd_frames"] is True
    held_out = np.load(run2 / "test_predictions.npz")  # scored as a bundle with the rule will show the sequences
    sequences = load_sequences(wild["data"]).select(read_split(run2 / "split.json").test)
    mirrored = keras.saving.load_model(run2 / "model.keras", safe_mode=True)
    expected = mirrored.predict(mirror_windows(sequences.frames), verbose=0)
    np.testing.assert_allclose(held_out["probabilities"], expected, atol=1e-5)
    assert not np.allclose(mirrored.predict(sequences.frames, verbose=0), expected, atol=1e-3)  # the rule shows


@pytest.mark.slow
def test_the_run_exports_calibrated_on_training_stills_read_once(wild_bundle):
    output, bundle = wild_bundle["output"], wild_bundle["bundle"]
    assert len(wild_bundle["reads"]) == 1 and output.count("reading the training stills from") == 1
    assert "calibration adds 24 training stills" in output  # 4 of each of the model's 6 classes
    assert "range tops are searched on 24 other training stills" in output  # all 48 minus those
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["calibration"]["tflite_tune_stills"] == 24
    tops = manifest["calibration"]["tflite_range_tops"]
    assert isinstance(tops, dict) and all(key.split(":")[1] in ("in", "out") for key in tops)  # keyed by layer
    assert (f"encoder's {len(tops)} lowered tops applied to full_int8.tflite" in output) == bool(tops)
    assert manifest["classes"] == [*DEFAULT_CLASSES, "neutral"]
    assert any(i.startswith("neutral/") for i in manifest["calibration"]["ids"])


@pytest.mark.slow
def test_the_bundle_teaches_a_run_and_eval_scores_it_on_stills(wild, wild_bundle):
    # --teacher: the bundle's predictions on the 56 training stills (disgust too) blend into their stage-2 targets
    bundle, run3 = wild_bundle["bundle"], wild["tmp"] / "run3"
    args = wild["args"]
    taught = [*map(str, args[:-1]), str(run3), *TINY_WILD, "--teacher", str(bundle), "--teacher-weight", "0.3"]
    taught = CliRunner().invoke(app, taught)
    assert taught.exit_code == 0, taught.output
    assert f"teacher {bundle} (float32) reads 56 training stills" in taught.output
    assert "still targets: 0.7 label + 0.3 teacher" in taught.output
    recorded = json.loads((run3 / "config.json").read_text())
    assert recorded["config"]["teacher"] == str(bundle) and recorded["config"]["teacher_weight"] == 0.3

    report = wild["tmp"] / "report"
    scored = CliRunner().invoke(app, ["eval", str(bundle), "--data", str(wild["stills"]), "--out", str(report)])
    assert scored.exit_code == 0, scored.output
    ours = json.loads((report / "eval.json").read_text())["models"][0]
    assert ours["faces"] == 24 and ours["not_scored"] == {"disgust": 4} and "neutral" in ours["recall"]


@pytest.mark.slow
def test_prior_shift_moves_each_logit_by_its_share_of_training_stills(wild, wild_bundle, tmp_path):
    # fewer happy training stills, so happy's logit goes down by 0.5 * log 2 against the others'
    stills = tmp_path / "FER2013"
    shutil.copytree(wild["stills"], stills)
    for still in sorted((stills / "train" / "happy").iterdir())[:4]:
        still.unlink()
    shifted = tmp_path / "shifted"
    args = ["export", str(wild["run"]), "--data", str(wild["data"]), "--out", str(shifted), "--formats", "tflite"]
    exported = CliRunner().invoke(app, [*args, "--stills", str(stills), "--calib-stills", "0", "--prior-shift", "0.5"])
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((wild_bundle["bundle"] / "manifest.json").read_text())
    prior = json.loads((shifted / "manifest.json").read_text())["source_model"]["prior_shift"]
    assert prior["tau"] == 0.5 and prior["counts"] == {**dict.fromkeys(manifest["classes"], 8), "happy": 4}
    offsets = np.array([prior["logit_offsets"][c] for c in manifest["classes"]])
    assert offsets[0] - offsets[1] == pytest.approx(-0.5 * np.log(2), abs=1e-5)  # happy against surprise
    plain = np.array(manifest["heldout_metrics"]["keras_probabilities"])
    moved = np.array(json.loads((shifted / "manifest.json").read_text())["heldout_metrics"]["keras_probabilities"])
    change = np.log(np.maximum(moved, 1e-6)) - np.log(np.maximum(plain, 1e-6)) - offsets
    sure = (plain > 1e-3).all(axis=1) & (moved > 1e-3).all(axis=1)
    assert sure.sum() >= 5 and np.allclose(change[sure], change[sure][:, :1], atol=1e-3)  # the bundle's own model


def test_mixed_batches_hold_sequences_and_static_stills_in_proportion():
    from dataclasses import replace

    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.stills_mix import mixed_batches

    classes = ("a", "b", "neutral")
    sequences = Sequences(
        np.random.default_rng(0).random((10, 3, 48, 48, 1), dtype=np.float32),
        np.array([0, 1] * 5),
        np.array(["S1"] * 10),
        np.array([f"x/{i}" for i in range(10)]),
        classes,
    )
    stills = Stills(np.full((40, 48, 48, 1), 0.5, np.float32), np.array([2] * 40), np.arange(40).astype(str), classes)
    recipe = replace(RECIPES["wild"], repeats=2, stills_per_epoch=60, batch_size=16, augment=False)
    batches, steps = mixed_batches(sequences, stills, recipe, np.ones(10, np.float32), seed=0)
    assert steps == 5  # (10 * 2 + 60) / 16
    frames, targets = [], []
    for f, t, _ in batches.take(steps * 20):
        frames.append(f.numpy())
        targets.append(t.numpy())
    frames, targets = np.concatenate(frames), np.concatenate(targets)
    static = np.all(frames == frames[:, :1], axis=(1, 2, 3, 4))
    assert np.array_equal(static, targets[:, 2] == 1)  # every still is a static sequence labelled neutral
    assert 0.70 < static.mean() < 0.80  # 60 of every 80


def test_wild_needs_stills_and_other_recipes_refuse_them(synthetic_ck48, synthetic_stills, tmp_path):
    base = ["train", "--data", str(synthetic_ck48), "--out", str(tmp_path / "r")]
    missing = CliRunner().invoke(app, [*base, "--recipe", "wild"])
    assert missing.exit_code == 2 and "pass --stills" in missing.output
    refused = CliRunner().invoke(app, [*base, "--recipe", "edge", "--stills", str(synthetic_stills)])
    assert refused.exit_code == 2 and "not edge" in refused.output
    (synthetic_stills / "train" / "neutral").rename(synthetic_stills / "train" / "unused")
    no_neutral = CliRunner().invoke(app, [*base, "--recipe", "wild", "--stills", str(synthetic_stills)])
    assert no_neutral.exit_code != 0 and "unknown emotion 'unused'" in no_neutral.output
    assert not (tmp_path / "r").exists()


def test_stage_one_continues_from_an_encoder_and_records_where_it_started(synthetic_stills, tmp_path):
    import keras

    from fer_edge.stills import load_stills
    from fer_edge.train.config import ENCODER_FILE
    from fer_edge.train.pretrain import PretrainConfig, build_classifier, pretrain_encoder

    train = load_stills(synthetic_stills, "train")
    first = PretrainConfig(width=0.0625, epochs=1, batch_size=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pretrain_encoder(train, None, first, tmp_path / "first", log=lambda _: None)
    assert not [w for w in caught if "shuffle" in str(w.message)]  # no Keras warning in a user's training log
    # a learning rate too small to move anything: a continued stage 1 ends where it started, a fresh one does not
    still = PretrainConfig(width=0.0625, epochs=1, batch_size=16, learning_rate=1e-12, seed=7)
    record = pretrain_encoder(
        train, None, replace(still, init_from=str(tmp_path / "first")), tmp_path / "then", log=lambda _: None
    )
    pretrain_encoder(train, None, still, tmp_path / "fresh", log=lambda _: None)

    def weights(folder):
        encoder, _ = build_classifier(0.0625, len(train.classes), 0.3)
        encoder.load_weights(folder / ENCODER_FILE)
        return [w for w in encoder.get_weights() if w.ndim == 4]  # the conv kernels

    started, continued, fresh = (weights(tmp_path / f) for f in ("first", "then", "fresh"))
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(started, continued, strict=True))
    assert not np.allclose(started[0], fresh[0], atol=1e-3)
    assert record["started_from"]["config"]["epochs"] == 1 and record["config"]["init_from"] == str(tmp_path / "first")
    keras.backend.clear_session()


def test_an_interrupted_stage_one_resumes_from_its_last_whole_epoch(synthetic_stills, tmp_path, monkeypatch):
    import keras

    from fer_edge.stills import load_stills
    from fer_edge.train import pretrain

    train = load_stills(synthetic_stills, "train")
    config = pretrain.PretrainConfig(width=0.0625, epochs=2, batch_size=16)
    saved = pretrain.save_checkpoint

    def save_then_stop(folder, model, epoch, history, key):  # the session ends right after epoch 1's checkpoint
        saved(folder, model, epoch, history, key)
        raise KeyboardInterrupt

    monkeypatch.setattr(pretrain, "save_checkpoint", save_then_stop)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain_encoder(train, None, config, tmp_path / "stage1", log=lines.append)
    monkeypatch.undo()
    assert not (tmp_path / "stage1").exists() and (tmp_path / ".stage1.partial" / "state.npz").is_file()
    assert "the same command resumes stage 1 from its checkpoint" in lines[-1]

    lines = []
    other = replace(config, seed=7)  # other settings do not take this checkpoint
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(pretrain, "save_checkpoint", save_then_stop)
        pretrain.pretrain_encoder(train, None, other, tmp_path / "stage1", log=lines.append)
    monkeypatch.undo()
    assert any("of other settings or data; starting afresh" in line for line in lines)

    with pytest.raises(KeyboardInterrupt):  # the seed-7 checkpoint is replaced by a seed-42 one at epoch 1
        monkeypatch.setattr(pretrain, "save_checkpoint", save_then_stop)
        pretrain.pretrain_encoder(train, None, config, tmp_path / "stage1", log=lambda _: None)
    monkeypatch.undo()
    lines = []
    record = pretrain.pretrain_encoder(train, None, config, tmp_path / "stage1", log=lines.append)
    assert any("resuming at epoch 2/2" in line for line in lines)
    assert sum("[stills] epoch" in line for line in lines) == 1  # only epoch 2 trained
    assert record["resumed_at_epoch"] == 2
    assert len(json.loads((tmp_path / "stage1" / "history.json").read_text())["loss"]) == 2
    assert not (tmp_path / ".stage1.partial").exists()  # done: nothing left to resume
    keras.backend.clear_session()


def test_a_checkpoint_restores_weights_and_optimizer_state(tmp_path):
    import keras

    from fer_edge.train.checkpoint import load_checkpoint, save_checkpoint

    def model():
        built = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        built.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        built.optimizer.build(built.trainable_variables)
        return built

    trained = model()
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    trained.fit(x, x[:, :2], epochs=3, verbose=0)
    save_checkpoint(tmp_path, trained, 3, {"loss": [3.0, 2.0, 1.0]}, {"seed": 1})
    fresh = model()
    assert load_checkpoint(tmp_path, fresh, {"seed": 2}) is None  # another run's
    assert load_checkpoint(tmp_path, fresh, {"seed": 1}) == (3, {"loss": [3.0, 2.0, 1.0]})
    for a, b in zip(trained.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(trained.optimizer.variables, fresh.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.optimizer.iterations.numpy()) == 3  # one batch per epoch: Adam continues at step 4


def test_pretrain_from_must_be_a_stage_one_folder_of_the_same_width(synthetic_ck48, synthetic_stills, tmp_path):
    base = ["train", "--recipe", "wild", "--data", str(synthetic_ck48), "--stills", str(synthetic_stills)]
    base += ["--out", str(tmp_path / "r")]
    empty = CliRunner().invoke(app, [*base, "--pretrain-from", str(tmp_path)])
    assert empty.exit_code == 2 and "is neither a stage-1 folder" in empty.output
    stage = tmp_path / "stage1"
    stage.mkdir()
    (stage / "encoder.weights.h5").write_bytes(b"")
    (stage / "pretrain.json").write_text(json.dumps({"config": {"width": 1.0}}))
    wider = CliRunner().invoke(app, [*base, "--width", "0.5", "--pretrain-from", str(stage)])
    assert wider.exit_code == 2 and "has width 1, this run 0.5" in wider.output
    refused = CliRunner().invoke(app, ["train", "--data", str(synthetic_ck48), "--pretrain-from", str(stage)])
    assert refused.exit_code == 2 and "not seed" in refused.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "option, good, suffix, bad, complaint",
    [
        ("erase", "0.5", "-er0.5", "2", "pretrain_erase 2.0 must be in [0, 1]"),
        ("mixup", "0.2", "-mix0.2", "-1", "pretrain_mixup -1.0 must be at least 0"),
        ("noise", "0.05", "-n0.05", "0.3", "pretrain_noise 0.3 must be in [0, 0.2]"),
    ],
)
def test_stage_one_options_name_their_folder_and_are_refused_outside_wild_or_out_of_range(
    synthetic_ck48, tmp_path, option, good, suffix, bad, complaint
):
    from fer_edge.train.config import TrainConfig, encoder_dir
    from fer_edge.train.recipes import get_recipe

    recipe = get_recipe("wild", **{f"pretrain_{option}": float(good)})
    assert encoder_dir(TrainConfig(recipe="wild", width=0.5), recipe).name == f"stills-w0.5-e50-d0.5{suffix}"
    base = ["train", "--data", str(synthetic_ck48), "--out", str(tmp_path / "r")]
    refused = CliRunner().invoke(app, [*base, f"--pretrain-{option}", good])
    assert refused.exit_code == 2 and f"--pretrain-{option}" in refused.output and "not seed" in refused.output
    wild = [*base, "--recipe", "wild", "--stills", str(tmp_path)]
    out_of_range = CliRunner().invoke(app, [*wild, f"--pretrain-{option}", bad])
    assert out_of_range.exit_code == 2 and complaint in out_of_range.output
    assert not (tmp_path / "r").exists()


def test_stage_one_erases_a_rectangle_of_the_given_share_of_stills():
    from fer_edge.train.pretrain import PretrainConfig, still_batches

    faces = Stills(
        np.full((64, 48, 48, 1), 0.5, np.float32), np.arange(64) % 4, np.arange(64).astype(str), tuple("abcd")
    )

    def erased(share):
        config = PretrainConfig(augment=False, erase=share, batch_size=64)
        images = next(iter(still_batches(faces, config)))[0].numpy()[..., 0]
        return images, np.abs(images - 0.5) > 1e-6  # the noise is never exactly the grey face

    untouched, changed = erased(0.0)
    assert not changed.any()
    images, changed = erased(1.0)
    for mask in changed:  # one rectangle per face, 2-33 % of its area (the noise may match the face at its edge)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
        assert 0.01 * 48 * 48 <= box <= 0.34 * 48 * 48 and mask.sum() >= 0.9 * box
    assert images.min() >= 0 and images.max() <= 1
    assert 16 <= erased(0.5)[1].any(axis=(1, 2)).sum() <= 48  # about half of 64


def test_stage_one_mixup_blends_faces_targets_and_weights_alike(synthetic_stills, tmp_path):
    import keras

    from fer_edge.stills import load_stills
    from fer_edge.train.pretrain import PretrainConfig, pretrain_encoder, still_batches

    # each face is flat at its own class's grey, so a blend can be read back from any pixel
    labels = np.arange(64) % 4
    faces = Stills(
        np.repeat(((labels + 1) / 5).astype(np.float32), 48 * 48).reshape(64, 48, 48, 1),
        labels,
        np.arange(64).astype(str),
        tuple("abcd"),
    )

    def batch(alpha):
        config = PretrainConfig(augment=False, mixup=alpha, batch_size=64, class_weighting="sqrt")
        return [t.numpy() for t in next(iter(still_batches(faces, config)))]

    images, targets, weights = batch(0.0)
    assert np.array_equal(targets.max(1), np.ones(64)) and np.allclose(images[:, 0, 0, 0], (targets.argmax(1) + 1) / 5)
    images, targets, weights = batch(0.4)
    assert np.allclose(targets.sum(1), 1) and targets.max(1).min() >= 0.5 - 1e-6
    assert (targets.max(1) < 0.99).sum() > 32  # most faces are blends at alpha 0.4
    assert np.allclose(images[:, 0, 0, 0], targets @ ((np.arange(4) + 1) / 5), atol=1e-5)  # face and target alike
    assert np.allclose(images.std(axis=(1, 2, 3)), 0, atol=1e-6)  # the blend is of whole faces
    assert weights.min() > 0

    # Keras trains on the blended batches (soft targets) and records the setting
    train = load_stills(synthetic_stills, "train")
    record = pretrain_encoder(
        train,
        None,
        PretrainConfig(width=0.0625, epochs=1, batch_size=16, mixup=0.2),
        tmp_path / "s",
        log=lambda _: None,
    )
    assert record["config"]["mixup"] == 0.2 and np.isfinite(record["seconds_per_epoch"])
    keras.backend.clear_session()


def test_mixed_batches_carry_the_stills_given_targets():
    from dataclasses import replace

    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.stills_mix import mixed_batches

    classes = ("a", "b", "neutral")
    sequences = Sequences(
        np.zeros((4, 3, 48, 48, 1), np.float32),
        np.array([0, 1] * 2),
        np.array(["S1"] * 4),
        np.array([f"x/{i}" for i in range(4)]),
        classes,
    )
    shades = 0.05 + np.arange(8, dtype=np.float32) / 10  # still i is a flat face of shade i, so rows can be told apart
    images = np.broadcast_to(shades[:, None, None, None], (8, 48, 48, 1)).copy()
    stills = Stills(images, np.array([2] * 8), np.arange(8).astype(str), classes)
    soft = np.stack([np.arange(8) / 100, 0.3 - np.arange(8) / 100, np.full(8, 0.7)], axis=1).astype(np.float32)
    recipe = replace(RECIPES["wild"], repeats=1, stills_per_epoch=8, batch_size=4, augment=False)
    batches, _ = mixed_batches(sequences, stills, recipe, np.ones(4, np.float32), seed=0, still_targets=soft)
    frames, targets = [], []
    for f, t, _ in batches.take(12):
        frames.append(f.numpy())
        targets.append(t.numpy())
    frames, targets = np.concatenate(frames), np.concatenate(targets)
    still = frames[:, 0, 0, 0, 0] > 0
    assert still.sum() > 8 and (~still).any()
    which = np.round((frames[still, 0, 0, 0, 0] - 0.05) * 10).astype(int)
    np.testing.assert_allclose(targets[still], soft[which], atol=1e-6)  # each still with its own blended target
    assert set(map(tuple, targets[~still])) <= {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0)}  # sequences keep one-hot


def test_teacher_targets_blend_the_label_with_the_teachers_classes_by_name():
    from fer_edge.train.teacher import blended_targets, still_targets

    classes = ("happy", "fear", "neutral", "contempt")  # contempt: auxiliary, the teacher lacks it
    teacher = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], np.float32)  # in the teacher's order
    labelled = Stills(np.zeros((2, 48, 48, 1), np.float32), np.array([1, 3]), np.array(["a", "b"]), classes)
    blended = blended_targets(still_targets(labelled), classes, teacher, ("neutral", "happy", "fear"), 0.25)
    np.testing.assert_allclose(blended[0], [0.25 * 0.3, 0.75 + 0.25 * 0.1, 0.25 * 0.6, 0.0])
    np.testing.assert_allclose(blended[1], [0.25 * 0.2, 0.25 * 0.6, 0.25 * 0.2, 0.75])
    np.testing.assert_allclose(blended.sum(axis=1), 1.0, rtol=1e-6)
    # FER+ votes instead of a label: the teacher blends into the vote distribution
    votes = np.array([[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 1.0]], np.float32)
    voted = replace(labelled, targets=votes)
    voted = blended_targets(still_targets(voted), classes, teacher, ("neutral", "happy", "fear"), 0.25)
    np.testing.assert_allclose(voted[0], [0.375 + 0.25 * 0.3, 0.25 * 0.1, 0.375 + 0.25 * 0.6, 0.0])


def test_teacher_is_checked_before_any_training(synthetic_ck48, synthetic_stills, tmp_path):
    base = ["train", "--data", str(synthetic_ck48), "--out", str(tmp_path / "r")]
    wild = [*base, "--recipe", "wild", "--stills", str(synthetic_stills)]
    other = tmp_path / "other"  # a bundle that also predicts disgust, which a wild run does not
    shutil.copytree(Path(__file__).resolve().parents[1] / "fer_edge" / "models" / "default", other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "classes": [*manifest["classes"], "disgust"]}))
    cases = [
        ([*base, "--recipe", "edge", "--teacher", str(tmp_path)], "not edge"),
        ([*wild, "--teacher", str(other)], f"--teacher {other} predicts disgust, which this run does not"),
        ([*wild, "--teacher", str(tmp_path / "nothing")], "is not a bundle (no manifest.json)"),
        (
            [*wild, "--teacher", "fer_edge/models/default", "--teacher-weight", "0"],
            "--teacher-weight must be in (0, 1]",
        ),
    ]
    for args, fragment in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0 and fragment in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def write_votes_for(stills: Path, seed: int = 0) -> Path:
    """ferplus.csv for every synthetic still: most votes for its folder's class, the rest spread at random."""
    from fer_edge.ferplus import COLUMNS, EMOTION_COLUMNS
    from fer_edge.stills import CLASS_NAMES

    rng = np.random.default_rng(seed)
    names = {CLASS_NAMES[c]: c for c in EMOTION_COLUMNS}
    lines = ["path," + ",".join(COLUMNS)]
    for path in sorted(stills.glob("*/*/*.jpg")):
        counts = dict.fromkeys(COLUMNS, 0)
        counts[names[CLASS_NAMES[path.parent.name]]] = 6
        for column in rng.choice(COLUMNS, size=4):
            counts[column] += 1
        lines.append(f"{path.relative_to(stills).as_posix()}," + ",".join(str(counts[c]) for c in COLUMNS))
    (stills / "ferplus.csv").write_text("\n".join(lines) + "\n")
    return stills / "ferplus.csv"


def test_stage_one_trains_on_the_stills_vote_distributions(tmp_path):
    import keras

    from fer_edge.ferplus import CLASSES as FERPLUS_CLASSES
    from fer_edge.ferplus import load_ferplus_stills
    from fer_edge.train.pretrain import PretrainConfig, pretrain_encoder, still_batches

    stills = write_synthetic_stills(tmp_path / "FER2013", per_class=2)
    write_votes_for(stills)
    train = load_ferplus_stills(stills, "train", "ferplus").stills
    val = load_ferplus_stills(stills, "val", "ferplus-majority").stills
    config = PretrainConfig(width=0.0625, epochs=1, batch_size=64, augment=False, labels="ferplus")
    _, targets, _ = next(iter(still_batches(train, config)))
    targets = targets.numpy()
    assert targets.shape == (14, 8) and np.allclose(targets.sum(axis=1), 1) and (targets.max(axis=1) < 1).all()
    rows = {tuple(np.round(t, 5)) for t in train.targets}
    assert {tuple(np.round(t, 5)) for t in targets} == rows  # each still with its own vote distribution

    lines = []
    record = pretrain_encoder(train, val, config, tmp_path / "stage1", lines.append)
    keras.backend.clear_session()
    assert "vote distributions as targets" in lines[0] and record["classes"] == list(FERPLUS_CLASSES)
    assert record["config"]["labels"] == "ferplus" and record["val_stills"] == len(val)


def test_wild_stage_two_trains_on_ferplus_votes_and_records_them(tmp_path, monkeypatch):
    import keras

    import fer_edge.train.training as training_module
    from fer_edge.train.config import ENCODER_FILE
    from fer_edge.train.model import build_encoder

    data = write_synthetic_ck48(tmp_path / "CK+48", classes=ALL_CLASSES, subjects=4, frames=3)
    stills = write_synthetic_stills(tmp_path / "FER2013", per_class=2)
    write_votes_for(stills)
    stage1 = tmp_path / "stage1"  # a stage-1 folder to reuse, so that only stage 2 trains here
    stage1.mkdir()
    build_encoder(0.0625).save_weights(stage1 / ENCODER_FILE)
    (stage1 / "pretrain.json").write_text(json.dumps({"config": {"width": 0.0625, "epochs": 1}}))
    seen = {}
    mixed = training_module.mixed_batches

    def spy(sequences, shown, recipe, weights, seed, still_targets=None):
        seen["classes"], seen["targets"] = shown.classes, still_targets
        return mixed(sequences, shown, recipe, weights, seed, still_targets)

    monkeypatch.setattr(training_module, "mixed_batches", spy)
    for slow in ("plot_history", "plot_confusion", "plot_sample_predictions", "save_legacy_h5"):  # tested elsewhere
        monkeypatch.setattr(training_module, slow, lambda *args, **kwargs: None)
    args = ["train", "--recipe", "wild", "--data", data, "--stills", stills, "--stills-labels", "ferplus"]
    args += ["--encoder", stage1, "--out", tmp_path / "run", "--width", "0.0625", "--epochs", "1"]
    result = CliRunner().invoke(app, [*map(str, args), "--stills-per-epoch", "8", "--batch-size", "16"])
    keras.backend.clear_session()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    log = "\n".join(lines)
    assert "with FER+ vote distributions from" in log and "still targets: FER+ vote distributions over" in log
    assert seen["classes"] == (*DEFAULT_CLASSES, "neutral", "contempt", "disgust")  # with the auxiliary ones
    targets = seen["targets"]
    assert targets.shape == (14, 8) and np.allclose(targets.sum(axis=1), 1) and (targets.max(axis=1) < 1).all()
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["config"]["stills_labels"] == "ferplus" and recorded["stills"]["labels"] == "ferplus"
    assert recorded["stills"]["soft_targets"] is True and recorded["stills"]["votes"].endswith("ferplus.csv")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["stills_val"]["stills"] == 12  # val by FER+ majority: 2 per class of the run's 6


def test_stills_labels_are_checked_before_any_training(synthetic_ck48, synthetic_stills, tmp_path):
    base = ["train", "--data", str(synthetic_ck48), "--out", str(tmp_path / "r")]
    wild = [*base, "--recipe", "wild", "--stills", str(synthetic_stills)]
    cases = [
        ([*wild, "--stills-labels", "votes"], "--stills-labels takes folder, ferplus, ferplus-majority"),
        ([*wild, "--stills-labels", "ferplus"], "no ferplus.csv in"),
        ([*wild, "--ferplus", str(tmp_path / "v.csv")], "--ferplus names the FER+ votes for --stills-labels"),
        ([*base, "--recipe", "edge", "--stills-labels", "ferplus"], "not edge"),
        ([*wild, "--folder-weight", "0.25"], "--folder-weight blends the folder label into --stills-labels ferplus"),
        ([*wild, "--stills-labels", "ferplus", "--folder-weight", "1"], "--folder-weight must be in [0, 1), got 1"),
        ([*wild, "--without-majority", "drop"], "--without-majority drop applies to --stills-labels ferplus"),
        ([*wild, "--stills-labels", "ferplus", "--folder-blend", "x"], "--folder-blend takes all or expressions"),
        ([*wild, "--stills-labels", "ferplus", "--without-majority", "x"], "--without-majority takes keep or drop"),
    ]
    for args, fragment in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0 and fragment in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()
