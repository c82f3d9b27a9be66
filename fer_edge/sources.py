"""Frames in: a Raspberry Pi camera, an OpenCV camera index, a video file, an image, or a folder/glob of images.

Every source is a generator of `Frame`s that releases its device in `finally`, so a run that stops early
(end of input, an error, Ctrl-C) never leaves a camera open.
"""

from __future__ import annotations

import glob
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer_edge.dataset import IMAGE_SUFFIXES, is_image_file
from fer_edge.errors import CameraError, DatasetError, InputSpecError, MissingExtraError

LOG = logging.getLogger("fer_edge")
READ_TIMEOUT = 5.0  # seconds a camera may take for one frame before it counts as gone


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # (H, W) grayscale or (H, W, 3) BGR, uint8
    index: int
    timestamp: float  # seconds: position in a video, or time since the source opened
    name: str = ""


@dataclass
class SourceStats:
    read: int = 0
    dropped: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable images of a folder source
    reconnects: int = 0


def open_source(
    spec: str, stats: SourceStats, max_failures: int = 10, reconnect: bool = False, loop: bool = False
) -> Iterator[Frame]:
    """spec: 'picamera', a camera index ('0'), a video file, an image file, a folder, or a glob pattern.

    reconnect: a camera that fails to open or stops delivering frames is reopened with back-off, forever.
    loop: a video file starts again at its end, forever (frame indices keep counting).
    """
    if spec == "picamera":
        return picamera_frames(stats)
    if spec.isdigit():
        if reconnect:
            return reconnecting(lambda: capture_frames(int(spec), stats, max_failures, camera=True), stats)
        return capture_frames(int(spec), stats, max_failures, camera=True)
    path = Path(spec)
    if path.is_dir():
        images = sorted(filter(is_image_file, path.iterdir()))
        if not images and any(sub.is_dir() and any(map(is_image_file, sub.iterdir())) for sub in path.iterdir()):
            raise InputSpecError(
                f"{spec} holds images only in its subfolders; give '{Path(spec) / '*' / '*'}' for all of them, "
                "or one subfolder"
            )
        return image_frames(images, stats, source=spec)
    if is_glob(spec):
        return image_frames([Path(p) for p in sorted(glob.glob(spec)) if is_image_file(Path(p))], stats, source=spec)
    if not path.exists():
        raise InputSpecError(
            f"source {spec} does not exist; give a camera index, 'picamera', a video, an image or a folder"
        )
    if is_image_file(path):
        return image_frames([path], stats, strict=True)
    if loop:
        return looping(lambda: capture_frames(str(path), stats, max_failures, camera=False))
    return capture_frames(str(path), stats, max_failures, camera=False)


def is_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def is_image_source(spec: str) -> bool:
    """A folder, a glob or an image file: frames that need not come from one moment of one face."""
    return Path(spec).is_dir() or is_glob(spec) or is_image_file(Path(spec))


def is_one_image(spec: str) -> bool:
    """An image file's name (whether or not it exists): a source of exactly one photo."""
    return is_image_file(Path(spec)) and not is_glob(spec) and not Path(spec).is_dir()


def looping(open_frames: Callable[[], Iterator[Frame]]) -> Iterator[Frame]:
    """A video again and again; the timestamp jumps back at each start, which resets the runtime's window."""
    index = 0
    while True:
        for frame in open_frames():
            yield Frame(frame.image, index, frame.timestamp, frame.name)
            index += 1


def image_frames(
    paths: list[Path], stats: SourceStats, strict: bool = False, source: str = "the image source"
) -> Iterator[Frame]:
    if not paths:
        raise InputSpecError(f"{source}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) to read")
    started = time.monotonic()
    for index, path in enumerate(paths):
        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if path.stat().st_size else None
        if image is None:
            if strict:
                raise DatasetError(f"image {path} is empty, corrupt or not an image")
            stats.skipped.append(str(path))
            continue
        stats.read += 1
        yield Frame(image, index, time.monotonic() - started, path.name)


def read_within(capture: cv2.VideoCapture, seconds: float, what: str) -> tuple[bool, np.ndarray | None]:
    """capture.read(), but a camera that stops answering (unplugged USB, a stalled driver) raises CameraError
    after `seconds` instead of blocking forever: the read runs in a daemon thread that is abandoned."""
    result: list = []
    reader = threading.Thread(target=lambda: result.append(capture.read()), daemon=True)
    reader.start()
    reader.join(seconds)
    if not result:
        raise CameraError(f"{what} gave no frame for {seconds:g} s; is it still connected?")
    return result[0]


def capture_frames(
    target: int | str, stats: SourceStats, max_failures: int, camera: bool, read_timeout: float = READ_TIMEOUT
) -> Iterator[Frame]:
    capture = cv2.VideoCapture(target)
    what = f"camera {target}" if camera else f"video {target}"
    try:
        if not capture.isOpened():
            hint = (
                "check that it is connected and not in use, or give a photo, video or folder as the source"
                if camera
                else "is it a video file OpenCV can decode?"
            )
            raise CameraError(f"cannot open {what}; {hint}")
        started, index, failures = time.monotonic(), 0, 0
        while True:
            ok, image = read_within(capture, read_timeout, what) if camera else capture.read()
            if not ok or image is None:
                if not camera:
                    if stats.read == 0:
                        raise CameraError(f"{what} has no readable frames; is it corrupt?")
                    return  # end of the video
                failures += 1
                stats.dropped += 1
                if failures >= max_failures:
                    raise CameraError(f"{what} stopped delivering frames ({failures} failed reads in a row)")
                continue
            failures = 0
            stats.read += 1
            position = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000 if not camera else time.monotonic() - started
            yield Frame(image, index, position)
            index += 1
    finally:
        capture.release()


def reconnecting(
    open_frames: Callable[[], Iterator[Frame]], stats: SourceStats, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Frame]:
    """Frames of a camera that is reopened after each CameraError, waiting 0.5 s, 1 s, 2 s ... up to 30 s
    (the wait starts again at 0.5 s once frames flow); frame indices keep counting across reconnects."""
    delay, index = 0.5, 0
    while True:
        try:
            for frame in open_frames():
                delay = 0.5
                yield Frame(frame.image, index, frame.timestamp, frame.name)
                index += 1
        except CameraError as error:
            stats.reconnects += 1
            LOG.warning("%s; reconnecting in %.1f s", error, delay)
            sleep(delay)
            delay = min(30.0, delay * 2)
            continue
        return  # the camera ended its stream by itself


def picamera_frames(stats: SourceStats, size: tuple[int, int] = (640, 480)) -> Iterator[Frame]:
    """The Pi camera's YUV420 stream: its Y plane is the grayscale image, cropped of the stride padding."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise MissingExtraError(
            "picamera2 is not installed; on Raspberry Pi OS: sudo apt install python3-picamera2, and create the "
            "venv with --system-site-packages"
        ) from None
    try:
        camera = Picamera2()
        camera.configure(camera.create_video_configuration(main={"size": size, "format": "YUV420"}))
        camera.start()
    except Exception as error:  # picamera2 raises plain exceptions (RuntimeError, IndexError) for no camera
        raise CameraError(f"cannot open the Raspberry Pi camera: {error}") from None
    try:
        started, index = time.monotonic(), 0
        width, height = size
        while True:
            buffer = camera.capture_array("main")
            stats.read += 1
            yield Frame(np.ascontiguousarray(buffer[:height, :width]), index, time.monotonic() - started)
            index += 1
    finally:
        camera.stop()
        camera.close()
