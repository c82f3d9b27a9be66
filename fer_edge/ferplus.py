"""FER+ votes: ten annotators per FER2013 face (Barsoum et al. 2016), read from `ferplus.csv` beside the folders.

FER2013's own label is one person's; FER+ moved about a third of its faces to another class (44 % of the "sad"
training faces are neutral under FER+). The votes give two kinds of label:

- the majority label, FER+'s official rule (microsoft/FERPlus `src/ferplus.py`): counts of 1 or less are set to
  0, the winner needs more than half of the votes left, and a face whose winner is unknown or not-a-face, or that
  has no winner, has no label;
- the vote distribution over the eight emotions, unknown and not-a-face removed and the rest renormalised (the
  paper's best training scheme was on the distribution); a face with no emotion vote has no target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.errors import DatasetError, UsageError
from fer_edge.stills import CLASS_NAMES, Stills, csv_rows

FERPLUS_FILE = "ferplus.csv"
EMOTION_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
COLUMNS = (*EMOTION_COLUMNS, "unknown", "NF")
CLASSES: tuple[str, ...] = tuple(CLASS_NAMES[c] for c in EMOTION_COLUMNS)  # fer-edge's names, FER+'s order
NO_LABEL = -1
# Where a still's training target comes from: its folder, the FER+ vote distribution, or the FER+ majority label.
LABEL_SOURCES = ("folder", "ferplus", "ferplus-majority")
# What training on vote distributions does with a face whose votes have no majority.
WITHOUT_MAJORITY = ("keep", "drop")
# What the folder label's share of a target is taken from: the whole target, or only its non-neutral part (so the
# votes alone say how neutral a face is, and the folder label only moves mass between expressions).
FOLDER_BLENDS = ("all", "expressions")


@dataclass(frozen=True)
class Votes:
    """counts: (N, 10) int, FER+'s columns (COLUMNS) per face; paths relative to `root` (the csv's folder)."""

    root: Path
    paths: tuple[str, ...]
    counts: np.ndarray

    def rows(self, keys: list[str]) -> np.ndarray:
        """Row of each key (a path relative to root, with '/'), or -1 where FER+ has no votes for it."""
        index = {p: i for i, p in enumerate(self.paths)}
        return np.array([index.get(k, -1) for k in keys], dtype=np.int64)


def find_votes(data: Path, given: Path | None = None) -> Path:
    """`given`, else ferplus.csv in the FER2013 folder `data` (or beside it, when `data` is one of its splits)."""
    if given is not None:
        if not Path(given).is_file():
            raise UsageError(f"FER+ votes not found at {given}; pass the ferplus.csv that FER2013's README describes")
        return Path(given)
    data = Path(data)
    for folder in (data, data.parent):
        if (folder / FERPLUS_FILE).is_file():
            return folder / FERPLUS_FILE
    raise UsageError(
        f"no {FERPLUS_FILE} in {data} or beside it: FER+ labels need the votes file (FER2013's README says where "
        "it comes from); pass its path, or use the folder labels"
    )


def read_votes(path: Path) -> Votes:
    path = Path(path)
    with csv_rows(path) as reader:
        missing = [c for c in ("path", *COLUMNS) if c not in (reader.fieldnames or ())]
        if missing:
            raise DatasetError(f"{path} is not a FER+ votes file: it lacks the columns {', '.join(missing)}")
        paths, counts = [], []
        for line, row in enumerate(reader, 2):
            try:
                votes = [int(row[c]) for c in COLUMNS]
            except (TypeError, ValueError):
                raise DatasetError(f"{path} line {line}: vote counts must be whole numbers") from None
            if min(votes) < 0:
                raise DatasetError(f"{path} line {line}: a vote count is negative")
            paths.append(row["path"].replace("\\", "/"))
            counts.append(votes)
    if not paths:
        raise DatasetError(f"{path} holds no votes")
    return Votes(path.parent, tuple(paths), np.array(counts, dtype=np.int64).reshape(-1, len(COLUMNS)))


def majority(counts: np.ndarray) -> np.ndarray:
    """FER+'s majority rule: (N, 10) counts -> (N,) index into CLASSES, NO_LABEL where there is none."""
    kept = np.where(counts <= 1, 0, counts)
    total = kept.sum(axis=1)
    winner = kept.argmax(axis=1)
    has = kept.max(axis=1) > 0.5 * total
    has &= total > 0
    has &= winner < len(CLASSES)  # unknown or not-a-face won
    return np.where(has, winner, NO_LABEL)


def soft_targets(counts: np.ndarray) -> np.ndarray:
    """(N, 10) counts -> (N, 8) float32 vote shares over CLASSES; all zeros where no emotion got a vote."""
    emotions = counts[:, : len(CLASSES)].astype(np.float64)
    total = emotions.sum(axis=1, keepdims=True)
    return (emotions / np.maximum(total, 1)).astype(np.float32)


def split_prefix(folder: Path, votes: Votes) -> str:
    """The path of a split folder (e.g. FER2013/train) relative to the votes' folder, '' when it is that folder."""
    relative = os.path.relpath(Path(folder).resolve(), votes.root.resolve()).replace(os.sep, "/")
    if relative.startswith(".."):
        raise UsageError(f"{folder} is not inside {votes.root}, where the FER+ votes' paths start")
    return "" if relative == "." else relative + "/"


@dataclass(frozen=True)
class Relabelled:
    """Stills relabelled by FER+, and how many were dropped for want of a row or of a label."""

    stills: Stills
    without_votes: int
    without_label: int


def check_vote_options(source: str, folder_weight: float, without_majority: str, folder_blend: str = "all") -> None:
    """What training on the votes may be told (`fer-edge train --folder-weight`, `--folder-blend`,
    `--without-majority`)."""
    if folder_blend not in FOLDER_BLENDS:
        raise UsageError(f"--folder-blend takes {' or '.join(FOLDER_BLENDS)}, got {folder_blend!r}")
    if not 0 <= folder_weight < 1:
        raise UsageError(f"--folder-weight must be in [0, 1), got {folder_weight:g}")
    if folder_weight and source != "ferplus":
        raise UsageError("--folder-weight blends the folder label into --stills-labels ferplus's votes")
    if folder_blend != "all" and not folder_weight:
        raise UsageError(f"--folder-blend {folder_blend} says where --folder-weight's share goes; pass --folder-weight")
    if without_majority not in WITHOUT_MAJORITY:
        raise UsageError(f"--without-majority takes {' or '.join(WITHOUT_MAJORITY)}, got {without_majority!r}")
    if without_majority != "keep" and source != "ferplus":
        raise UsageError("--without-majority drop applies to --stills-labels ferplus")


def blend_folder(targets: np.ndarray, folder: np.ndarray, weight: float, blend: str) -> np.ndarray:
    """(1 - weight) x targets + weight x the folder's one-hot, over the whole target ("all") or over its non-neutral
    share ("expressions"), where the neutral share and the neutral folder's faces are left as they are."""
    onehot = np.eye(targets.shape[1], dtype=np.float32)[folder]
    if blend == "all":
        return (1 - weight) * targets + weight * onehot
    neutral = CLASSES.index("neutral")
    blended = (1 - weight) * targets + weight * onehot * (1 - targets[:, [neutral]])
    blended[:, neutral] = targets[:, neutral]
    return np.where((folder == neutral)[:, None], targets, blended)


def describe_blend(weight: float, blend: str) -> str:
    """How a target mixes the votes and the folder label, for the training log ("" without a folder label)."""
    if not weight:
        return ""
    where = " (non-neutral share only)" if blend == "expressions" else ""
    return f" x {1 - weight:g} + folder label x {weight:g}{where}"


def relabel_stills(
    stills: Stills,
    votes: Votes,
    prefix: str,
    source: str,
    folder_weight: float = 0.0,
    without_majority: str = "keep",
    folder_blend: str = "all",
) -> Relabelled:
    """Stills (ids relative to their split folder) labelled by their votes, over FER+'s eight CLASSES.

    source "ferplus": targets are the vote distributions, labels their argmax (for class weights); faces with no
    emotion vote are dropped. With `folder_weight` W, a target is (1 - W) x the votes + W x the still's own folder
    label, which keeps some of what FER2013's labels say where the annotators disagree with them; with `folder_blend`
    "expressions" the blend is applied to the target's non-neutral share only (a face in an expression's folder
    keeps its neutral share, a face in the neutral folder keeps its votes). A face whose votes have no majority is
    kept (`without_majority` "keep") or dropped ("drop").
    "ferplus-majority": labels are the majority label, no targets; faces without one are dropped. Faces that FER+
    has no row for are dropped either way."""
    if source not in LABEL_SOURCES[1:]:
        raise UsageError(f"FER+ labels are {' or '.join(LABEL_SOURCES[1:])}, got {source!r}")
    check_vote_options(source, folder_weight, without_majority, folder_blend)
    rows = votes.rows([prefix + str(i) for i in stills.ids])
    found = rows >= 0
    counts = votes.counts[rows[found]]
    if source == "ferplus":
        targets = soft_targets(counts)
        keep = targets.sum(axis=1) > 0
        if without_majority == "drop":
            keep &= majority(counts) != NO_LABEL
        if folder_weight:
            folder = np.array([CLASSES.index(c) for c in stills.classes])[stills.labels[found]]
            targets = blend_folder(targets, folder, folder_weight, folder_blend)
        labels, targets = targets[keep].argmax(axis=1), targets[keep]
    else:
        labels = majority(counts)
        keep = labels != NO_LABEL
        labels, targets = labels[keep], None
    picked = np.flatnonzero(found)[keep]
    relabelled = Stills(
        stills.images[picked], labels.astype(np.int64), stills.ids[picked], CLASSES, stills.skipped, targets
    )
    return Relabelled(relabelled, int(np.sum(~found)), int(np.sum(~keep)))


def load_ferplus_stills(
    data: Path,
    split: str,
    source: str,
    votes_path: Path | None = None,
    folder_weight: float = 0.0,
    without_majority: str = "keep",
    folder_blend: str = "all",
) -> Relabelled:
    """FER2013's `split` folder (every emotion folder) labelled by FER+ (`relabel_stills`)."""
    from fer_edge.stills import load_still_folder

    data = Path(data)
    if not data.is_dir():
        raise UsageError(f"FER+ labels need FER2013's folder form (<split>/<emotion>/ and ferplus.csv), not {data}")
    folder = data / split if (data / split).is_dir() else data
    votes = read_votes(find_votes(data, votes_path))
    prefix = split_prefix(folder, votes)
    stills = load_still_folder(folder)
    return relabel_stills(stills, votes, prefix, source, folder_weight, without_majority, folder_blend)
