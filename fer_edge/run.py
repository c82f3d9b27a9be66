"""The runtime loop: frames -> faces -> one 3-frame window per tracked face -> emotion, with per-stage timings.

A video or camera keeps a rolling window per face; an image source (one image, a folder, a glob) answers every
face of every image on its own, from a static sequence (the face repeated). No TensorFlow.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from fer_edge.backends import TFLITE_BACKENDS
from fer_edge.boxes import Box, Detection
from fer_edge.buffer import FaceWindow, predict_still
from fer_edge.detect import (
    DETECTORS,
    CropRule,
    Detector,
    crop_rule,
    face_crop,
    fills_picture,
    open_detector,
)
from fer_edge.errors import UsageError
from fer_edge.model import EmotionModel
from fer_edge.preprocess import preprocess_frame, to_gray
from fer_edge.sources import Frame, SourceStats, is_image_source, open_source
from fer_edge.tracking import LOST_AFTER, Tracker

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
    detector: str = "blazeface"  # fer_edge.detect.DETECTORS
    max_faces: int = 4  # the largest faces of a frame, each with its own window
    detect_every: int = 1  # run the detector every N frames, carry the boxes in between
    images: str = "stills"  # an image source: "stills" (each image on its own) or "sequence" (frames of one clip)
    margin: float | None = None  # grow the face box by this share per side; None: the detector's CROP_RULES
    level: bool | None = None  # turn each face so its eyes are level (BlazeFace); None: the detector's CROP_RULES
    lift: float | None = None  # move the face box up by this share of its height; None: the detector's CROP_RULES
    lost_after: int = LOST_AFTER  # detections without a face before its window (and id) ends
    smoothing: float = 0.0  # exponential moving average weight of the past; 0 = off
    min_confidence: float = 0.0  # below this the label is "uncertain"
    max_failures: int = 10  # failed camera reads in a row before giving up (or reconnecting)
    max_gap: float = 1.0  # seconds between frames beyond which the window resets (not one moment of one face)
    loop: bool = False  # a video source starts again at its end (demos, soak tests)
    reconnect: bool = False  # reopen a camera that fails, with back-off, instead of stopping

    @property
    def crop_rule(self) -> CropRule:
        return crop_rule(self.detector, self.margin, self.level, self.lift)

    def validate(self) -> None:
        if self.detect_every < 1 or self.lost_after < 0 or self.max_failures < 1 or self.max_gap <= 0:
            raise UsageError(
                "--detect-every and --max-failures must be at least 1, --lost-after at least 0, --max-gap above 0"
            )
        if not 0 <= self.smoothing < 1 or not 0 <= self.min_confidence <= 1:
            raise UsageError("--smoothing must be in [0, 1) and --min-confidence in [0, 1]")
        if self.tflite_backend is not None and self.tflite_backend not in TFLITE_BACKENDS:
            raise UsageError(f"--tflite-backend takes {', '.join(TFLITE_BACKENDS)}, got {self.tflite_backend!r}")
        if self.detector not in DETECTORS:
            raise UsageError(f"--detector takes {', '.join(DETECTORS)}, got {self.detector!r}")
        crop_rule(self.detector, self.margin, self.level, self.lift)  # refuses a --margin or --lift out of range
        if self.max_faces < 1:
            raise UsageError(f"--max-faces must be at least 1, got {self.max_faces}")
        if self.images not in ("stills", "sequence"):
            raise UsageError(f"--images takes stills or sequence, got {self.images!r}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {self.threads}")


@dataclass(frozen=True)
class Face:
    """One face in one frame or image: the result type of `Recognizer` and the JSON line of `fer-edge run`.

    kind: "window" (the last 3 frames of a tracked face), "still" (one image's face on its own) or "none" (a frame
    or image without a face: id and box are None, label "none", probabilities empty), so that faceless frames
    can be counted in JSON lines.
    """

    id: int | None  # a tracked face's id (stable across frames), or the face's rank in a still image
    kind: str
    label: str  # a class name, "uncertain" below min_confidence, "invalid" for NaN/Inf outputs, "none": no face
    confidence: float
    box: Box | None  # (x, y, w, h) in frame pixels; None without a detector
    probabilities: dict[str, float]
    frame: int
    timestamp: float
    image: str | None  # the file name, for image sources
    latency_ms: dict[str, float]

    def to_dict(self) -> dict:
        return dict(vars(self))  # every field, in order; shallow (asdict's deep copy costs a camera frame rate)


def no_face(frame: Frame, detect_ms: float) -> Face:
    """The record of a frame or image in which the detector found no face."""
    return Face(
        id=None,
        kind="none",
        label="none",
        confidence=0.0,
        box=None,
        probabilities={},
        frame=frame.index,
        timestamp=round(frame.timestamp, 4),
        image=frame.name or None,
        latency_ms={"detect": round(detect_ms, 3)},
    )


@dataclass
class RunStats:
    source: SourceStats = field(default_factory=SourceStats)
    faces: int = 0  # face crops run through the model
    tracked: int = 0  # distinct face ids (a video or camera) or faces (stills)
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
            "faces_tracked": self.tracked,
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
class FaceStep:
    face: int  # the face's id
    box: Box | None
    prediction: Face | None  # None until the face's window is full


@dataclass(frozen=True)
class Step:
    """One frame through the runtime: every face used (box, id) and its prediction, if any."""

    frame: Frame
    faces: tuple[FaceStep, ...]
    detect_ms: float = 0.0

    @property
    def predictions(self) -> list[Face]:
        return [f.prediction for f in self.faces if f.prediction is not None]

    def records(self) -> list[Face]:
        """What `fer-edge run` writes for this frame: its predictions, or one "none" record without a face."""
        return self.predictions if self.faces else [no_face(self.frame, self.detect_ms)]


@dataclass
class FaceState:
    window: FaceWindow
    smoothed: np.ndarray | None = None
    last_frame: int = 0  # the stream's frame in which this face was last seen


def load_model(config: RunConfig) -> EmotionModel:
    return EmotionModel(
        config.bundle,
        config.format,
        config.precision,
        config.streaming,
        config.threads,
        verify=config.verify,
        tflite_backend=config.tflite_backend,
    )


def load_detector(config: RunConfig) -> Detector | None:
    """The face detector, on the model's threads and TFLite backend; None with detect off."""
    if not config.detect:
        return None
    return open_detector(config.detector, threads=config.threads, tflite_backend=config.tflite_backend)


def predictions(config: RunConfig, stats: RunStats | None = None) -> Iterator[Face]:
    """Iterate predictions from config.source; stats (if given) is filled as frames go by."""
    for step in steps(config, stats):
        yield from step.predictions


def steps(config: RunConfig, stats: RunStats | None = None) -> Iterator[Step]:
    """Every frame of config.source with its faces and predictions (for overlays); see `predictions`."""
    config.validate()
    stats = stats or RunStats()
    model, detector = load_model(config), load_detector(config)
    source = open_source(config.source, stats.source, config.max_failures, config.reconnect, config.loop)
    stills = config.images == "stills" and is_image_source(config.source)
    yield from process(source, config, model, detector, stills, stats)


def process(
    source: Iterator[Frame],
    config: RunConfig,
    model: EmotionModel,
    detector: Detector | None,
    stills: bool,
    stats: RunStats,
) -> Iterator[Step]:
    """The runtime loop over frames. stills: every frame is an image on its own (each face answered from a static
    window); else the frames are one stream, each tracked face with its rolling window."""
    tracker = Tracker(lost_after=config.lost_after)
    carried: dict[int, Detection] = {}  # the last detection of each live face, used between detections
    rule = config.crop_rule
    faces: dict[int, FaceState] = {}

    def end(ids: list[int]) -> None:
        for face in ids:
            if faces.pop(face).window.items:
                stats.resets += 1

    def label(probabilities: np.ndarray, state: FaceState | None) -> tuple[np.ndarray, str, float]:
        if not np.all(np.isfinite(probabilities)):
            return probabilities, "invalid", 0.0
        if config.smoothing and state is not None:
            if state.smoothed is not None:
                probabilities = config.smoothing * state.smoothed + (1 - config.smoothing) * probabilities
            state.smoothed = probabilities
        best = int(np.argmax(probabilities))
        confidence = float(probabilities[best])
        return probabilities, model.classes[best] if confidence >= config.min_confidence else "uncertain", confidence

    last_time, shape = None, None
    for frame in _timed(source, stats.stage_ms["read"]):
        gap = last_time is not None and not 0 <= frame.timestamp - last_time <= config.max_gap
        if not stills and (frame.image.shape != shape or gap):  # another size, a pause or a jump back: new stream
            tracker.clear()
            end(list(faces))  # every face's window, the tracked ones and the --no-detect one
            shape = frame.image.shape
        last_time = frame.timestamp
        t0 = time.perf_counter_ns()
        gray = to_gray(frame.image)
        if detector is None:
            found: list[Detection | None] = [None]
            ids = [1]
        elif stills or not tracker.live() or frame.index % config.detect_every == 0:
            found = detector.detect(frame.image)[: config.max_faces]  # colour: BlazeFace loses gray faces
            if stills:
                ids = list(range(1, len(found) + 1))
            else:
                seen, ended = tracker.update([d.box for d in found])
                end(ended)
                ids = [t.id for t in seen]
                carried = dict(zip(ids, found, strict=True))
        else:  # between detections: the faces found last time, where they were
            live = tracker.live()
            ids = [t.id for t in live]
            found = [carried[i] for i in ids]
        t1 = time.perf_counter_ns()
        stats.stage_ms["detect"].append((t1 - t0) / 1e6)
        done = []
        for face, detection in zip(ids, found, strict=True):
            t2 = time.perf_counter_ns()
            box = detection.box if detection is not None else None
            # an image that is one face filling the picture is a face crop already: used whole, as eval does
            whole = detection is None or (stills and len(found) == 1 and fills_picture(detection, gray.shape))
            crop_ = preprocess_frame(gray if whole else face_crop(gray, detection, rule))
            t3 = time.perf_counter_ns()
            state = None
            if stills:
                probabilities = predict_still(model, crop_)
                stats.tracked += 1
            else:
                if face not in faces:
                    faces[face] = FaceState(FaceWindow(model), last_frame=frame.index)
                    stats.tracked += 1
                state = faces[face]
                # a face missed for a whole window's span keeps its id, but its old crops are another moment
                if frame.index - state.last_frame >= model.sequence_length and state.window.items:
                    state.window.reset()
                    state.smoothed = None
                    stats.resets += 1
                state.last_frame = frame.index
                probabilities = state.window.push(crop_)
            t4 = time.perf_counter_ns()
            stats.faces += 1
            latency = {"detect": (t1 - t0) / 1e6, "preprocess": (t3 - t2) / 1e6, "inference": (t4 - t3) / 1e6}
            stats.stage_ms["preprocess"].append(latency["preprocess"])
            stats.stage_ms["inference"].append(latency["inference"])
            if probabilities is None:
                done.append(FaceStep(face, box, None))
                continue
            probabilities, name, confidence = label(probabilities, state)
            stats.predictions += 1
            prediction = Face(
                id=face,
                kind="still" if stills else "window",
                label=name,
                confidence=confidence,
                box=box,
                probabilities={c: float(p) for c, p in zip(model.classes, probabilities, strict=True)},
                frame=frame.index,
                timestamp=round(frame.timestamp, 4),
                image=frame.name or None,
                latency_ms={k: round(v, 3) for k, v in latency.items()},
            )
            done.append(FaceStep(face, box, prediction))
        yield Step(frame, tuple(done), (t1 - t0) / 1e6)
