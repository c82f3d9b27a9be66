"""End to end on the synthetic tree: a tiny model for 2 epochs leaves a complete, parseable run folder."""

import json
import os
import re

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")

from conftest import load_script
from typer.testing import CliRunner  # noqa: E402

from fer_edge.cli import app  # noqa: E402
from fer_edge.split import read_split  # noqa: E402

RUN_FILES = [
    "model.keras",
    "DCNN_model.h5",
    "history.json",
    "epoch_history_dcnn.png",
    "confusion_matrix_dcnn.png",
    "sample_predictions.png",
    "classification_report.txt",
    "classification_report.json",
    "split.json",
    "config.json",
    "metrics.json",
]
TINY = ["--width", "0.0625", "--epochs", "2", "--batch-size", "8"]


def check_run_folder(run, classes):
    import keras

    for name in RUN_FILES:
        assert (run / name).is_file(), f"{name} missing"
    for name in ("history.json", "classification_report.json", "config.json", "metrics.json"):
        json.loads((run / name).read_text())
    for name in ("epoch_history_dcnn.png", "confusion_matrix_dcnn.png", "sample_predictions.png"):
        assert cv2.imread(str(run / name)) is not None
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == len(history["heldout_accuracy"]) == 2
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == list(classes) and config["preprocess"]["size"] == 48
    assert config["versions"]["keras"] == keras.__version__
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.output_shape == (None, len(classes))
    metrics = json.loads((run / "metrics.json").read_text())
    split = read_split(run / "split.json")
    assert metrics["test_sequences"] == len(split.test) and 0.0 <= metrics["accuracy"] <= 1.0
    return split


@pytest.mark.slow
def test_train_leaves_a_complete_run_folder(synthetic_ck48, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", "--data", str(synthetic_ck48), "--out", str(run), "--recipe", "edge", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "epoch   2/2" in result.output and "held-out accuracy" in result.output
    split = check_run_folder(run, ("happy", "surprise", "anger", "sadness", "fear"))
    assert (len(split.train), len(split.test)) == (21, 9)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no temp folder left


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Even though the:UserWarning")  # tf.data's own functions stay compiled
def test_cross_validation_writes_folds_and_a_summary(synthetic_ck48, tmp_path):
    import tensorflow as tf

    # What is under test is the folds' bookkeeping; the compiled training step is covered by the other training tests.
    # Run eagerly, each fold's new model skips a graph trace of about 9 s.
    run = tmp_path / "cv"
    args = ["train", "--data", str(synthetic_ck48), "--out", str(run), "--cv", "2", "--classes", "happy,fear", *TINY]
    tf.config.run_functions_eagerly(True)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        tf.config.run_functions_eagerly(False)
    assert result.exit_code == 0, result.output
    tested = []
    for fold in (1, 2):
        split = check_run_folder(run / f"fold_{fold}", ("happy", "fear"))
        tested += split.test
    assert sorted(tested) == sorted(
        f"{c}/S{s}_{n}" for c, n in (("happy", "001"), ("fear", "005")) for s in range(101, 107)
    )
    summary = json.loads((run / "summary.json").read_text())
    accuracies = [f["accuracy"] for f in summary["per_fold"]]
    assert summary["folds"] == 2 and summary["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    saved = [np.load(run / f"fold_{fold}" / "test_predictions.npz") for fold in (1, 2)]
    right = [s["probabilities"][:, :2].argmax(axis=1) == s["labels"] for s in saved]  # among happy, fear only
    assert [f["accuracy_sequence_classes"] for f in summary["per_fold"]] == pytest.approx([r.mean() for r in right])
    assert summary["pooled_accuracy_sequence_classes"] == pytest.approx(np.concatenate(right).mean())
    assert all(f["accuracy_sequence_classes"] >= f["accuracy"] for f in summary["per_fold"])
    assert cv2.imread(str(run / "folds.png")) is not None
    assert cv2.imread(str(run / "confusion_matrix_dcnn.png")) is not None


def test_folds_of_a_model_with_a_neutral_output_are_also_scored_among_the_sequence_classes(synthetic_ck48, tmp_path):
    from fer_edge.dataset import load_sequences
    from fer_edge.train.config import TrainConfig
    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import RunResult, summarize_folds

    data = load_sequences(synthetic_ck48, ("happy", "fear"))
    recipe = RECIPES["wild"]  # its outputs: the sequence classes, then neutral
    assert recipe.stills_classes == ("neutral",)
    # fold 1: a happy face called neutral, though happy leads fear; fold 2: fear right, and happy called fear
    folds = [([0, 1], [[0.3, 0.1, 0.6], [0.1, 0.8, 0.1]]), ([1, 0], [[0.2, 0.7, 0.1], [0.2, 0.5, 0.3]])]
    results = [
        RunResult(
            tmp_path, float(np.mean(np.argmax(p, 1) == y)), 0.5, 1.0, np.array(y), np.array(p), np.array(["a", "b"])
        )
        for y, p in folds
    ]
    lines = []
    summary = summarize_folds(results, data, TrainConfig(data=str(synthetic_ck48)), recipe, tmp_path, lines.append)
    assert [f["accuracy"] for f in summary["per_fold"]] == [0.5, 0.5]
    assert [f["accuracy_sequence_classes"] for f in summary["per_fold"]] == [1.0, 0.5]
    assert summary["pooled_accuracy"] == 0.5 and summary["pooled_accuracy_sequence_classes"] == 0.75
    assert "argmax among the 2 sequence classes only: 75.0% ± 25.0%, pooled 75.0%" in lines[-1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Even though the:UserWarning")  # tf.data's own functions stay compiled
def test_an_interrupted_cross_validation_trains_only_its_unfinished_folds(synthetic_ck48, tmp_path, monkeypatch):
    import tensorflow as tf

    from fer_edge.train import training
    from fer_edge.train.folds import reuse_fold

    run, store = tmp_path / "cv", tmp_path / ".cv.folds"
    args = ["train", "--data", str(synthetic_ck48), "--out", str(run), "--cv", "2", "--classes", "happy,fear", *TINY]
    fit_one = training.fit_one

    def stop_at_fold_two(data, split, *rest):  # the session ends during the second fold
        if split.fold == 2:
            raise KeyboardInterrupt
        return fit_one(data, split, *rest)

    tf.config.run_functions_eagerly(True)  # as in the test above: tiny folds, no graph trace per fold
    try:
        monkeypatch.setattr(training, "fit_one", stop_at_fold_two)
        assert CliRunner().invoke(app, args).exit_code == 130
        monkeypatch.undo()
        assert not run.exists() and (store / "fold_1" / "metrics.json").is_file() and not (store / "fold_2").exists()
        assert not reuse_fold(store, tmp_path / "elsewhere" / "fold_1", {"config": {}, "test": []})  # another run's
        result = CliRunner().invoke(app, args)
    finally:
        tf.config.run_functions_eagerly(False)
    assert result.exit_code == 0, result.output
    assert "[fold 1/2] finished by an earlier run of this command" in result.output
    assert "[fold 1/2] training" not in result.output and "[fold 2/2] training" in result.output
    summary = json.loads((run / "summary.json").read_text())
    assert [f["fold"] for f in summary["per_fold"]] == [1, 2]
    assert summary["per_fold"][0]["accuracy"] == json.loads((run / "fold_1" / "metrics.json").read_text())["accuracy"]
    check_run_folder(run / "fold_1", ("happy", "fear"))
    assert not (run / "fold_1" / "fold_key.json").exists() and not store.exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Even though the:UserWarning")  # tf.data's own functions stay compiled
def test_an_interrupted_training_resumes_from_its_last_whole_epoch(synthetic_ck48, tmp_path, monkeypatch):
    import tensorflow as tf

    from fer_edge.train import training

    run, partial = tmp_path / "run", tmp_path / ".run.folds" / "run.partial"
    args = ["train", "--data", str(synthetic_ck48), "--out", str(run), "--recipe", "edge", *TINY]
    saved = training.save_checkpoint

    def save_then_stop(folder, model, epoch, history, key):  # the session ends right after epoch 1's checkpoint
        saved(folder, model, epoch, history, key)
        raise KeyboardInterrupt

    tf.config.run_functions_eagerly(True)  # tiny runs: no graph trace
    try:
        monkeypatch.setattr(training, "save_checkpoint", save_then_stop)
        stopped = CliRunner().invoke(app, args)
        monkeypatch.undo()
        resumed = CliRunner().invoke(app, args)
    finally:
        tf.config.run_functions_eagerly(False)
    assert stopped.exit_code == 130 and "the same command resumes this training" in stopped.output
    assert "epoch   1/2" in stopped.output and "epoch   2/2" not in stopped.output
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at epoch 2/2" in resumed.output
    assert "epoch   1/2" not in resumed.output and "epoch   2/2" in resumed.output  # only epoch 2 trained
    check_run_folder(run, ("happy", "surprise", "anger", "sadness", "fear"))  # both epochs in history.json
    assert json.loads((run / "metrics.json").read_text())["resumed_at_epoch"] == 2
    assert not partial.parent.exists()  # done: nothing left to resume


def test_a_failure_during_training_leaves_no_run_folder(synthetic_ck48, tmp_path, monkeypatch):
    from fer_edge.train import training

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "fit_one", explode)
    result = CliRunner().invoke(app, ["train", "--data", str(synthetic_ck48), "--out", str(tmp_path / "run"), *TINY])
    assert result.exit_code == 130
    assert "interrupted" in result.output
    assert os.listdir(tmp_path) == ["CK+48"]


@pytest.mark.slow
def test_sigterm_during_training_removes_the_temporary_run_folder(synthetic_ck48, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "fer_edge.cli", "train", "--data", str(synthetic_ck48), "--out", str(out), *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".run.*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until training has begun writing
    assert list(tmp_path.glob(".run.*")), "training never started"
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted" in output
    left = sorted(p.name for p in tmp_path.iterdir())  # no temporary run folder; at most a whole epoch's checkpoint
    assert left in (["CK+48"], [".run.folds", "CK+48"]), left
    if ".run.folds" in left:
        assert [p.name for p in (tmp_path / ".run.folds" / "run.partial").iterdir()] == ["state.npz"]


def test_repeats_pass_over_every_training_sequence_that_many_times_per_epoch():
    from dataclasses import replace

    from fer_edge.dataset import Sequences
    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import training_batches

    labels = np.array([0, 0, 0, 1, 2])
    frames = np.stack([np.full((3, 48, 48, 1), i / 10, np.float32) for i in range(5)])
    part = Sequences(frames, labels, np.array(["S1"] * 5), np.array([f"x/{i}" for i in range(5)]), ("a", "b", "c"))
    for repeats in (1, 3):
        recipe = replace(RECIPES["seed"], repeats=repeats, batch_size=4)
        seen = np.concatenate([f[:, 0, 0, 0, 0].numpy() for f, _, _ in training_batches(part, recipe, seed=1)])
        assert sorted(np.round(seen * 10).astype(int).tolist()) == sorted(list(range(5)) * repeats)


def test_mixup_recipes_train_on_blended_targets_and_others_on_one_hot_ones():
    from dataclasses import replace

    from fer_edge.dataset import Sequences
    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import training_batches

    labels = np.arange(12) % 3
    frames = np.random.default_rng(0).random((12, 3, 48, 48, 1), dtype=np.float32)
    part = Sequences(frames, labels, np.array(["S1"] * 12), np.array([f"x/{i}" for i in range(12)]), ("a", "b", "c"))
    for alpha, blended in ((0.0, False), (0.4, True)):
        recipe = replace(RECIPES["seed"], mixup=alpha, batch_size=12)
        targets = np.concatenate([t.numpy() for _, t, _ in training_batches(part, recipe, seed=1)])
        assert np.isin(targets, (0.0, 1.0)).all() != blended


def test_ema_recipes_keep_a_moving_average_of_the_weights():
    from dataclasses import replace

    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import build_optimizer

    assert not build_optimizer(RECIPES["seed"]).use_ema
    averaged = build_optimizer(replace(RECIPES["seed"], ema=0.995))
    assert averaged.use_ema and averaged.ema_momentum == 0.995


def test_a_cosine_recipe_falls_from_its_learning_rate_to_its_minimum_and_drops_the_plateau_callback():
    from dataclasses import replace

    import keras

    from fer_edge.train.config import TrainConfig
    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import build_callbacks, cosine_rate

    recipe = replace(RECIPES["edge"], schedule="cosine", epochs=11, min_learning_rate=1e-5)
    rates = [cosine_rate(recipe, epoch) for epoch in range(11)]
    assert rates[0] == pytest.approx(1e-3) and rates[5] == pytest.approx((1e-3 + 1e-5) / 2) and rates[-1] == 1e-5
    assert (np.diff(rates) < 0).all()
    kinds = {type(c) for c in build_callbacks(recipe, TrainConfig(data="x"), has_val=False)}
    assert kinds == {keras.callbacks.LearningRateScheduler}
    assert {type(c) for c in build_callbacks(RECIPES["edge"], TrainConfig(data="x"), has_val=False)} == {
        keras.callbacks.ReduceLROnPlateau
    }


def test_weight_decay_shrinks_kernels_by_rate_times_decay_per_step_and_spares_biases_and_batch_norm():
    from dataclasses import replace

    import keras

    from fer_edge.train.recipes import RECIPES
    from fer_edge.train.training import build_optimizer

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    before = [v.numpy().copy() for v in model.trainable_variables]
    optimizer = build_optimizer(replace(RECIPES["edge"], weight_decay=0.5))
    # Zero gradients: Nadam's own step is zero, so whatever moves is the decay.
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    # Keyed by variable path; the names (dense_3/kernel ...) depend on what the process built before.
    after = {v.path: (old, v.numpy()) for old, v in zip(before, model.trainable_variables, strict=True)}
    kernel_before, kernel_after = after.pop(model.layers[0].kernel.path)
    np.testing.assert_allclose(kernel_after, kernel_before * (1 - 0.5 * 1e-3), rtol=1e-6)
    assert len(after) == 3 and all(np.array_equal(old, new) for old, new in after.values())  # bias, gamma, beta
    assert build_optimizer(RECIPES["edge"]).weight_decay is None


def test_the_edge_recipe_is_the_ablation_row_it_claims_to_be():
    from dataclasses import replace

    from fer_edge.train.recipes import RECIPES

    ablation = load_script("benchmarks/recipe_ablation.py")
    assert RECIPES["seed"] == ablation.VARIANTS["seed"]
    assert replace(ablation.VARIANTS["seed+aug+smooth+balanced+200epochs+aux"], name="edge") == RECIPES["edge"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repeats": 0}, "repeats 0 must be at least 1"),
        ({"ema": 1.0}, "ema 1.0 must be in [0, 1)"),
        ({"mixup": -0.2}, "mixup -0.2 must be at least 0"),
        ({"label_smoothing": -0.1}, "label_smoothing -0.1 must be in [0, 1)"),
        ({"class_weighting": "inverse"}, "class_weighting 'inverse' must be 'none' or 'balanced'"),
        ({"schedule": "step"}, "schedule 'step' must be 'plateau' or 'cosine'"),
        ({"weight_decay": -1e-4}, "weight_decay -0.0001 must be at least 0"),
        ({"jitter_scale": 0.5}, "jitter_scale 0.5 must be in [0, 0.5)"),
        ({"jitter_shift": -0.1}, "jitter_shift -0.1 must be in [0, 0.5)"),
        ({"jitter_noise": 0.3}, "jitter_noise 0.3 must be in [0, 0.2]"),
        ({"learning_rate": 0.0}, "learning_rate 0.0 must be > 0"),
    ],
)
def test_a_recipe_with_an_out_of_range_setting_is_refused_with_the_setting_named(change, message):
    from dataclasses import replace

    from fer_edge.errors import UsageError
    from fer_edge.train.recipes import RECIPES

    with pytest.raises(UsageError, match=re.escape(f"recipe 'edge': {message}")):
        replace(RECIPES["edge"], **change)


def test_training_stops_at_the_next_batch_once_a_stop_was_requested(monkeypatch):
    import threading

    from fer_edge import stopping
    from fer_edge.train.training import StopOnRequest

    monkeypatch.setattr(stopping, "_requested", threading.Event())
    StopOnRequest().on_train_batch_end(0)  # no request: training goes on
    stopping._requested.set()  # as the signal handler does, whose KeyboardInterrupt TensorFlow may swallow
    with pytest.raises(KeyboardInterrupt):
        StopOnRequest().on_train_batch_end(1)


def test_the_recipes_jitter_ranges_are_the_ones_applied_and_name_their_stage_one_folder():
    import tensorflow as tf

    from fer_edge.train.augment import Jitter
    from fer_edge.train.config import TrainConfig, encoder_dir
    from fer_edge.train.recipes import get_recipe
    from fer_edge.train.training import jittered

    frames = np.random.default_rng(0).random((4, 3, 48, 48, 1), dtype=np.float32)
    batches = tf.data.Dataset.from_tensors((frames, np.zeros((4, 5), np.float32), np.ones(4, np.float32)))
    still = Jitter(flip=False, rotation_degrees=0, shift=0, scale=0, brightness=0, contrast=0)
    moved, stayed = (next(iter(jittered(batches, 0, j)))[0].numpy() for j in (Jitter(), still))
    np.testing.assert_allclose(stayed, frames, atol=1e-6)
    assert np.abs(moved - frames).mean() > 0.01

    wider = get_recipe("wild", jitter_scale=0.2, jitter_shift=0.1)
    assert wider.jitter == Jitter(scale=0.2, shift=0.1) and get_recipe("wild").jitter == Jitter()
    config = TrainConfig(recipe="wild", width=0.5)
    assert encoder_dir(config, get_recipe("wild")).name == "stills-w0.5-e50-d0.5"
    assert encoder_dir(config, wider).name == "stills-w0.5-e50-d0.5-j0.2-0.1"
    noisy = get_recipe("wild", jitter_noise=0.05)
    assert noisy.jitter == Jitter(noise=0.05)
    assert encoder_dir(config, noisy).name == "stills-w0.5-e50-d0.5-n0.05"
    stage_one_only = get_recipe("wild", pretrain_noise=0.05)  # the folder names stage 1's noise, not stage 2's
    assert stage_one_only.jitter == Jitter() and stage_one_only.pretrain_jitter == Jitter(noise=0.05)
    assert encoder_dir(config, stage_one_only).name == "stills-w0.5-e50-d0.5-n0.05"
    stage_two_only = get_recipe("wild", jitter_noise=0.05, pretrain_noise=0)
    assert (
        stage_two_only.pretrain_jitter == Jitter()
        and encoder_dir(config, stage_two_only).name == "stills-w0.5-e50-d0.5"
    )


def test_each_knob_is_declared_once_and_reaches_the_cli_and_the_recipe():
    from dataclasses import fields

    import typer

    from fer_edge.cli import app
    from fer_edge.train.config import PANELS, TrainConfig, knobs, recipe_overrides
    from fer_edge.train.recipes import Recipe, get_recipe

    command = typer.main.get_command(app).commands["train"]
    options = {param.name: param for param in command.params}
    recipe_fields = {f.name for f in fields(Recipe)}
    for field, knob in knobs():
        assert field.name in options and knob.option(field.name) in options[field.name].opts
        assert options[field.name].rich_help_panel == knob.panel and knob.panel in PANELS
        assert not knob.recipe or field.name in recipe_fields, field.name
    config = TrainConfig(recipe="wild", learning_rate=2e-4, pretrain_learning_rate=1e-3, stills_per_epoch=8000)
    assert recipe_overrides(config) == {"learning_rate": 2e-4, "pretrain_learning_rate": 1e-3, "stills_per_epoch": 8000}
    recipe = get_recipe("wild", **recipe_overrides(config))
    assert (recipe.learning_rate, recipe.pretrain_learning_rate, recipe.stills_per_epoch) == (2e-4, 1e-3, 8000)
    assert get_recipe("wild", **recipe_overrides(TrainConfig(recipe="wild"))) == get_recipe("wild")
