"""Calibrated int8 ranges, tightened where ELU makes them wasteful.

Calibration gives every tensor the int8 range of its minimum and maximum over the calibration data. A conv's
output (batch norm folded in) feeds an ELU, which the converter leaves in float between a DEQUANTIZE and a
QUANTIZE, so the conv output is the int8 tensor. It reaches far below zero (to -40 in the first layer of the
2026-12-01 default), yet ELU maps everything under -3 to within 0.05 of its floor, -1. Those values only
stretch the range: 256 steps over [-40, 33] are 0.29 apart, over [-3, 33] 0.14. Raising the bottom of such a
range to -floor saturates them instead. `benchmarks/elu_floor.py` chose 3 among 2-6 on training stills
(docs/wild.md).

The tops are the calibration sample's largest values. Clipping them all at a percentile made int8 worse (the encoder
ends in a global max pool, whose features are those very maxima), so `search_tops` lowers them one tensor at a time
and keeps a change only when it brings the int8 model closer to float on other training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

ELU_FLOOR = 3.0  # benchmarks/elu_floor.py: 2 distorts (ELU(-2) = -0.86), 3 followed float best on training stills
TOP_FACTORS = (0.9, 0.8, 0.7, 0.6, 0.5)  # tried on each top by search_tops


def floor_elu_inputs(calibrated: bytes, floor: float) -> bytes:
    """A calibrated (not yet quantized) TFLite model with each ELU input's range starting at -floor or above.

    Only tensors that feed nothing but the ELU change, so no other op sees clipped values.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    for graph in model.subgraphs:
        readers = Counter(index for op in graph.operators for index in op.inputs)
        for op in graph.operators:
            if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) != "ELU" or readers[op.inputs[0]] != 1:
                continue
            stats = graph.tensors[op.inputs[0]].quantization
            if stats is None or stats.min is None or len(stats.min) == 0:
                continue
            stats.min = np.minimum(np.maximum(stats.min, -floor), stats.max).astype(np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def elu_tensors(calibrated: bytes) -> list[str]:
    """Names of every ELU's input (where the ELU is its sole reader) and output, in graph order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    names = []
    for graph in model.subgraphs:
        readers = Counter(index for op in graph.operators for index in op.inputs)
        for op in graph.operators:
            if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) == "ELU":
                tensors = ([op.inputs[0]] if readers[op.inputs[0]] == 1 else []) + [op.outputs[0]]
                names += [graph.tensors[t].name.decode() for t in tensors]
    return names


def scale_tops(calibrated: bytes, factors: dict[str, float]) -> bytes:
    """A calibrated model with the top of each named tensor's range times its factor (never below its bottom)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            factor = factors.get(tensor.name.decode())
            if factor is not None and tensor.quantization is not None and tensor.quantization.max is not None:
                stats = tensor.quantization
                stats.max = np.maximum(stats.max * factor, stats.min).astype(np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def search_tops(
    calibrated: bytes, score: Callable[[bytes], float], log: Callable[[str], None] = print
) -> tuple[bytes, dict[str, float]]:
    """Coordinate search over the ELU tensors' tops: each tensor in graph order, each of TOP_FACTORS, a change kept
    when score (of the calibrated model; higher is closer to float) rises. Returns the model and the factors kept."""
    names = elu_tensors(calibrated)
    factors: dict[str, float] = {}
    best = start = score(calibrated)
    for name in names:
        for factor in TOP_FACTORS:
            trial = {**factors, name: factor}
            value = score(scale_tops(calibrated, trial))
            if value > best:
                best, factors = value, trial
    log(f"  int8 range tops: {len(factors)} of {len(names)} ELU tensors lowered, score {start:.4f} -> {best:.4f}")
    return scale_tops(calibrated, factors), factors
