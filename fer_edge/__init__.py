"""fer-edge: facial emotion recognition on small devices.

    from fer_edge import Recognizer
    faces = Recognizer().analyze("photo.jpg")   # [Face(id=1, label='happy', confidence=0.97, box=(...)), ...]

This package is the lightweight runtime (numpy, OpenCV, a TFLite interpreter); the TensorFlow wings live in
`fer_edge.train` and `fer_edge.export` and are imported only by the commands that need them.
"""

import importlib.metadata

from fer_edge.errors import FerEdgeError
from fer_edge.preprocess import preprocess_frame
from fer_edge.recognizer import Recognizer
from fer_edge.run import Face

try:
    __version__ = importlib.metadata.version("fer-edge")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Face", "FerEdgeError", "Recognizer", "__version__", "preprocess_frame"]
