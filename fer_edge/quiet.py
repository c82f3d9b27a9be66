"""Silence what native runtimes print to the C-level stderr, unless debugging.

OpenCV and its FFmpeg backend log warnings for a missing camera or a damaged video ("[ WARN:0@0.1]
global cap_v4l.cpp ...", "[mjpeg @ 0x...] overread"); the runtime reports those cases in one line of its own, so
`quiet_native_logs` turns theirs off.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on file descriptor 2 when an
interpreter allocates its tensors (it applies its default delegates then). Python's `sys.stderr` cannot catch
it, so `native_stderr_silenced` points descriptor 2 at /dev/null for the few calls that print it; TensorFlow's
start-up lines are silenced alike (`import_tensorflow`). The CLI's `--debug` (via `set_debug`) or FER_EDGE_DEBUG=1
keeps them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")  # what typer accepts for FER_EDGE_DEBUG
_debug = False


# OpenCV's own log and its FFmpeg backend's (AV_LOG_QUIET); a user's own setting wins
QUIET_VARIABLES = {"OPENCV_LOG_LEVEL": "OFF", "OPENCV_FFMPEG_LOGLEVEL": "-8", "OPENCV_VIDEOIO_DEBUG": "0"}


def quiet_native_logs() -> None:
    """Turn OpenCV's and FFmpeg's native logs off (FFmpeg's variable is read when a video is first opened)."""
    for name, value in QUIET_VARIABLES.items():
        os.environ.setdefault(name, value)
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and os.environ["OPENCV_LOG_LEVEL"] == "OFF":
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)


def set_debug(on: bool) -> None:
    global _debug
    _debug = on


def debugging() -> bool:
    return _debug or os.environ.get("FER_EDGE_DEBUG", "").strip().lower() in TRUE_WORDS


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Descriptor 2 goes to /dev/null inside the block (for the whole process: keep the block short)."""
    if debugging():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import TensorFlow (and Keras) once, with the lines its native code prints at start-up on descriptor 2
    ("oneDNN custom operations are on", absl's "All log messages before absl::InitializeLog()") silenced, and its
    Python warnings for developers (a tf.function traced again) off unless debugging."""
    with native_stderr_silenced():
        import keras  # noqa: F401
        import tensorflow
    if not debugging():
        tensorflow.get_logger().setLevel(logging.ERROR)
