"""The one preprocessing function: training, calibration, evaluation and the runtime all call it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from fer_edge.errors import InputSpecError


@dataclass(frozen=True)
class PreprocessSpec:
    """What a model expects of each frame; recorded in run configs and bundle manifests."""

    size: int = 48
    color: str = "grayscale"
    value_range: tuple[float, float] = (0.0, 1.0)
    resize: str = "area"

    def to_dict(self) -> dict:
        return asdict(self)


SPEC = PreprocessSpec()


def to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 frame as the face crop is taken from it: (H, W), (H, W, 1), BGR or BGRA -> (H, W) gray."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)


def preprocess_frame(image: np.ndarray, size: int = SPEC.size) -> np.ndarray:
    """Turn one face image into a model frame.

    image: (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA; uint8, uint16 or float in [0, 1].
    Returns (size, size, 1) float32 in [0, 1].
    """
    if not isinstance(image, np.ndarray):
        raise InputSpecError(f"expected a numpy image array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise InputSpecError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputSpecError(f"expected a non-empty image, got shape {image.shape}")

    if image.dtype == np.uint8:
        scaled = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        scaled = image.astype(np.float32) / 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        scaled = image.astype(np.float32)
        if not np.all(np.isfinite(scaled)):
            raise InputSpecError("image contains NaN or Inf values")
        scaled = np.clip(scaled, 0.0, 1.0)
    else:
        raise InputSpecError(f"expected uint8, uint16 or float pixels, got {image.dtype}")

    if scaled.ndim == 3:
        code = cv2.COLOR_BGR2GRAY if scaled.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        scaled = cv2.cvtColor(scaled, code)
    if scaled.shape != (size, size):
        interpolation = cv2.INTER_AREA if min(scaled.shape) >= size else cv2.INTER_LINEAR
        scaled = cv2.resize(scaled, (size, size), interpolation=interpolation)
    # Area averaging and the grey weights can round a white pixel to 1.0000001; the range is a promise.
    return np.clip(np.ascontiguousarray(scaled, dtype=np.float32), 0.0, 1.0)[:, :, None]


def mirror_odd_frames(frames: np.ndarray, start: int = 0) -> np.ndarray:
    """frames: (T, H, W, C), the window whose first frame is frame `start` of its stream. Returns a copy with the
    stream's odd frames mirrored left to right: for a bundle made with `fer-edge export --mirror-odd-frames`, every
    window then shows the face from both sides, a flip average that the window's BiLSTM does at no extra cost per
    new frame. Every path from frames to such a model goes through here (fer_edge.model.EmotionModel)."""
    mirrored = np.array(frames, dtype=np.float32, copy=True)
    first_odd = 1 - start % 2  # the window's first frame that is odd in the stream
    mirrored[first_odd::2] = mirrored[first_odd::2, :, ::-1]
    return mirrored


def mirror_windows(windows: np.ndarray) -> np.ndarray:
    """windows: (N, T, H, W, C), each the start of a stream (a held-out sequence, a still's static window) ->
    mirror_odd_frames of each, as the runtime shows them to a bundle with the rule."""
    return np.stack([mirror_odd_frames(window) for window in windows]) if len(windows) else np.array(windows)
