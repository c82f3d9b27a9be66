"""The runtime loop: frames -> face -> 3-frame window -> emotion, with per-stage timings. No TensorFlow."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from fer_edge.backends import TFLITE_BACKENDS
from fer_edge.buffer import FaceWindow
from fer_edge.detect import Box, FaceDetector, crop
from fer_edge.errors import UsageError
from fer_edge.model import EmotionModel
from fer_edge.preprocess import preprocess_frame
from fer_edge.sources import Frame, SourceStats, open_source

STAGES = ("detect", "preprocess", "inference")
KEPT_SAMPLES = 10_000  # per stage: the summary's percentiles cover the last 10,000 frames; memory stays bounded


@dataclass(frozen=True)
class RunConfig:
    source: str
    bundle: str
    format: str = "tflite"
    precision: str = "int8"
    streaming: bool = True
    threads: int | None = None
    tflite_backend: str | None = None  # None: ai-edge-litert, else tflite-runtime, else tensorflow.lite
    verify: bool = True  # check every model file's sha256 against the manifest before loading
    detect: bool = True
    detect_every: int = 1  # run the detector every N frames, reuse the box in between
    detect_width: int = 320
    margin: float = 0.0  # grow the face box by this share per side (CK+48 crops are tight)
    lost_after: int = 5  # frames without a face before the window resets
    smoothing: float = 0.0  # exponential moving average weight of the past; 0 = off
    min_confidence: float = 0.0  # below this the label is "uncertain"
    max_failures: int = 10  # failed camera reads in a row before giving up (or reconnecting)
    max_gap: float = 1.0  # seconds between frames beyond which the window resets (not one moment of one face)
    loop: bool = False  # a video source starts again at its end (demos, soak tests)
    reconnect: bool = False  # reopen a camera that fails, with back-off, instead of stopping

    def validate(self) -> None:
        if self.detect_every < 1 or self.lost_after < 0 or self.max_failures < 1 or self.max_gap <= 0:
            raise UsageError(
                "--detect-every and --max-failures must be at least 1, --lost-after at least 0, --max-gap above 0"
            )
        if not 0 <= self.smoothing < 1 or not 0 <= self.min_confidence <= 1:
            raise UsageError("--smoothing must be in [0, 1) and --min-confidence in [0, 1]")
        if self.tflite_backend is not None and self.tflite_backend not in TFLITE_BACKENDS:
            raise UsageError(f"--tflite-backend takes {', '.join(TFLITE_BACKENDS)}, got {self.tflite_backend!r}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {self.threads}")


@dataclass(frozen=True)
class Prediction:
    frame: int
    timestamp: float
    box: Box | None
    label: str  # a class name, "uncertain" below --min-confidence, or "invalid" for NaN/Inf outputs
    confidence: float
    probabilities: dict[str, float]
    latency_ms: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunStats:
    source: SourceStats = field(default_factory=SourceStats)
    faces: int = 0
    predictions: int = 0
    resets: int = 0
    # "read": time waiting for the source's next frame (decoding a video, a camera's frame interval)
    stage_ms: dict[str, deque[float]] = field(
        default_factory=lambda: {s: deque(maxlen=KEPT_SAMPLES) for s in ("read", *STAGES)}
    )
    started: float = field(default_factory=time.perf_counter)

    def summary(self) -> dict:
        elapsed = time.perf_counter() - self.started
        return {
            "frames_read": self.source.read,
            "frames_dropped": self.source.dropped,
            "camera_reconnects": self.source.reconnects,
            "images_skipped": self.source.skipped,
            "faces_found": self.faces,
            "predictions": self.predictions,
            "window_resets": self.resets,
            "seconds": elapsed,
            "frames_per_second": self.source.read / elapsed if elapsed > 0 else 0.0,
            "latency_ms": {
                stage: {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90)), "count": len(v)}
                for stage, v in self.stage_ms.items()
                if v
            },
        }


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)


def _jumped(old: Box, new: Box) -> bool:
    """A new box whose centre moved by more than half the old box's width: another person, not the same face."""
    ox, oy = old[0] + old[2] / 2, old[1] + old[3] / 2
    nx, ny = new[0] + new[2] / 2, new[1] + new[3] / 2
    return max(abs(nx - ox), abs(ny - oy)) > old[2] / 2


def _timed(frames: Iterator[Frame], samples: deque[float]) -> Iterator[Frame]:
    """The source's frames, with the time spent waiting for each one; the source is closed (camera released)
    when iteration stops for any reason."""
    with contextlib.closing(frames):
        while True:
            waited = time.perf_counter_ns()
            frame = next(frames, None)
            if frame is None:
                return
            samples.append((time.perf_counter_ns() - waited) / 1e6)
            yield frame


@dataclass(frozen=True)
class Step:
    """One frame through the runtime: the face box used (if any) and the prediction (if the window was full)."""

    frame: Frame
    box: Box | None
    prediction: Prediction | None


def predictions(config: RunConfig, stats: RunStats | None = None) -> Iterator[Prediction]:
    """Iterate predictions from config.source; stats (if given) is filled as frames go by."""
    for step in steps(config, stats):
        if step.prediction is not None:
            yield step.prediction


def steps(config: RunConfig, stats: RunStats | None = None) -> Iterator[Step]:
    """Every frame of config.source with its face box and prediction (for overlays); see `predictions`."""
    config.validate()
    stats = stats or RunStats()
    model = EmotionModel(
        config.bundle,
        config.format,
        config.precision,
        config.streaming,
        config.threads,
        verify=config.verify,
        tflite_backend=config.tflite_backend,
    )
    detector = FaceDetector(config.detect_width) if config.detect else None
    window = FaceWindow(model)
    box: Box | None = None
    missing, shape, smoothed = 0, None, None

    def reset() -> None:
        nonlocal smoothed
        if window.items:
            stats.resets += 1
        window.reset()
        smoothed = None

    source = open_source(config.source, stats.source, config.max_failures, config.reconnect, config.loop)
    last_time = None
    for frame in _timed(source, stats.stage_ms["read"]):
        gap = last_time is not None and not 0 <= frame.timestamp - last_time <= config.max_gap
        if frame.image.shape != shape or gap:  # another resolution, a pause or a jump back: a new stream
            reset()
            shape = frame.image.shape
        last_time = frame.timestamp
        t0 = time.perf_counter_ns()
        gray = to_gray(frame.image)
        if detector is not None and (box is None or frame.index % config.detect_every == 0):
            found = detector.largest_face(gray)
            if found is None:
                missing += 1
                if missing > config.lost_after:
                    reset()
                    box = None
                yield Step(frame, None, None)
                continue
            if box is not None and _jumped(box, found):
                reset()
            box, missing = found, 0
        t1 = time.perf_counter_ns()
        face = preprocess_frame(crop(gray, box, config.margin) if box is not None else gray)
        stats.faces += 1
        t2 = time.perf_counter_ns()
        probabilities = window.push(face)
        t3 = time.perf_counter_ns()
        latency = {"detect": (t1 - t0) / 1e6, "preprocess": (t2 - t1) / 1e6, "inference": (t3 - t2) / 1e6}
        for stage, value in latency.items():
            stats.stage_ms[stage].append(value)
        if probabilities is None:
            yield Step(frame, box, None)
            continue
        if not np.all(np.isfinite(probabilities)):
            label, confidence = "invalid", 0.0
        else:
            if config.smoothing:
                smoothed = (
                    probabilities
                    if smoothed is None
                    else config.smoothing * smoothed + (1 - config.smoothing) * probabilities
                )
                probabilities = smoothed
            best = int(np.argmax(probabilities))
            confidence = float(probabilities[best])
            label = model.classes[best] if confidence >= config.min_confidence else "uncertain"
        stats.predictions += 1
        prediction = Prediction(
            frame=frame.index,
            timestamp=round(frame.timestamp, 4),
            box=box,
            label=label,
            confidence=confidence,
            probabilities={c: float(p) for c, p in zip(model.classes, probabilities, strict=True)},
            latency_ms={k: round(v, 3) for k, v in latency.items()},
        )
        yield Step(frame, box, prediction)
