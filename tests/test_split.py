import json

import numpy as np
import pytest

from fer_edge.dataset import load_sequences
from fer_edge.errors import DatasetError, UsageError
from fer_edge.split import (
    SUBJECT_PROTOCOL,
    carve_validation,
    check_disjoint,
    read_split,
    seed_split,
    subject_folds,
    write_split,
)


def test_seed_split_is_stratified_disjoint_and_repeatable(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    split = seed_split(data, seed=3)
    assert len(split.train) == 21 and len(split.test) == 9
    assert not set(split.train) & set(split.test)
    assert set(split.train) | set(split.test) == set(data.ids)
    assert seed_split(data, seed=3) == split and seed_split(data, seed=4) != split
    test_labels = data.select(split.test).labels
    assert np.bincount(test_labels, minlength=5).max() <= 2  # 9 of 30, evenly spread


def test_subject_folds_never_share_a_subject_and_test_each_sequence_once(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    folds = subject_folds(data, 3)
    assert [f.fold for f in folds] == [1, 2, 3] and all(f.folds == 3 for f in folds)
    tested = [sid for f in folds for sid in f.test]
    assert sorted(tested) == sorted(data.ids)
    for fold in folds:
        check_disjoint(fold, data)
        assert not set(data.select(fold.train).subjects) & set(data.select(fold.test).subjects)


def test_check_disjoint_catches_a_shared_subject(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    fold = subject_folds(data, 2)[0]
    leaky = type(fold)(SUBJECT_PROTOCOL, 0, fold.train[1:], fold.test + fold.train[:1], fold=1, folds=2)
    with pytest.raises(DatasetError, match="is in both train and test"):
        check_disjoint(leaky, data)


def test_bad_fold_counts_are_usage_errors(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    with pytest.raises(UsageError):
        subject_folds(data, 1)
    with pytest.raises(UsageError, match="more folds than there are subjects"):
        subject_folds(data, 7)


def test_validation_is_carved_from_training_subjects_only(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    split = carve_validation(subject_folds(data, 2)[0], data, 0.34)
    assert split.val and not set(split.val) & set(split.test)
    assert not set(data.select(split.val).subjects) & set(data.select(split.train).subjects)


def test_split_json_round_trips_and_bad_files_are_named(synthetic_ck48, tmp_path):
    split = seed_split(load_sequences(synthetic_ck48))
    write_split(split, tmp_path / "split.json")
    assert read_split(tmp_path / "split.json") == split
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DatasetError, match="broken.json is not valid JSON"):
        read_split(tmp_path / "broken.json")
    (tmp_path / "partial.json").write_text(json.dumps({"protocol": "x", "seed": 1, "train": []}))
    with pytest.raises(DatasetError, match="lacks the field 'test'"):
        read_split(tmp_path / "partial.json")
    with pytest.raises(DatasetError, match="not found"):
        read_split(tmp_path / "absent.json")


def test_real_seed_split_and_subject_folds(real_ck48):
    data = load_sequences(real_ck48)
    split = seed_split(data)
    assert (len(split.train), len(split.test)) == (175, 75)
    assert not set(split.train) & set(split.test)
    folds = subject_folds(data, 5)
    assert sorted(sid for f in folds for sid in f.test) == sorted(data.ids)
    for fold in folds:
        check_disjoint(fold, data)
