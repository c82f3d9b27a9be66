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
and keeps a change only when it brings the int8 model closer to float on other training data. It searches the
streaming encoder; the factors, keyed by layer, apply as well to the whole-window model's copies of it.

ONNX int8 files get the same two edits (`onnx_elu_overrides`): onnxruntime calibrates, and the edited ranges go back
to its quantizer as per-tensor overrides.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator

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


def elu_layer(output_name: str) -> str:
    """The Keras layer an ELU output belongs to: the same in the streaming encoder and in each of the whole-window
    model's unrolled copies ('encoder_1/elu3_1/Elu' and 'cnn_bilstm_w0.5_1/per_frame_cnn_1/elu3_5/Elu' are 'elu3')."""
    parts = output_name.split("/")
    return re.sub(r"_\d+$", "", parts[-2] if len(parts) > 1 else output_name)


def elu_sites(model) -> Iterator[tuple[str, object]]:
    """(key, tensor) for every ELU's input (where the ELU is its sole reader) and output, in graph order; the key
    is '<layer>:in' or '<layer>:out', shared by the copies of one layer."""
    from tensorflow.lite.tools import flatbuffer_utils

    for graph in model.subgraphs:
        readers = Counter(index for op in graph.operators for index in op.inputs)
        for op in graph.operators:
            if flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) != "ELU":
                continue
            layer = elu_layer(graph.tensors[op.outputs[0]].name.decode())
            if readers[op.inputs[0]] == 1:
                yield f"{layer}:in", graph.tensors[op.inputs[0]]
            yield f"{layer}:out", graph.tensors[op.outputs[0]]


def elu_keys(calibrated: bytes) -> list[str]:
    """The keys of elu_sites, each once, in graph order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    return list(dict.fromkeys(key for key, _ in elu_sites(model)))


def scale_tops(calibrated: bytes, factors: dict[str, float]) -> bytes:
    """A calibrated model with the top of each ELU tensor's range times its key's factor (never below its bottom).

    Keys name layers, so factors searched on the streaming encoder apply to all 3 copies in the whole-window model.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    for key, tensor in elu_sites(model):
        factor = factors.get(key)
        if factor is not None and tensor.quantization is not None and tensor.quantization.max is not None:
            stats = tensor.quantization
            stats.max = np.maximum(stats.max * factor, stats.min).astype(np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def search_tops(
    calibrated: bytes, score: Callable[[bytes], float], log: Callable[[str], None] = print
) -> tuple[bytes, dict[str, float]]:
    """Coordinate search over the ELU tensors' tops: each tensor in graph order, each of TOP_FACTORS, a change kept
    when score (of the calibrated model; higher is closer to float) rises. Returns the model and the factors kept."""
    keys = elu_keys(calibrated)
    factors: dict[str, float] = {}
    best = start = score(calibrated)
    for key in keys:
        for factor in TOP_FACTORS:
            trial = {**factors, key: factor}
            value = score(scale_tops(calibrated, trial))
            if value > best:
                best, factors = value, trial
    log(f"  int8 range tops: {len(factors)} of {len(keys)} ELU tensors lowered, score {start:.4f} -> {best:.4f}")
    return scale_tops(calibrated, factors), factors


def onnx_elu_overrides(
    model, ranges, floor: float | None = ELU_FLOOR, tops: dict[str, float] | None = None
) -> dict[str, list[dict]]:
    """onnxruntime `TensorQuantOverrides` giving an ONNX model's ELU tensors the TFLite files' ranges: each ELU input
    (where the ELU is its sole reader) starts at -floor or above, and each top is times its key's factor in tops.

    model: the onnx.ModelProto quantize_static quantizes (after quant_pre_process, which fuses batch norm into the
    conv, so an ELU's input is its conv's output); ranges: onnxruntime's calibrated TensorsData for it.
    """
    readers = Counter(name for node in model.graph.node for name in node.input)
    overrides: dict[str, list[dict]] = {}
    for node in model.graph.node:
        if node.op_type != "Elu":
            continue
        layer = elu_layer(node.output[0])
        sites = [(f"{layer}:out", node.output[0], None)]
        if readers[node.input[0]] == 1:
            sites.insert(0, (f"{layer}:in", node.input[0], floor))
        for key, name, site_floor in sites:
            if name not in ranges:
                continue
            low, high = (np.float32(value) for value in ranges[name].range_value)
            if site_floor is not None:
                low = min(max(low, np.float32(-site_floor)), high)
            high = max(high * np.float32((tops or {}).get(key, 1.0)), low)
            overrides[name] = [{"rmin": np.float32(low), "rmax": np.float32(high)}]
    return overrides
