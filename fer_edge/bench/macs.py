"""Multiply-accumulates of a TFLite model, counted from its own graph (works for any width, without TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def count_macs(path: Path) -> int:
    """Sum over CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL ops; for one batch item."""
    from fer_edge.backends import tflite_interpreter_class

    interpreter = tflite_interpreter_class()(model_path=str(path))
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():  # the only op-level view the Python interpreter offers
        name, inputs, outputs = op["op_name"], op["inputs"], op["outputs"]
        out = int(np.prod(shapes[outputs[0]]))
        if name == "CONV_2D":  # filter: (out_ch, kh, kw, in_ch)
            total += out * int(np.prod(shapes[inputs[1]][1:]))
        elif name == "DEPTHWISE_CONV_2D":  # filter: (1, kh, kw, ch)
            total += out * int(np.prod(shapes[inputs[1]][1:3]))
        elif name == "FULLY_CONNECTED":  # weights: (units, in)
            total += out * shapes[inputs[1]][-1]
        elif name == "BATCH_MATMUL":
            total += out * shapes[inputs[0]][-1]
    return total
