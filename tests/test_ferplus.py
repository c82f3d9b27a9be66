"""FER+ votes: the official majority rule, soft targets, and FER2013 stills relabelled by them."""

from pathlib import Path

import numpy as np
import pytest
from conftest import load_script, write_synthetic_stills

from fer_edge.errors import DatasetError, UsageError
from fer_edge.ferplus import (
    CLASSES,
    COLUMNS,
    NO_LABEL,
    find_votes,
    load_ferplus_stills,
    majority,
    read_votes,
    soft_targets,
)
from fer_edge.stills import relabel, sample

FER2013 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "FER2013"


def votes(**counts: int) -> list[int]:
    """One face's ten counts in FER+'s column order, from keyword counts (e.g. neutral=6, happiness=4)."""
    return [counts.get(c, 0) for c in COLUMNS]


def write_ferplus(path: Path, rows: dict[str, list[int]]) -> Path:
    lines = ["path," + ",".join(COLUMNS)] + [f"{p}," + ",".join(map(str, c)) for p, c in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_classes_are_fer_edge_names_in_ferplus_order():
    assert CLASSES == ("neutral", "happy", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (votes(anger=7, neutral=2, sadness=1), "anger"),  # the plain case
        (votes(neutral=6, happiness=4), "neutral"),  # 6 > 5
        (votes(neutral=5, happiness=5), None),  # a tie: nobody has more than half
        (votes(neutral=5, happiness=4, fear=1), "neutral"),  # 1-vote noise dropped first: 5 > 4.5
        (votes(neutral=4, happiness=3, fear=1, anger=1, sadness=1), "neutral"),  # 4 > 3.5 once the 1s are gone
        (votes(neutral=4, happiness=4, fear=2), None),  # 4 of 10 is not a majority
        (votes(NF=8, neutral=2), None),  # not a face wins: no label
        (votes(unknown=6, happiness=4), None),  # unknown wins: no label
        (votes(happiness=1, anger=1, fear=1), None),  # only 1-vote noise: nothing left
        (votes(), None),  # no votes at all
        (votes(contempt=3, neutral=2), "contempt"),  # FER+'s eighth class
    ],
)
def test_majority_rule_matches_ferplus(counts, expected):
    label = majority(np.array([counts]))[0]
    assert (CLASSES[label] if label != NO_LABEL else None) == expected


def test_soft_targets_drop_unknown_and_not_a_face_and_sum_to_one():
    counts = np.array([votes(neutral=6, happiness=3, unknown=1), votes(fear=1, NF=9), votes(NF=10)])
    targets = soft_targets(counts)
    assert targets.shape == (3, 8) and targets.dtype == np.float32
    np.testing.assert_allclose(targets[0], [6 / 9, 3 / 9, 0, 0, 0, 0, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(targets[1], np.eye(8)[CLASSES.index("fear")])  # one vote counts here
    assert targets[:2].sum(axis=1) == pytest.approx([1, 1]) and targets[2].sum() == 0


def test_stills_relabelled_by_votes_soft_and_majority(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER2013", per_class=2, folders=("happy", "sad", "neutral"))
    write_ferplus(
        root / "ferplus.csv",
        {
            "train/sad/train_00000.jpg": votes(neutral=6, sadness=4),  # FER+ calls it neutral
            "train/sad/train_00001.jpg": votes(sadness=5, neutral=5),  # no majority: soft only
            "train/happy/train_00000.jpg": votes(happiness=9, NF=1),
            "train/neutral/train_00000.jpg": votes(NF=10),  # not a face: dropped either way
            # train/happy/train_00001.jpg and train/neutral/train_00001.jpg have no row: dropped
            "val/happy/val_00000.jpg": votes(happiness=10),
        },
    )
    soft = load_ferplus_stills(root, "train", "ferplus")
    assert soft.without_votes == 2 and soft.without_label == 1
    stills = soft.stills
    assert stills.classes == CLASSES and list(stills.ids) == [
        "happy/train_00000.jpg",
        "sad/train_00000.jpg",
        "sad/train_00001.jpg",
    ]
    assert stills.targets.sum(axis=1) == pytest.approx([1, 1, 1])
    assert [CLASSES[i] for i in stills.labels] == ["happy", "neutral", "neutral"]  # a tie: the first in FER+ order
    np.testing.assert_allclose(stills.targets[2, [0, 3]], [0.5, 0.5])

    hard = load_ferplus_stills(root, "train", "ferplus-majority")
    assert hard.stills.targets is None and hard.without_label == 2
    assert [CLASSES[i] for i in hard.stills.labels] == ["happy", "neutral"]
    assert len(load_ferplus_stills(root / "val", "val", "ferplus-majority").stills) == 1  # a split folder works too

    # a model's classes: targets cut to them and renormalised; a still with no mass there is dropped
    cut = relabel(stills, ("happy", "sadness"))
    assert list(cut.ids) == ["happy/train_00000.jpg", "sad/train_00000.jpg", "sad/train_00001.jpg"]
    np.testing.assert_allclose(cut.targets, [[1, 0], [0, 1], [0, 1]])
    assert len(relabel(stills, ("anger",))) == 0
    assert sample(stills, 2).targets.shape == (2, 8)


def test_folder_weight_blends_the_folder_label_into_the_votes_and_faces_without_majority_can_go(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER2013", per_class=1, folders=("happy", "sad"))
    write_ferplus(
        root / "ferplus.csv",
        {"train/sad/train_00000.jpg": votes(neutral=6, sadness=4), "train/happy/train_00000.jpg": votes(happiness=10)},
    )
    blended = load_ferplus_stills(root, "train", "ferplus", folder_weight=0.25).stills
    assert list(blended.ids) == ["happy/train_00000.jpg", "sad/train_00000.jpg"]
    sad = np.zeros(8)
    sad[[CLASSES.index("neutral"), CLASSES.index("sadness")]] = [0.75 * 0.6, 0.75 * 0.4 + 0.25]
    np.testing.assert_allclose(blended.targets, [np.eye(8)[CLASSES.index("happy")], sad], rtol=1e-6)
    assert [CLASSES[i] for i in blended.labels] == ["happy", "sadness"]  # 0.55 against 0.45: the blend flips it
    assert [CLASSES[i] for i in load_ferplus_stills(root, "train", "ferplus").stills.labels] == ["happy", "neutral"]
    # faces whose votes have no majority: kept as their distribution, or dropped
    write_ferplus(
        root / "ferplus.csv",
        {"train/sad/train_00000.jpg": votes(neutral=5, sadness=5), "train/happy/train_00000.jpg": votes(happiness=6)},
    )
    assert len(load_ferplus_stills(root, "train", "ferplus").stills) == 2
    agreed = load_ferplus_stills(root, "train", "ferplus", without_majority="drop")
    assert list(agreed.stills.ids) == ["happy/train_00000.jpg"] and agreed.without_label == 1
    with pytest.raises(UsageError, match="--without-majority takes keep or drop"):
        load_ferplus_stills(root, "train", "ferplus", without_majority="maybe")
    for weight, source in ((1.0, "ferplus"), (-0.1, "ferplus"), (0.25, "ferplus-majority")):
        with pytest.raises(UsageError, match="--folder-weight"):
            load_ferplus_stills(root, "train", source, folder_weight=weight)


def test_folder_blend_over_expressions_leaves_the_neutral_share_to_the_votes(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER2013", per_class=1, folders=("fear", "neutral"))
    write_ferplus(
        root / "ferplus.csv",
        {
            "train/fear/train_00000.jpg": votes(neutral=2, surprise=5, fear=3),
            "train/neutral/train_00000.jpg": votes(neutral=4, sadness=6),
        },
    )
    stills = load_ferplus_stills(root, "train", "ferplus", folder_weight=0.5, folder_blend="expressions").stills
    assert list(stills.ids) == ["fear/train_00000.jpg", "neutral/train_00000.jpg"]
    fear = np.zeros(8)
    # neutral keeps its 0.2; the folder takes half of the 0.8 the expressions have
    fear[[CLASSES.index("neutral"), CLASSES.index("surprise"), CLASSES.index("fear")]] = [0.2, 0.25, 0.15 + 0.4]
    neutral = np.zeros(8)
    neutral[[CLASSES.index("neutral"), CLASSES.index("sadness")]] = [0.4, 0.6]  # the neutral folder: votes as they are
    np.testing.assert_allclose(stills.targets, [fear, neutral], rtol=1e-6)
    assert [CLASSES[i] for i in stills.labels] == ["fear", "sadness"]
    # the whole-target blend moves the neutral share too
    whole = load_ferplus_stills(root, "train", "ferplus", folder_weight=0.5).stills.targets
    assert whole[0, CLASSES.index("neutral")] == pytest.approx(0.1) and whole[1, CLASSES.index("neutral")] > 0.4
    with pytest.raises(UsageError, match="--folder-blend takes all or expressions"):
        load_ferplus_stills(root, "train", "ferplus", folder_weight=0.5, folder_blend="some")
    with pytest.raises(UsageError, match="pass --folder-weight"):
        load_ferplus_stills(root, "train", "ferplus", folder_blend="expressions")


def test_missing_or_broken_votes_are_named(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER2013", per_class=2, folders=("happy",))
    with pytest.raises(UsageError, match=r"no ferplus.csv in .*FER2013 or beside it"):
        find_votes(root)
    assert find_votes(root / "train", write_ferplus(root / "ferplus.csv", {})) == root / "ferplus.csv"
    assert find_votes(root / "train") == root / "ferplus.csv"
    with pytest.raises(DatasetError, match="holds no votes"):
        read_votes(root / "ferplus.csv")
    (root / "ferplus.csv").write_text("path,neutral\nx.jpg,1\n")
    with pytest.raises(DatasetError, match="lacks the columns happiness"):
        read_votes(root / "ferplus.csv")


@pytest.mark.skipif(not (FER2013 / "ferplus.csv").is_file(), reason="FER2013 with ferplus.csv is not in ../shared/data")
def test_real_votes_give_the_readme_counts():
    counts = read_votes(FER2013 / "ferplus.csv")
    val = np.array([p.startswith("val/") for p in counts.paths])
    labels = majority(counts.counts[val])
    assert int(np.sum(val)) == 3579 and int(np.sum(labels == NO_LABEL)) == 380
    assert {c: int(np.sum(labels == i)) for i, c in enumerate(CLASSES)} == {
        "neutral": 1182,
        "happy": 865,
        "surprise": 415,
        "sadness": 351,
        "anger": 287,
        "disgust": 24,
        "fear": 62,
        "contempt": 13,
    }


def test_one_annotator_is_scored_against_the_majority_of_the_other_votes():
    agreement = load_script("benchmarks/ferplus_agreement.py")
    columns = list(COLUMNS)
    counts = np.zeros((3, len(COLUMNS)), np.int64)
    counts[0, [columns.index("happiness"), columns.index("neutral")]] = 9, 1  # nine others always say happy
    counts[1, [columns.index("sadness"), columns.index("neutral")]] = 6, 4  # 5-4 or 6-3: sadness either way
    counts[2, [columns.index("fear"), columns.index("surprise")]] = 5, 5  # 4-5 for the other side each time
    votes, crowd, face = agreement.leave_one_out(counts)
    right = votes == crowd
    assert len(votes) == 30 and list(np.bincount(face)) == [10, 10, 10]
    assert right[face == 0].sum() == 9 and right[face == 1].sum() == 6
    assert right[face == 2].sum() == 0  # each vote is outvoted by the other side's five
    assert set(np.array(CLASSES)[crowd[face == 2]]) == {"fear", "surprise"}
