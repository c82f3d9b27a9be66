"""Still-image datasets: one folder per emotion (FER2013's Kaggle layout) or FER2013's single csv file.

A still becomes a static sequence (the image repeated for every frame) where a sequence model needs one.
Folder and csv names are mapped to fer-edge's class names by one table, `CLASS_NAMES`.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.dataset import SEQUENCE_LENGTH, is_image_file, read_image
from fer_edge.errors import DatasetError, FerEdgeError, UsageError
from fer_edge.preprocess import SPEC, preprocess_frame
from fer_edge.progress import progress

# Every emotion name seen in common datasets -> fer-edge's name (CK+48's spelling).
CLASS_NAMES: dict[str, str] = {
    "anger": "anger",
    "angry": "anger",
    "contempt": "contempt",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "neutral": "neutral",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
}
# fer2013.csv's emotion codes, in order (its README).
CSV_CODES: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")
CSV_USAGES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
# More unreadable or blank images than this (share, or count in small sets) is a broken copy, not a few bad files.
MAX_BAD_SHARE = 0.01
MAX_BAD_FEW = 3


def static_sequences(images: np.ndarray, frames: int = SEQUENCE_LENGTH) -> np.ndarray:
    """Still faces (N, 48, 48, 1) as static sequences (N, frames, 48, 48, 1): each image repeated for every frame."""
    return np.repeat(images[:, None], frames, axis=1)


@dataclass(frozen=True)
class StillFile:
    path: Path
    label: str  # fer-edge's class name


@dataclass(frozen=True)
class Stills:
    """images: (N, 48, 48, 1) float32 in [0, 1]; labels index `classes`; skipped: 'where: why' per bad image.

    targets: (N, len(classes)) float32 rows summing to 1 where a still's target is a distribution (FER+ votes,
    fer_edge.ferplus) rather than its label alone; labels are then each row's most voted class."""

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def as_sequences(self, frames: int = SEQUENCE_LENGTH) -> np.ndarray:
        return static_sequences(self.images, frames)

    def counts(self) -> dict[str, int]:
        return {c: int(np.sum(self.labels == i)) for i, c in enumerate(self.classes)}


def relabel(stills: Stills, classes: tuple[str, ...]) -> Stills:
    """The stills whose class is among `classes`, with labels indexing `classes`.

    With targets: the stills with any target mass in `classes`, their targets cut to `classes` and renormalised,
    labels their argmax."""
    if stills.targets is not None:
        placed = np.zeros((len(stills), len(classes)), dtype=np.float32)
        for column, name in enumerate(classes):
            if name in stills.classes:
                placed[:, column] = stills.targets[:, stills.classes.index(name)]
        total = placed.sum(axis=1)
        keep = total > 0
        targets = placed[keep] / total[keep, None]
        labels = targets.argmax(axis=1).astype(np.int64)
        return Stills(stills.images[keep], labels, stills.ids[keep], tuple(classes), stills.skipped, targets)
    names = np.array(stills.classes)[stills.labels]
    keep = np.isin(names, classes)
    labels = np.array([classes.index(n) for n in names[keep]], dtype=np.int64)
    return Stills(stills.images[keep], labels, stills.ids[keep], tuple(classes), stills.skipped)


def sample(stills: Stills, size: int, seed: int = 0) -> Stills:
    """A class-stratified random subset of about `size` stills (every class keeps at least one)."""
    if size >= len(stills):
        return stills
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(len(stills.classes)):
        members = np.flatnonzero(stills.labels == index)
        if len(members):
            take = max(1, round(size * len(members) / len(stills)))
            rows.extend(rng.choice(members, size=min(take, len(members)), replace=False))
    rows = np.sort(np.array(rows, dtype=np.int64))
    targets = None if stills.targets is None else stills.targets[rows]
    return Stills(stills.images[rows], stills.labels[rows], stills.ids[rows], stills.classes, stills.skipped, targets)


def canonical_class(name: str, where: Path | str) -> str:
    key = name.strip().lower()
    if key not in CLASS_NAMES:
        known = ", ".join(sorted(CLASS_NAMES))
        raise DatasetError(f"unknown emotion {name!r} at {where}; use one of: {known}")
    return CLASS_NAMES[key]


def is_still_folder(root: Path) -> bool:
    """True when root's sub-folders hold images named freely (not CK+48's S<subject>_<session>_<frame>)."""
    from fer_edge.dataset import FILE_PATTERN

    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            if is_image_file(path):
                return FILE_PATTERN.match(path.name) is None
    return False


def scan_still_folder(root: Path, classes: tuple[str, ...] | None = None) -> list[StillFile]:
    """The image files under root/<emotion>/, labelled with fer-edge's names; no image is read yet.

    classes: keep only these (fer-edge names); None keeps every folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"still-image folder not found at {root}; point --data at a folder of <emotion>/ folders")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root} has no emotion sub-folders (expected e.g. {root}/happy/)")
    files: list[StillFile] = []
    seen: dict[str, Path] = {}
    for folder in folders:
        label = canonical_class(folder.name, folder)
        if label in seen:
            raise DatasetError(f"{folder} and {seen[label]} both map to {label!r}; keep one")
        seen[label] = folder
        if classes is not None and label not in classes:
            continue
        images = [p for p in sorted(folder.iterdir()) if p.is_file() and is_image_file(p)]
        if not images:
            raise DatasetError(f"class folder {folder} holds no images; add some or remove the folder")
        files.extend(StillFile(p, label) for p in images)
    missing = [c for c in classes or () if c not in seen]
    if missing:
        raise DatasetError(
            f"{root} has no folder for {', '.join(missing)}; folders there: " + ", ".join(p.name for p in folders)
        )
    return files


def _check_pixels(image: np.ndarray, where: str) -> np.ndarray:
    frame = preprocess_frame(image, SPEC.size)
    if float(frame.max() - frame.min()) < 1e-3:
        raise DatasetError(f"{where} is blank (one grey level)")
    return frame


def _collect(items: list[tuple[str, str, object]], classes: tuple[str, ...], decode, source: Path) -> Stills:
    """items: (id, label, raw) -> Stills; `decode(raw, id)` gives a frame or raises FerEdgeError (skipped)."""
    images = np.empty((len(items), SPEC.size, SPEC.size, 1), dtype=np.float32)
    labels, ids, skipped = [], [], []
    for item_id, label, raw in progress(items, f"reading {source.name}"):
        try:
            images[len(ids)] = decode(raw, item_id)
        except FerEdgeError as exc:
            skipped.append(str(exc))
            continue
        labels.append(classes.index(label))
        ids.append(item_id)
    if skipped and (len(skipped) > max(MAX_BAD_SHARE * len(items), MAX_BAD_FEW) or not ids):
        raise DatasetError(
            f"{len(skipped)} of {len(items)} images in {source} are unreadable or blank "
            f"(first: {skipped[0]}); is this a complete copy?"
        )
    kept = np.array(labels, dtype=np.int64)
    empty = [c for i, c in enumerate(classes) if not np.any(kept == i)]
    if empty:
        raise DatasetError(f"class {empty[0]!r} in {source} has no readable image")
    return Stills(images[: len(ids)], kept, np.array(ids), classes, tuple(skipped))


def load_still_folder(root: Path, classes: tuple[str, ...] | None = None) -> Stills:
    """Read and preprocess every image under root/<emotion>/; a few unreadable or blank ones are skipped."""
    files = scan_still_folder(root, classes)
    present = tuple(dict.fromkeys(f.label for f in files))
    order = classes if classes is not None else tuple(c for c in CSV_CODES + ("contempt",) if c in present)
    items = [(f"{f.path.parent.name}/{f.path.name}", f.label, f.path) for f in files]
    return _collect(items, order, lambda path, _id: _check_pixels(read_image(path), str(path)), Path(root))


@contextlib.contextmanager
def csv_rows(path: Path) -> Iterator[csv.DictReader]:
    """The rows of a CSV file (fer2013.csv, ferplus.csv); one clear error if it cannot be opened."""
    try:
        handle = Path(path).open(newline="")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield csv.DictReader(handle)


def load_still_csv(path: Path, split: str = "train", classes: tuple[str, ...] | None = None) -> Stills:
    """fer2013.csv's rows of one usage (train = Training, val = PublicTest, test = PrivateTest)."""
    path = Path(path)
    if split not in CSV_USAGES:
        raise UsageError(f"csv split must be one of {', '.join(CSV_USAGES)}, got {split!r}")
    with csv_rows(path) as reader:
        needed = {"emotion", "pixels"}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            raise DatasetError(f"{path} is not fer2013.csv: it needs the columns emotion, pixels (and Usage)")
        items = []
        for line, row in enumerate(reader, 2):
            if "Usage" in row and row["Usage"] and row["Usage"] != CSV_USAGES[split]:
                continue
            try:
                code = int(row["emotion"])
                label = CSV_CODES[code]
            except (ValueError, IndexError, TypeError):
                raise DatasetError(
                    f"{path} line {line}: emotion {row['emotion']!r} is not a code 0-6 (the README lists them)"
                ) from None
            if classes is not None and label not in classes:
                continue
            items.append((f"{path.name}:{line}", label, row["pixels"] or ""))
    if not items:
        raise DatasetError(f"{path} has no rows with Usage {CSV_USAGES[split]}")
    present = {label for _, label, _ in items}
    order = classes if classes is not None else tuple(c for c in CSV_CODES if c in present)
    return _collect(items, order, _decode_csv_pixels, path)


def _decode_csv_pixels(pixels: str, where: str) -> np.ndarray:
    values = pixels.split()
    side = SPEC.size
    if len(values) != side * side:
        raise DatasetError(f"{where}: {len(values)} pixel values, expected {side * side} ({side}x{side})")
    try:
        image = np.array(values, dtype=np.float32).reshape(side, side)
    except ValueError:
        raise DatasetError(f"{where}: pixels are not all numbers") from None
    if image.min() < 0 or image.max() > 255:
        raise DatasetError(f"{where}: pixel values outside 0-255")
    return _check_pixels(image.astype(np.uint8), where)


def scan_still_source(data: Path, split: str = "train") -> tuple[str, ...]:
    """The classes a still-image source holds (folder names mapped), read without decoding any image."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return load_still_csv(data, split).classes
    if not data.exists():
        raise DatasetError(f"still-image data not found at {data}; pass a folder of <emotion>/ folders or a .csv")
    if (data / split).is_dir():
        data = data / split
    return tuple(dict.fromkeys(f.label for f in scan_still_folder(data)))


def has_split(data: Path, split: str) -> bool:
    """Whether `data` holds a `split` part (a <split>/ folder, or csv rows of that usage)."""
    data = Path(data)
    if data.is_file():
        try:
            load_still_csv(data, split)
        except DatasetError:
            return False
        return True
    return (data / split).is_dir()


def load_stills(data: Path, split: str = "train", classes: tuple[str, ...] | None = None) -> Stills:
    """A folder of <emotion>/ folders, a folder holding <split>/<emotion>/, or a fer2013-style csv."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return load_still_csv(data, split, classes)
    if (data / split).is_dir():
        data = data / split
    return load_still_folder(data, classes)
