"""Still-image datasets: FER2013's folder layout and csv, the name table, and every bad input named in one line."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_still_csv, write_synthetic_stills

from fer_edge.errors import DatasetError
from fer_edge.stills import (
    CLASS_NAMES,
    is_still_folder,
    load_still_csv,
    load_stills,
    relabel,
    sample,
    scan_still_source,
)

FER2013 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "FER2013"


def test_kaggle_folders_load_with_fer_edge_names(synthetic_stills):
    stills = load_stills(synthetic_stills, "train")
    assert stills.classes == ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")
    assert stills.counts() == dict.fromkeys(stills.classes, 8)
    assert stills.images.shape == (56, 48, 48, 1) and stills.images.dtype == np.float32
    assert 0 <= stills.images.min() and stills.images.max() <= 1
    assert "angry/train_00000.jpg" in stills.ids and not stills.skipped
    assert len(load_stills(synthetic_stills, "val")) == 28
    assert scan_still_source(synthetic_stills, "train") == (
        "anger",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sadness",
        "surprise",
    )
    sequences = stills.as_sequences()
    assert sequences.shape == (56, 3, 48, 48, 1) and np.array_equal(sequences[:, 0], sequences[:, 2])


def test_name_table_covers_kaggle_and_ck48_names():
    assert CLASS_NAMES["angry"] == CLASS_NAMES["anger"] == "anger"
    assert CLASS_NAMES["sad"] == "sadness" and CLASS_NAMES["happiness"] == "happy"
    assert CLASS_NAMES["surprised"] == "surprise" and CLASS_NAMES["fearful"] == "fear"


def test_still_folders_and_ck48_folders_are_told_apart(synthetic_stills, synthetic_ck48):
    assert is_still_folder(synthetic_stills / "train")
    assert not is_still_folder(synthetic_ck48)


def test_classes_select_and_relabel(synthetic_stills):
    stills = load_stills(synthetic_stills, "train", classes=("happy", "neutral"))
    assert stills.classes == ("happy", "neutral") and stills.counts() == {"happy": 8, "neutral": 8}
    everything = load_stills(synthetic_stills, "train")
    kept = relabel(everything, ("neutral", "happy", "contempt"))
    assert len(kept) == 16 and kept.counts() == {"neutral": 8, "happy": 8, "contempt": 0}
    names = np.array(everything.classes)[everything.labels]
    assert list(np.array(kept.classes)[kept.labels]) == [n for n in names if n in ("neutral", "happy")]
    subset = sample(everything, 14)
    assert len(subset) == 14 and all(n == 2 for n in subset.counts().values())


def test_unknown_folder_name_is_named(synthetic_stills):
    (synthetic_stills / "train" / "bored").mkdir()
    with pytest.raises(DatasetError, match=r"unknown emotion 'bored' at .*train/bored; use one of"):
        load_stills(synthetic_stills, "train")


def test_empty_class_folder_is_named(synthetic_stills):
    for path in (synthetic_stills / "train" / "fear").iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match=r"class folder .*train/fear holds no images"):
        load_stills(synthetic_stills, "train")


def test_two_folders_for_one_class_are_refused(synthetic_stills):
    (synthetic_stills / "train" / "anger").mkdir()
    cv2.imwrite(str(synthetic_stills / "train" / "anger" / "a.png"), face(1))
    with pytest.raises(DatasetError, match=r"both map to 'anger'"):
        load_stills(synthetic_stills, "train")


def test_a_few_bad_images_are_skipped_and_counted(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER", per_class=60)
    (root / "train" / "happy" / "train_00001.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(root / "train" / "sad" / "train_00002.jpg"), np.full((48, 48), 128, np.uint8))
    stills = load_stills(root, "train")
    assert len(stills) == 7 * 60 - 2 and len(stills.skipped) == 2
    assert any("train_00001.jpg is corrupt" in s for s in stills.skipped)
    assert any("train_00002.jpg is blank" in s for s in stills.skipped)


def test_many_bad_images_are_a_broken_copy(synthetic_stills):
    for path in list((synthetic_stills / "train" / "happy").iterdir())[:5]:
        path.write_bytes(b"")
    with pytest.raises(DatasetError, match=r"5 of 56 images in .* are unreadable or blank \(first: .*empty"):
        load_stills(synthetic_stills, "train")


def test_a_class_whose_every_image_is_bad_is_named(tmp_path):
    root = write_synthetic_stills(tmp_path / "FER", per_class=2, folders=("happy", "sad"))
    for path in (root / "train" / "sad").iterdir():
        path.write_bytes(b"junk")
    with pytest.raises(DatasetError, match="class 'sadness' in .* has no readable image"):
        load_stills(root, "train")


def face(value: int) -> np.ndarray:
    image = np.random.default_rng(value).integers(0, 255, (48, 48)).astype(np.uint8)
    image[0, 0] = value % 256
    return image


def test_csv_usage_and_codes(tmp_path):
    rows = [(3, face(1), "Training"), (4, face(2), "Training"), (6, face(3), "PublicTest"), (0, face(4), "PrivateTest")]
    path = write_still_csv(tmp_path / "fer2013.csv", rows)
    train = load_still_csv(path, "train")
    assert train.classes == ("happy", "sadness") and train.labels.tolist() == [0, 1]
    assert np.allclose(train.images[0, :, :, 0], face(1) / 255, atol=1e-6)
    assert load_stills(path, "val").classes == ("neutral",)
    assert load_stills(path, "test").classes == ("anger",)


def test_csv_row_with_the_wrong_pixel_count_is_skipped_and_named(tmp_path):
    rows = [(3, face(n), "Training") for n in range(400)]
    path = write_still_csv(tmp_path / "fer2013.csv", rows)
    text = path.read_text().splitlines()
    text[5] = "3,1 2 3,Training"
    path.write_text("\n".join(text) + "\n")
    stills = load_still_csv(path, "train")
    assert len(stills) == 399 and stills.skipped == ("fer2013.csv:6: 3 pixel values, expected 2304 (48x48)",)


@pytest.mark.parametrize(
    "content, message",
    [
        ("emotion,pixels,Usage\n9," + " ".join(["1"] * 2304) + ",Training\n", r"line 2: emotion '9' is not a code 0-6"),
        ("a,b\n1,2\n", r"is not fer2013.csv: it needs the columns emotion, pixels"),
        ("emotion,pixels,Usage\n3," + " ".join(["1"] * 2304) + ",PublicTest\n", r"has no rows with Usage Training"),
    ],
)
def test_bad_csv_is_named(tmp_path, content, message):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_still_csv(path, "train")


def test_missing_still_data_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"not found at .*nowhere"):
        scan_still_source(tmp_path / "nowhere")


def test_real_fer2013_val_loads_with_its_readme_counts():
    if not (FER2013 / "val" / "happy").is_dir():
        pytest.skip(f"FER2013 not found at {FER2013} (research-only, not in the repo)")
    stills = load_stills(FER2013, "val")
    counts = stills.counts()
    assert counts["happy"] == 895 and counts["neutral"] == 607 and counts["disgust"] == 56
    assert len(stills) + len(stills.skipped) == 3589 and len(stills.skipped) <= 5
