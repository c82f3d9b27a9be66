"""A training's state after each epoch (stage 1's, and each stage-2 run's or fold's), so that a run cut short (Ctrl-C,
the end of a session) continues from its last whole epoch instead of from the start.

One .npz holds everything (the weights, the optimizer's variables, the epoch and the history so far), written to a
temporary name and renamed (fer_edge.atomic), so a checkpoint is never half old and half new. It is only resumed
by a run of the same settings on the same stills (its `key`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from fer_edge.atomic import atomic_path

STATE_FILE = "state.npz"


def save_checkpoint(folder: Path, model: keras.Model, epoch: int, history: dict, key: dict) -> None:
    """`model`'s weights and optimizer state after `epoch` whole epochs, with the history of those epochs."""
    arrays = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    arrays |= {f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    arrays["record"] = np.array(json.dumps({"key": key, "epoch": epoch, "history": history}))
    with atomic_path(folder / STATE_FILE) as temporary:
        np.savez(temporary, **arrays)


def load_checkpoint(folder: Path, model: keras.Model, key: dict) -> tuple[int, dict] | None:
    """(epochs done, their history) after restoring `model` (compiled, its optimizer built) from `folder`; None
    when there is no checkpoint there or it is of other settings or stills."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    with np.load(path) as state:
        record = json.loads(str(state["record"]))
        if record["key"] != json.loads(json.dumps(key)):
            return None
        weights = [state[f"weight_{i}"] for i in range(len(model.get_weights()))]
        optimizer = [state[f"optimizer_{i}"] for i in range(len(model.optimizer.variables))]
    model.set_weights(weights)
    for variable, value in zip(model.optimizer.variables, optimizer, strict=True):
        variable.assign(value)
    return record["epoch"], record["history"]


def resume(
    folder: Path, model: keras.Model, key: dict, epochs: int, log: Callable[[str], None], prefix: str
) -> tuple[int, dict]:
    """(epochs done, their history) from `folder`'s checkpoint of this `key`, else (0, {}); the log says which."""
    found = load_checkpoint(folder, model, key)
    if found:
        log(
            f"{prefix}resuming at epoch {found[0] + 1}/{epochs} from the checkpoint in {folder} "
            "(weights and optimizer as they were; the batches are drawn afresh)"
        )
        return found
    if (folder / STATE_FILE).is_file():
        log(f"{prefix}the checkpoint in {folder} is of other settings or data; starting afresh")
    return 0, {}
