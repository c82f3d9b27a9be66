"""Auxiliary classes: extra emotions train the shared layers, and the shipped model keeps the target outputs only."""

import json
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")

from fer_edge.dataset import ALL_CLASSES, DEFAULT_CLASSES, Sequences, load_sequences  # noqa: E402
from fer_edge.train.auxiliary import add_auxiliary, keep_target_outputs  # noqa: E402
from fer_edge.train.recipes import RECIPES  # noqa: E402


def sequences(n: int, classes: tuple[str, ...], subjects: list[str], tag: str) -> Sequences:
    return Sequences(
        frames=np.zeros((n, 3, 48, 48, 1), np.float32),
        labels=np.arange(n) % len(classes),
        subjects=np.array(subjects),
        ids=np.array([f"{tag}/{i}" for i in range(n)]),
        classes=classes,
    )


def test_auxiliary_sequences_follow_the_targets_with_shifted_labels_and_without_excluded_subjects():
    train = sequences(3, ("a", "b"), ["S1", "S2", "S3"], "t")
    extra = sequences(4, ("x", "y"), ["S1", "S4", "S5", "S4"], "e")
    merged = add_auxiliary(train, extra, exclude_subjects={"S4"})
    assert merged.classes == ("a", "b", "x", "y")
    assert merged.ids.tolist() == ["t/0", "t/1", "t/2", "e/0", "e/2"]
    assert merged.labels.tolist() == [0, 1, 0, 2, 2]
    assert merged.subjects.tolist() == ["S1", "S2", "S3", "S1", "S5"]
    assert merged.frames.shape == (5, 3, 48, 48, 1)


def test_cutting_the_auxiliary_outputs_gives_the_softmax_conditioned_on_the_target_classes():
    import keras

    from fer_edge.train.model import build_model

    keras.utils.set_random_seed(3)
    full = build_model(7, width=0.0625)
    last = full.get_layer("probabilities")
    kernel, bias = last.get_weights()
    last.set_weights([kernel * 20, np.linspace(-2, 2, 7).astype(np.float32)])  # outputs far from uniform
    cut = keep_target_outputs(full, 5, width=0.0625)
    frames = np.random.default_rng(0).random((4, 3, 48, 48, 1), dtype=np.float32)
    seven = full.predict(frames, verbose=0)
    five = cut.predict(frames, verbose=0)
    assert cut.output_shape == (None, 5)
    assert seven[:, 5:].sum(axis=1).min() > 0.01  # the cut removes real probability mass
    np.testing.assert_allclose(five, seven[:, :5] / seven[:, :5].sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)


def test_a_recipe_with_auxiliary_classes_trains_on_them_and_saves_a_target_class_model(tmp_path):
    import keras
    from conftest import write_synthetic_ck48

    from fer_edge.split import subject_folds
    from fer_edge.train.config import TrainConfig
    from fer_edge.train.training import fit_one

    root = write_synthetic_ck48(tmp_path / "CK+48", classes=ALL_CLASSES)
    data = load_sequences(root, DEFAULT_CLASSES)
    recipe = replace(RECIPES["seed"], epochs=1, batch_size=8, auxiliary_classes=("contempt", "disgust"))
    auxiliary = load_sequences(root, recipe.auxiliary_for(DEFAULT_CLASSES))
    split = subject_folds(data, 3, seed=1)[0]
    config = TrainConfig(data=str(root), width=0.0625)
    result = fit_one(data, split, recipe, config, tmp_path / "run", lambda line: None, auxiliary)

    model = keras.saving.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 5)
    assert result.probabilities.shape == (len(split.test), 5)
    used = json.loads((tmp_path / "run" / "config.json").read_text())["auxiliary_training_ids"]
    test_subjects = set(data.select(split.test).subjects)
    expected = [i for i, s in zip(auxiliary.ids, auxiliary.subjects, strict=True) if s not in test_subjects]
    assert used == expected and 0 < len(used) < len(auxiliary)  # a subject-independent fold stays one


def test_auxiliary_classes_that_are_already_targets_are_not_added_twice():
    recipe = replace(RECIPES["edge"], auxiliary_classes=("contempt", "disgust"))
    assert recipe.auxiliary_for(DEFAULT_CLASSES) == ("contempt", "disgust")
    assert recipe.auxiliary_for(ALL_CLASSES) == ()


def test_the_cli_trains_on_auxiliary_classes_that_have_a_folder_and_says_which_it_lacks(tmp_path):
    from conftest import write_synthetic_ck48
    from typer.testing import CliRunner

    from fer_edge.cli import app

    root = write_synthetic_ck48(tmp_path / "CK+48", classes=(*DEFAULT_CLASSES, "contempt"))
    out = tmp_path / "run"
    args = ["train", "--data", str(root), "--out", str(out), "--width", "0.0625", "--epochs", "1"]
    result = CliRunner().invoke(app, [*args, "--auxiliary-classes", "contempt,disgust"])
    assert result.exit_code == 0, result.output
    assert "trained without: disgust" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"]["auxiliary_classes"] == ["contempt", "disgust"]
    assert config["auxiliary_training_ids"] == [f"contempt/S{s}_006" for s in range(101, 107)]
    assert config["classes"] == list(DEFAULT_CLASSES)


def test_auxiliary_classes_none_overrides_the_recipe(monkeypatch):
    from fer_edge.cli.train import parse_auxiliary
    from fer_edge.train.config import TrainConfig, recipe_overrides
    from fer_edge.train.recipes import get_recipe

    monkeypatch.setitem(RECIPES, "with_them", replace(RECIPES["edge"], auxiliary_classes=("contempt", "disgust")))

    def auxiliary(recipe: str, spec: str | None) -> tuple[str, ...]:
        config = TrainConfig(recipe=recipe, auxiliary_classes=parse_auxiliary(spec))
        return get_recipe(recipe, **recipe_overrides(config)).auxiliary_classes

    assert auxiliary("with_them", "none") == ()
    assert auxiliary("with_them", None) == ("contempt", "disgust")
    assert auxiliary("edge", " disgust ") == ("disgust",)
