"""The finished folds of a cross-validation, kept beside its run folder until the run completes, so that an
interrupted `--cv` (Ctrl-C, the end of a session) trains only the folds it had not finished when the same command
runs again. A kept fold is only reused by a run of the same settings and the same held-out sequences (its key).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fer_edge.atomic import atomic_dir, atomic_write_text

KEY_FILE = "fold_key.json"


def folds_store(out: Path) -> Path:
    """Where the finished folds of the run that writes `out` are kept."""
    out = Path(out)
    return out.parent / f".{out.name}.folds"


def keep_fold(store: Path, directory: Path, key: dict) -> None:
    """A copy of the finished fold `directory` in `store`, with its key; renamed into place whole."""
    with atomic_dir(store / directory.name, force=True) as kept:
        shutil.copytree(directory, kept, dirs_exist_ok=True)
        atomic_write_text(kept / KEY_FILE, json.dumps(key, indent=1) + "\n")


def reuse_fold(store: Path, directory: Path, key: dict) -> bool:
    """Copy the kept fold of `directory`'s name into `directory` if there is one with this key; True if copied."""
    kept = store / directory.name
    path = kept / KEY_FILE
    if not path.is_file() or json.loads(path.read_text()) != json.loads(json.dumps(key)):
        return False
    shutil.copytree(kept, directory, ignore=shutil.ignore_patterns(KEY_FILE))
    return True
