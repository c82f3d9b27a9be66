"""Calibrated int8 ranges, tightened where ELU makes them wasteful.

Calibration gives every tensor the int8 range of its minimum and maximum over the calibration data. A conv's
output (batch norm folded in) feeds an ELU, which the converter leaves in float between a DEQUANTIZE and a
QUANTIZE, so the conv output is the int8 tensor. It reaches far below zero (to -40 in the first layer of the
2026-12-01 default), yet ELU maps everything under -3 to within 0.05 of its floor, -1. Those values only
stretch the range: 256 steps over [-40, 33] are 0.29 apart, over [-3, 33] 0.14. Raising the bottom of such a
range to -floor saturates them instead. `benchmarks/elu_floor.py` chose 3 among 2-6 on training stills
(docs/wild.md). Maxima are left alone: the encoder ends in a global max pool, whose features are those very
maxima.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

ELU_FLOOR = 3.0  # benchmarks/elu_floor.py: 2 distorts (ELU(-2) = -0.86), 3 followed float best on training stills


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
