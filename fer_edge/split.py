"""Train/test splits of sequences, saved as split.json so that export and benchmarks reuse them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fer_edge.atomic import atomic_write_text
from fer_edge.dataset import Sequences
from fer_edge.errors import DatasetError, UsageError

SEED_PROTOCOL = "stratified-random-70-30"
SUBJECT_PROTOCOL = "subject-independent-stratified-kfold"


@dataclass(frozen=True)
class Split:
    """Sequence ids per part. `val` is carved from training data for training decisions; `test` decides nothing."""

    protocol: str
    seed: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    val: tuple[str, ...] = ()
    fold: int | None = None
    folds: int | None = None
    notes: dict = field(default_factory=dict)


def seed_split(data: Sequences, test_size: float = 0.3, seed: int = 42) -> Split:
    """The seed protocol: a stratified random split of sequences (subjects may appear on both sides)."""
    from sklearn.model_selection import train_test_split

    train_ids, test_ids = train_test_split(list(data.ids), test_size=test_size, stratify=data.labels, random_state=seed)
    return Split(SEED_PROTOCOL, seed, tuple(sorted(train_ids)), tuple(sorted(test_ids)))


def subject_folds(data: Sequences, k: int, seed: int = 42) -> list[Split]:
    """Subject-independent stratified k-fold: no subject is ever in both train and test of a fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    if k < 2:
        raise UsageError(f"--cv needs at least 2 folds, got {k}")
    if k > len(set(data.subjects)):
        raise UsageError(f"--cv {k} asks for more folds than there are subjects ({len(set(data.subjects))})")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for fold, (train_rows, test_rows) in enumerate(splitter.split(data.ids, data.labels, data.subjects), 1):
        splits.append(
            Split(
                SUBJECT_PROTOCOL,
                seed,
                tuple(sorted(data.ids[train_rows])),
                tuple(sorted(data.ids[test_rows])),
                fold=fold,
                folds=k,
            )
        )
    return splits


def carve_validation(split: Split, data: Sequences, fraction: float) -> Split:
    """Move a subject-independent, stratified `fraction` of the training sequences into `val`."""
    from sklearn.model_selection import StratifiedGroupKFold

    if fraction <= 0:
        return split
    train = data.select(split.train)
    splitter = StratifiedGroupKFold(n_splits=max(2, round(1 / fraction)), shuffle=True, random_state=split.seed)
    keep_rows, val_rows = next(splitter.split(train.ids, train.labels, train.subjects))
    return Split(
        split.protocol,
        split.seed,
        tuple(sorted(train.ids[keep_rows])),
        split.test,
        tuple(sorted(train.ids[val_rows])),
        split.fold,
        split.folds,
        split.notes,
    )


def write_split(split: Split, path: Path) -> None:
    atomic_write_text(Path(path), json.dumps(asdict(split), indent=2) + "\n")


def read_split(path: Path) -> Split:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"split file {path} not found; is this a fer-edge run folder?") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"split file {path} is not valid JSON ({exc}); re-run training") from None
    missing = [key for key in ("protocol", "seed", "train", "test") if key not in raw]
    if missing:
        raise DatasetError(f"split file {path} lacks the field {missing[0]!r}; re-run training")
    raw = {**raw, **{k: tuple(raw.get(k, ())) for k in ("train", "test", "val")}}
    return Split(**raw)


def check_disjoint(split: Split, data: Sequences | None = None) -> None:
    """Raise if a sequence (or, for subject-independent splits, a subject) is on both sides."""
    overlap = set(split.train) & set(split.test) | set(split.val) & set(split.test)
    if overlap:
        raise DatasetError(f"split puts {sorted(overlap)[0]} in both train and test")
    if data is not None and split.protocol == SUBJECT_PROTOCOL:
        train_subjects = set(data.select(split.train + split.val).subjects)
        shared = train_subjects & set(data.select(split.test).subjects)
        if shared:
            raise DatasetError(f"subject {sorted(shared)[0]} is in both train and test of fold {split.fold}")
