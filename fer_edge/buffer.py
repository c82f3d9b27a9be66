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
        self.pushed = 0  # frames of this stream so far: a frame's index sets whether it is mirrored

    def push(self, face: np.ndarray) -> np.ndarray | None:
        """face: (48, 48, 1) float32 in [0, 1] -> (classes,) probabilities, or None until the window is full."""
        self.items.append(self.model.encode(face, self.pushed) if self.model.streaming else face)
        self.pushed += 1
        if len(self.items) < self.items.maxlen:
            return None
        stacked = np.stack(self.items)
        if self.model.streaming:
            return self.model.head(stacked)
        return self.model.predict_window(stacked, start=self.pushed - len(stacked))

    def reset(self) -> None:
        self.items.clear()
        self.pushed = 0

    @property
    def full(self) -> bool:
        return len(self.items) == self.items.maxlen


def predict_still(model: EmotionModel, face: np.ndarray) -> np.ndarray:
    """One face on its own (a photo): the static sequence of it repeated for every frame, as the models were
    trained on stills. Streaming models encode it once (twice, as it is and mirrored, for bundles that mirror
    every other frame)."""
    if model.streaming:
        features = [model.encode(face, index) for index in range(1 + model.mirror_odd_frames)]
        return model.head(np.stack([features[i % len(features)] for i in range(model.sequence_length)]))
    return model.predict_window(np.repeat(face[None], model.sequence_length, axis=0))
