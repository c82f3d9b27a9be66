"""`Recognizer`: the Python API. A photo or an array in, labelled faces out; a camera or a video, faces per frame.

    from fer_edge import Recognizer
    recognizer = Recognizer()                     # the shipped model and BlazeFace
    faces = recognizer.analyze("photo.jpg")       # a path, or a BGR (rgb=True: RGB) or gray uint8 array
    for face in faces:
        print(face.id, face.label, face.confidence, face.box)
    drawn = recognizer.draw("photo.jpg", faces)   # boxes, labels and bars on a BGR copy
    for faces in recognizer.stream(0):            # a camera index, a video, "picamera", a folder: a list per frame
        ...

The two modes differ as a photo differs from a video: `analyze` answers each face of one image on its own (a
static window, the face repeated), `stream` keeps a rolling 3-frame window per tracked face, so a face is
answered from its third frame on. `fer-edge run` and `fer-edge serve` are this class with words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fer_edge.default_model import resolve_bundle
from fer_edge.errors import InputSpecError, UsageError
from fer_edge.overlay import draw
from fer_edge.run import Face, FaceStep, RunConfig, RunStats, Step, load_detector, load_model, process
from fer_edge.sources import Frame, image_frames, is_image_source, open_source

# What a Recognizer takes besides the model: every RunConfig field that is about the model, detector or tracking
OPTIONS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in ("source", "bundle"))


class Recognizer:
    """A model and a face detector, loaded once.

    model: "default" (the model shipped in the package), a bundle folder from `fer-edge export`, or a bare
    .tflite/.onnx file. detector: "blazeface" (faces within about 2 m), "blazeface-full" (farther) or "haar".
    threads: inference threads for the model and the detector (None: the runtime's default).
    options: any other field of `fer_edge.run.RunConfig` (format, precision, max_faces, min_confidence,
    smoothing, lost_after, margin, ...).
    """

    def __init__(
        self,
        model: str | Path = "default",
        detector: str = "blazeface",
        threads: int | None = None,
        **options,
    ):
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UsageError(f"Recognizer got unknown options {', '.join(unknown)}; it takes {', '.join(OPTIONS)}")
        bundle = resolve_bundle(model)
        self.config = RunConfig(source="", bundle=str(bundle), detector=detector, threads=threads, **options)
        self.config.validate()
        self.model = load_model(self.config)
        self.detector = load_detector(self.config)
        self._given = str(model)

    def __repr__(self) -> str:
        return f"Recognizer(model={self._given!r}, detector={self.config.detector!r}, classes={self.classes})"

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.classes

    def analyze(self, image: str | Path | np.ndarray, rgb: bool = False) -> list[Face]:
        """Every face of one image, each answered on its own; an empty list when there is no face.

        image: a path, or a uint8 array: (H, W) gray, (H, W, 3) BGR as OpenCV reads it (RGB with rgb=True), or
        (H, W, 4) BGRA/RGBA.
        """
        frames = (f for f in [as_frame(image, rgb)])  # a generator: the loop closes its source when done
        [step] = process(frames, self.config, self.model, self.detector, stills=True, stats=RunStats())
        return step.predictions

    def draw(self, image: str | Path | np.ndarray, faces: list[Face], rgb: bool = False) -> np.ndarray:
        """A BGR copy of the image with each face's box, id, label and probability bars, as `fer-edge run --out`
        draws them: `cv2.imwrite("annotated.jpg", recognizer.draw("photo.jpg", recognizer.analyze("photo.jpg")))`.
        """
        return draw(as_frame(image, rgb).image, [FaceStep(f.id, f.box, f) for f in faces if f.kind != "none"])

    def stream(self, source: str | int, stats: RunStats | None = None) -> Iterator[list[Face]]:
        """The faces answered in each frame of a camera index, "picamera", a video, a folder or a glob.

        A frame whose faces' windows are not full yet (the first two frames of a face) gives an empty list.
        """
        for step in self.steps(source, stats):
            yield step.predictions

    def steps(self, source: str | int, stats: RunStats | None = None) -> Iterator[Step]:
        """As `stream`, with each frame's image and every face's box (answered or not): what an overlay draws."""
        spec = str(source)
        stats = stats or RunStats()
        config = self.config
        frames = open_source(spec, stats.source, config.max_failures, config.reconnect, config.loop)
        stills = config.images == "stills" and is_image_source(spec)
        yield from process(frames, config, self.model, self.detector, stills, stats)


def as_frame(image: str | Path | np.ndarray, rgb: bool = False) -> Frame:
    """A path or a user's array as the runtime's frame."""
    if isinstance(image, str | Path):
        if not Path(image).is_file():
            raise InputSpecError(f"image {image} does not exist or is not a file")
        return next(image_frames([Path(image)], RunStats().source, strict=True))
    return Frame(as_bgr(image, rgb), 0, 0.0)


def as_bgr(image: np.ndarray, rgb: bool = False) -> np.ndarray:
    """A user's array as the runtime's frame: gray stays gray, colour becomes BGR; anything else is refused."""
    if not isinstance(image, np.ndarray):
        raise InputSpecError(f"expected an image path or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputSpecError(f"expected a uint8 image (0-255), got dtype {image.dtype}; convert it first")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 1:
        raise InputSpecError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if not rgb:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
