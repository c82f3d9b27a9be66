"""The rolling window of the last 3 faces of one tracked person, and the static window of a still."""

from __future__ import annotations

from collections import deque

import numpy as np

from fer_edge.model import EmotionModel


class FaceWindow:
    """Push one preprocessed face per frame; get probabilities once 3 are in, else None.

    In streaming mode only the new frame goes through the encoder; its feature vector is cached and the
    head runs over the last 3, so a new frame costs one CNN pass instead of three.
    """

    def __init__(self, model: EmotionModel):
        self.model = model
        self.items: deque[np.ndarray] = deque(maxlen=model.sequence_length)

    def push(self, face: np.ndarray) -> np.ndarray | None:
        """face: (48, 48, 1) float32 in [0, 1] -> (classes,) probabilities, or None until the window is full."""
        self.items.append(self.model.encode(face) if self.model.streaming else face)
        if len(self.items) < self.items.maxlen:
            return None
        stacked = np.stack(self.items)
        return self.model.head(stacked) if self.model.streaming else self.model.predict_window(stacked)

    def reset(self) -> None:
        self.items.clear()

    @property
    def full(self) -> bool:
        return len(self.items) == self.items.maxlen


def predict_still(model: EmotionModel, face: np.ndarray) -> np.ndarray:
    """One face on its own (a photo): the static sequence of it repeated for every frame, as the models were
    trained on stills. Streaming models encode it once."""
    if model.streaming:
        return model.head(np.repeat(model.encode(face)[None], model.sequence_length, axis=0))
    return model.predict_window(np.repeat(face[None], model.sequence_length, axis=0))
