"""A confusion matrix as a PNG, drawn with OpenCV so that `fer-edge eval` needs no plotting library."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fer_edge.atomic import atomic_path

CELL, LEFT, TOP = 64, 110, 96
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_confusion(confusion: dict, title: str, path: Path) -> None:
    """confusion: {"rows": true classes, "columns": predicted classes, "counts": rows x columns}.

    Each cell shows its count and is shaded by its share of the row (the recall on the diagonal).
    """
    rows, columns = confusion["rows"], confusion["columns"]
    counts = np.array(confusion["counts"], dtype=np.int64).reshape(len(rows), len(columns))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    height, width = TOP + CELL * len(rows) + 40, max(LEFT + CELL * len(columns) + 20, 8 * len(title) + 20)
    canvas = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(canvas, title, (10, 22), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "predicted", (LEFT, 44), FONT, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(canvas, "true", (10, TOP - 8), FONT, 0.45, (80, 80, 80), 1, cv2.LINE_AA)
    for j, name in enumerate(columns):
        cv2.putText(canvas, name[:8], (LEFT + j * CELL + 4, TOP - 10), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, name in enumerate(rows):
        y = TOP + i * CELL
        cv2.putText(canvas, name[:12], (10, y + CELL // 2 + 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for j in range(len(columns)):
            x = LEFT + j * CELL
            shade = int(255 - 200 * shares[i, j])
            cv2.rectangle(canvas, (x, y), (x + CELL - 2, y + CELL - 2), (255, shade, shade), -1)
            ink = (255, 255, 255) if shares[i, j] > 0.55 else (0, 0, 0)
            cv2.putText(canvas, str(counts[i, j]), (x + 8, y + CELL // 2 + 5), FONT, 0.5, ink, 1, cv2.LINE_AA)
    cv2.putText(
        canvas, "shade: share of the true class's faces", (10, height - 14), FONT, 0.4, (80, 80, 80), 1, cv2.LINE_AA
    )
    with atomic_path(Path(path)) as tmp:
        if not cv2.imwrite(str(tmp), canvas):
            raise OSError(f"cannot write {path}")
