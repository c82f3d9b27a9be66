"""Augmentation that moves all 3 frames of a sequence together, with a single resampling.

The frames of a sequence are stacked as the channels of one image, so one random flip, affine warp
(rotation, scale, shift) and brightness/contrast change applies to every frame alike. One warp instead of
a chain of rotate/shift/zoom layers keeps the 48x48 faces sharp. Sensor noise, when on, is drawn afresh for every
pixel of every frame, as a camera's is. With `mirror_odd_frames`, every other frame is then mirrored, from a random
first frame, as the runtime shows a stream to a bundle exported with that rule (fer_edge.preprocess).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from fer_edge.preprocess import mirror_odd_frames


@dataclass(frozen=True)
class Jitter:
    flip: bool = True
    rotation_degrees: float = 8.0
    shift: float = 0.06  # share of the side
    scale: float = 0.08  # zoom in or out by up to this share
    brightness: float = 0.08  # added, in [0, 1] units
    contrast: float = 0.15  # multiplied around the mean: 1 ± this
    noise: float = 0.0  # Gaussian sensor noise: each sequence draws a standard deviation up to this, in [0, 1] units
    mirror_odd_frames: bool = False  # every other frame mirrored, the phase drawn per sequence

    def to_dict(self) -> dict:
        return asdict(self)


def augment_sequences(frames: np.ndarray, rng: np.random.Generator, jitter: Jitter = Jitter()) -> np.ndarray:
    """frames: (B, T, H, W, 1) float32 in [0, 1] -> same shape, one random transform per sequence."""
    out = np.empty_like(frames)
    height, width = frames.shape[2:4]
    for i, sequence in enumerate(frames):
        stacked = np.ascontiguousarray(sequence[..., 0].transpose(1, 2, 0))  # (H, W, T)
        if jitter.flip and rng.random() < 0.5:
            stacked = np.ascontiguousarray(stacked[:, ::-1])
        matrix = cv2.getRotationMatrix2D(
            (width / 2 - 0.5, height / 2 - 0.5),
            rng.uniform(-jitter.rotation_degrees, jitter.rotation_degrees),
            1.0 + rng.uniform(-jitter.scale, jitter.scale),
        )
        matrix[:, 2] += rng.uniform(-jitter.shift, jitter.shift, size=2) * (width, height)
        warped = cv2.warpAffine(
            stacked, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        if warped.ndim == 2:  # cv2 drops a channel axis of size 1
            warped = warped[:, :, None]
        mean = warped.mean()
        warped = (warped - mean) * (1.0 + rng.uniform(-jitter.contrast, jitter.contrast)) + mean
        warped += rng.uniform(-jitter.brightness, jitter.brightness)
        if jitter.noise:  # drawn only when on, so that runs without it keep their random stream
            warped += rng.normal(0.0, rng.uniform(0.0, jitter.noise), warped.shape).astype(warped.dtype)
        out[i] = np.clip(warped, 0.0, 1.0).transpose(2, 0, 1)[..., None]
        if jitter.mirror_odd_frames:  # drawn only when on, as the noise
            out[i] = mirror_odd_frames(out[i], int(rng.integers(2)))
    return out


def mixup(
    frames: np.ndarray, targets: np.ndarray, weights: np.ndarray, rng: np.random.Generator, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blend every sequence of a batch with another one of the same batch (Zhang et al. 2018, mixup).

    Each sequence draws a partner and a share from Beta(alpha, alpha), applied alike to its 3 frames, its
    one-hot target and its sample weight. The share is folded to [0.5, 1] so that each sequence stays the
    larger part of its own blend.
    """
    share = rng.beta(alpha, alpha, size=len(frames)).astype(np.float32)
    share = np.maximum(share, 1.0 - share)
    partner = rng.permutation(len(frames))
    blend = share.reshape(-1, *([1] * (frames.ndim - 1)))
    return (
        blend * frames + (1 - blend) * frames[partner],
        share[:, None] * targets + (1 - share[:, None]) * targets[partner],
        share * weights + (1 - share) * weights[partner],
    )
