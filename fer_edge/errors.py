"""User-facing failures.

    FerEdgeError            one line for the user: what, where, and what to do
    ├── UsageError          bad arguments (exit code 2)
    ├── DatasetError        missing, empty or malformed dataset, unreadable image
    ├── ModelLoadError      missing, corrupt or unsupported model file
    ├── InputSpecError      frames or models of the wrong shape or dtype
    ├── CameraError         a camera that is absent or stops delivering frames
    └── CalibrationError    calibration data that cannot make a sound int8 model

Anything else that escapes is a bug and may show a traceback.
"""

from __future__ import annotations


class FerEdgeError(Exception):
    """A failure the user can act on; the CLI prints it as one line and exits 1."""

    exit_code = 1


class UsageError(FerEdgeError):
    exit_code = 2


class DatasetError(FerEdgeError):
    pass


class ModelLoadError(FerEdgeError):
    pass


class InputSpecError(FerEdgeError):
    pass


class CameraError(FerEdgeError):
    pass


class CalibrationError(FerEdgeError):
    pass


class MissingExtraError(FerEdgeError):
    """An optional dependency is not installed; the message is the pip line that installs it."""


def require(module: str, extra: str):
    """Import `module` or fail with the exact install line for the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{module} is not installed; install it with: pip install 'fer-edge[{extra}]'"
        ) from None
