"""CK+48 as 3-frame sequences: one sample is the last frames of one subject+session in one emotion folder."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.errors import DatasetError, UsageError
from fer_edge.preprocess import SPEC, preprocess_frame

DEFAULT_CLASSES: tuple[str, ...] = ("happy", "surprise", "anger", "sadness", "fear")
ALL_CLASSES: tuple[str, ...] = DEFAULT_CLASSES + ("contempt", "disgust")
SEQUENCE_LENGTH = 3
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}  # what every image reader here takes
FILE_PATTERN = re.compile(r"^S(\d+)_(\d+)_(\d+)\.(png|jpe?g|bmp|tiff?)$", re.IGNORECASE)
MISSING_HINT = (
    "CK+48 (48x48 faces from the Extended Cohn-Kanade dataset, Lucey et al. 2010, research-only licence) "
    "is obtained from its authors or a CK+48 mirror; point --data (or DATA=) at the folder that holds "
    "one sub-folder per emotion"
)


@dataclass(frozen=True)
class Sequences:
    """Samples in a fixed order.

    frames: (N, 3, 48, 48, 1) float32 in [0, 1]; labels: (N,) int64 indices into `classes`;
    subjects: (N,) str such as "S010"; ids: (N,) str such as "happy/S010_006".
    """

    frames: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids: list[str] | tuple[str, ...]) -> Sequences:
        """The samples with these ids, in the order given."""
        index = {sid: i for i, sid in enumerate(self.ids)}
        missing = [sid for sid in ids if sid not in index]
        if missing:
            raise DatasetError(
                f"{len(missing)} sequence ids are not in the dataset (first: {missing[0]}); "
                "was the run trained on another copy of the data or with other classes?"
            )
        rows = np.array([index[sid] for sid in ids], dtype=np.int64)
        return Sequences(self.frames[rows], self.labels[rows], self.subjects[rows], self.ids[rows], self.classes)


@dataclass(frozen=True)
class SequenceFiles:
    """The image files of one sequence, ordered by frame number."""

    id: str
    label: str
    subject: str
    paths: tuple[Path, ...]


def resolve_classes(spec: str | None) -> tuple[str, ...]:
    """'default' (or empty) -> the 5 default classes, 'all' -> 7, else a comma-separated list in its order."""
    if spec is None or spec.strip() in ("", "default"):
        return DEFAULT_CLASSES
    if spec.strip() == "all":
        return ALL_CLASSES
    names = tuple(name.strip() for name in spec.split(",") if name.strip())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"--classes lists {', '.join(duplicates)} more than once")
    if len(names) < 2:
        raise UsageError(f"--classes needs at least two classes, got {spec!r}")
    return names


def scan(root: Path, classes: tuple[str, ...]) -> list[SequenceFiles]:
    """Group the files under root/<class>/ into sequences; no image is read yet."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found at {root}. {MISSING_HINT}")
    if not root.is_dir():
        raise DatasetError(f"dataset path {root} is a file, not a folder. {MISSING_HINT}")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"dataset folder {root} has no class sub-folders (expected e.g. {root}/happy/)")
    unknown = [c for c in classes if c not in folders]
    if unknown:
        raise DatasetError(
            f"class {unknown[0]!r} has no folder {root / unknown[0]}; folders there: {', '.join(folders)} "
            "(choose among them with --classes)"
        )

    sequences: list[SequenceFiles] = []
    for label in classes:
        folder = root / label
        groups: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            match = FILE_PATTERN.match(path.name)
            if match is None or not path.is_file():
                raise DatasetError(
                    f"{path} does not match the CK+48 naming pattern S<subject>_<session>_<frame>.png; "
                    "move it out of the dataset folder"
                )
            subject, session, frame = match.group(1), match.group(2), int(match.group(3))
            groups[(subject, session)].append((frame, path))
        if not groups:
            raise DatasetError(f"class folder {folder} holds no images")
        for (subject, session), frames in sorted(groups.items()):
            frames.sort()
            sequences.append(
                SequenceFiles(
                    id=f"{label}/S{subject}_{session}",
                    label=label,
                    subject=f"S{subject}",
                    paths=tuple(p for _, p in frames),
                )
            )

    short = [s for s in sequences if len(s.paths) < SEQUENCE_LENGTH]
    if short:
        listed = ", ".join(f"{s.id} ({len(s.paths)})" for s in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        raise DatasetError(
            f"{len(short)} sequences have fewer than {SEQUENCE_LENGTH} frames: {listed}{more}; complete or remove them"
        )
    return sequences


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """Decode an image file as stored (any bit depth, any channel count); DatasetError if it cannot be."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: works for any path encoding
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc.strerror}") from None
    if data.size == 0:
        raise DatasetError(f"image {path} is empty (0 bytes); replace or remove it")
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise DatasetError(f"image {path} is corrupt or not an image; replace or remove it")
    return image


def load_sequences(root: Path, classes: tuple[str, ...] = DEFAULT_CLASSES, size: int = SPEC.size) -> Sequences:
    """Read every sequence of `classes` under root, keeping the last 3 (peak) frames of each."""
    files = scan(root, classes)
    frames = np.empty((len(files), SEQUENCE_LENGTH, size, size, 1), dtype=np.float32)
    for i, sequence in enumerate(files):
        for j, path in enumerate(sequence.paths[-SEQUENCE_LENGTH:]):
            frames[i, j] = preprocess_frame(read_image(path), size)
    return Sequences(
        frames=frames,
        labels=np.array([classes.index(s.label) for s in files], dtype=np.int64),
        subjects=np.array([s.subject for s in files]),
        ids=np.array([s.id for s in files]),
        classes=tuple(classes),
    )


@dataclass(frozen=True)
class DatasetStats:
    classes: tuple[str, ...]
    sequences_per_class: dict[str, int]
    images_per_class: dict[str, int]
    subjects: int
    subjects_per_class: dict[str, int]

    @property
    def sequences(self) -> int:
        return sum(self.sequences_per_class.values())


def dataset_stats(root: Path, classes: tuple[str, ...] = DEFAULT_CLASSES) -> DatasetStats:
    files = scan(root, classes)
    return DatasetStats(
        classes=classes,
        sequences_per_class={c: sum(s.label == c for s in files) for c in classes},
        images_per_class={c: sum(len(s.paths) for s in files if s.label == c) for c in classes},
        subjects=len({s.subject for s in files}),
        subjects_per_class={c: len({s.subject for s in files if s.label == c}) for c in classes},
    )
