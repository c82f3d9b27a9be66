"""Stop requests (Ctrl-C, `kill`): unwind like KeyboardInterrupt so that temporary files are removed.

TensorFlow's C++ layer can swallow an exception raised while it is calling back into Python, so a signal handler's
KeyboardInterrupt alone may get lost (measured: about one `kill` in five during model building). The request is
therefore also remembered, and `check()` raises it again at safe points: between training batches and before a
temporary folder is renamed into place.
"""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()


def _on_signal(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install() -> None:
    """Make SIGINT and SIGTERM stop the process through KeyboardInterrupt; call once, from the main thread."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _on_signal)


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was requested, even if the first one was swallowed on its way up."""
    if _requested.is_set():
        raise KeyboardInterrupt
