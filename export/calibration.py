"""Representative data for int8 calibration: training sequences only, never held-out ones."""

from __future__ import annotations

import numpy as np

from fer_edge.dataset import Sequences
from fer_edge.errors import CalibrationError
from fer_edge.split import Split


def calibration_set(data: Sequences, split: Split, size: int | None = None, seed: int = 0) -> Sequences:
    """Every training sequence, or a stratified subset of `size` of them."""
    train = data.select(split.train)
    leaked = set(train.ids) & set(split.test)
    if leaked:
        raise CalibrationError(f"calibration would use held-out sequence {sorted(leaked)[0]}; the split is corrupt")
    if size is not None and size < len(train):
        from sklearn.model_selection import train_test_split

        if size < len(data.classes):
            raise CalibrationError(f"--calib-size {size} is smaller than the number of classes ({len(data.classes)})")
        keep, _ = train_test_split(list(train.ids), train_size=size, stratify=train.labels, random_state=seed)
        train = train.select(sorted(keep))
    if len(train) < 2 or float(np.std(train.frames)) < 1e-6:
        raise CalibrationError(
            f"{len(train)} calibration sequences with pixel spread {float(np.std(train.frames)):.2g}: too few or "
            "constant frames cannot set int8 ranges"
        )
    return train
