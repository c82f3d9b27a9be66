import numpy as np
import pytest

from fer_edge.dataset import (
    ALL_CLASSES,
    DEFAULT_CLASSES,
    dataset_stats,
    load_sequences,
    resolve_classes,
    scan,
)
from fer_edge.errors import DatasetError, UsageError


def test_synthetic_tree_loads_as_3_frame_sequences(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    assert data.frames.shape == (30, 3, 48, 48, 1) and data.frames.dtype == np.float32
    assert 0.0 <= data.frames.min() and data.frames.max() <= 1.0
    assert data.classes == DEFAULT_CLASSES
    assert np.bincount(data.labels).tolist() == [6] * 5
    assert len(set(data.subjects)) == 6
    assert data.ids[0] == "happy/S101_001"


def test_longer_sequences_keep_their_last_three_frames_in_numeric_order(synthetic_ck48):
    # frames 1..4 exist; add frame 10, which sorts before 2 as text but is the peak numerically
    folder = synthetic_ck48 / "happy"
    peak = np.full((48, 48), 255, np.uint8)
    import cv2

    cv2.imwrite(str(folder / "S102_001_10.png"), peak)
    files = {s.id: s for s in scan(synthetic_ck48, DEFAULT_CLASSES)}
    assert [p.name for p in files["happy/S102_001"].paths][-2:] == ["S102_001_00000004.png", "S102_001_10.png"]
    data = load_sequences(synthetic_ck48)
    row = list(data.ids).index("happy/S102_001")
    assert data.frames[row, -1].min() == 1.0  # the peak is last
    assert data.frames[row, 0].max() < 1.0  # frame 1 was dropped, frame 3 is first


def test_too_short_sequences_are_listed(synthetic_ck48):
    for frame in (2, 3, 4):
        (synthetic_ck48 / "fear" / f"S103_005_{frame:08d}.png").unlink()
    with pytest.raises(DatasetError, match=r"1 sequences have fewer than 3 frames: fear/S103_005 \(1\)"):
        scan(synthetic_ck48, DEFAULT_CLASSES)


def test_bad_file_name_is_named(synthetic_ck48):
    (synthetic_ck48 / "anger" / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"anger/notes.txt does not match"):
        scan(synthetic_ck48, DEFAULT_CLASSES)


@pytest.mark.parametrize("content", [b"", b"not a png at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_corrupt_or_empty_image_is_named(synthetic_ck48, content):
    path = synthetic_ck48 / "sadness" / "S101_004_00000004.png"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="S101_004_00000004.png"):
        load_sequences(synthetic_ck48)


def test_missing_dataset_explains_where_ck48_comes_from(tmp_path):
    with pytest.raises(DatasetError, match=r"not found at .*Cohn-Kanade.*--data"):
        scan(tmp_path / "nowhere", DEFAULT_CLASSES)


def test_empty_class_folder_and_unknown_class(synthetic_ck48, tmp_path):
    with pytest.raises(DatasetError, match=r"has no folder .*; folders there: .*\(choose among them with --classes\)"):
        scan(synthetic_ck48, ("happy", "contempt"))
    for path in (synthetic_ck48 / "fear").iterdir():
        path.unlink()
    with pytest.raises(DatasetError, match="fear holds no images"):
        scan(synthetic_ck48, DEFAULT_CLASSES)
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        scan(tmp_path / "flat", DEFAULT_CLASSES)


def test_resolve_classes():
    assert resolve_classes("default") == DEFAULT_CLASSES
    assert resolve_classes("all") == ALL_CLASSES and len(ALL_CLASSES) == 7
    assert resolve_classes("fear, happy") == ("fear", "happy")
    with pytest.raises(UsageError):
        resolve_classes("happy,happy")
    with pytest.raises(UsageError):
        resolve_classes("happy")


def test_select_keeps_the_requested_order_and_rejects_unknown_ids(synthetic_ck48):
    data = load_sequences(synthetic_ck48)
    picked = data.select(["fear/S101_005", "happy/S101_001"])
    assert list(picked.ids) == ["fear/S101_005", "happy/S101_001"]
    assert picked.labels.tolist() == [4, 0]
    with pytest.raises(DatasetError, match="not in the dataset"):
        data.select(["happy/S999_001"])


def test_real_ck48_counts(real_ck48):
    stats = dataset_stats(real_ck48)
    assert stats.sequences_per_class == {"happy": 69, "surprise": 83, "anger": 45, "sadness": 28, "fear": 25}
    assert stats.subjects == 104
    everything = dataset_stats(real_ck48, ALL_CLASSES)
    assert everything.sequences == 327 and everything.subjects == 118
    assert sum(everything.images_per_class.values()) == 981


def test_real_ck48_frames_are_ordered_and_shaped(real_ck48):
    files = scan(real_ck48, DEFAULT_CLASSES)
    for sequence in files:
        numbers = [int(p.stem.split("_")[2]) for p in sequence.paths]
        assert numbers == sorted(numbers) and len(numbers) == 3
    data = load_sequences(real_ck48)
    assert data.frames.shape == (250, 3, 48, 48, 1)
    assert 0.0 <= data.frames.min() < 0.1 and 0.9 < data.frames.max() <= 1.0
