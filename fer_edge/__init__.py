"""fer-edge: facial emotion recognition on small devices.

This package is the lightweight part (numpy, OpenCV, model runtimes); the TensorFlow parts live in
`fer_edge.train` and `fer_edge.export` and are imported only by the commands that need them.
"""

from fer_edge.dataset import ALL_CLASSES, DEFAULT_CLASSES, Sequences, load_sequences
from fer_edge.errors import FerEdgeError
from fer_edge.preprocess import SPEC, PreprocessSpec, preprocess_frame

__version__ = "0.1.0"

__all__ = [
    "ALL_CLASSES",
    "DEFAULT_CLASSES",
    "SPEC",
    "FerEdgeError",
    "PreprocessSpec",
    "Sequences",
    "load_sequences",
    "preprocess_frame",
]
