"""Keras -> TFLite (float32, full int8) and Keras -> ONNX (float32, static QDQ int8) conversions.

Each converter takes a Keras model whose LSTMs, if any, are unrolled, and returns the file's bytes or
writes the file; nothing here decides which model gets converted.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fer_edge.export.ranges import ELU_FLOOR, floor_elu_inputs, onnx_elu_overrides
from fer_edge.quiet import debugging, native_stderr_silenced

ONNX_OPSET = 17


@contextlib.contextmanager
def converter_quiet() -> Iterator[None]:
    """The TFLite converter's chatter off: Keras prints every SavedModel it writes for it (a line per captured
    variable), the quantizer prints its settings on descriptor 2 and warns that int8 inputs have no statistics
    (they are calibrated). The export logs each file it writes instead. --debug keeps it all."""
    if debugging():
        yield
        return
    interactive = keras.utils.is_interactive_logging_enabled()
    keras.utils.disable_interactive_logging()
    try:
        with warnings.catch_warnings(), native_stderr_silenced():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            yield
    finally:
        if interactive:
            keras.utils.enable_interactive_logging()


def to_tflite(
    model: keras.Model, calibration: np.ndarray | None = None, int8_io: bool = True, elu_floor: float | None = ELU_FLOOR
) -> bytes:
    """Float32 when calibration is None; else int8 weights and activations, builtin ops (the converter keeps ELUs
    in float, between a DEQUANTIZE and a QUANTIZE).

    calibration: (N, *model input without batch) float32, fed one item at a time.
    elu_floor: the lowest value an ELU input's int8 range keeps (export.ranges); None keeps the calibrated one.
    """
    with converter_quiet():
        converted = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    if calibration is None:
        return converted
    return quantize_tflite(calibrate_tflite(converted, calibration, elu_floor), int8_io)


def calibrate_tflite(float_model: bytes, calibration: np.ndarray, elu_floor: float | None = ELU_FLOOR) -> bytes:
    """The float TFLite model with every tensor's range recorded on `calibration` but nothing quantized yet, and the
    ELU floor applied: export.ranges edits it, then quantize_tflite runs the converter's own quantizer.

    It is what TFLiteConverter's calibrate-only mode returns (tensors, ranges and the int8 model made from it are
    the same), taken from the float file already converted instead of converting the Keras model a second time,
    which is most of a conversion's time."""
    from tensorflow.lite.python.optimize import calibrator

    def representative() -> Iterator[list[np.ndarray]]:
        for item in calibration:
            yield [item[None].astype(np.float32)]

    with converter_quiet():
        calibrated = calibrator.Calibrator(calibrator.add_intermediate_tensors(float_model)).calibrate(representative)
    return calibrated if elu_floor is None else floor_elu_inputs(calibrated, elu_floor)


def quantize_tflite(calibrated: bytes, int8_io: bool = True) -> bytes:
    """The int8 model, with the arguments TFLiteConverter.convert() gives its quantizer (TF 2.21, pinned)."""
    from tensorflow.lite.python.convert import mlir_quantize

    io_type = tf.int8 if int8_io else tf.float32
    with converter_quiet():
        return mlir_quantize(calibrated, input_data_type=io_type, output_data_type=io_type)


def to_onnx(model: keras.Model, path: Path) -> None:
    """Float ONNX through tf2onnx, batch axis left dynamic."""
    import tf2onnx

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=model.inputs[0].name.split(":")[0])

    @tf.function(input_signature=[spec])
    def serve(x):
        return model(x, training=False)

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=[spec], opset=ONNX_OPSET)
    Path(path).write_bytes(proto.SerializeToString())


def quantize_onnx(
    float_path: Path,
    path: Path,
    calibration: np.ndarray,
    per_channel: bool = True,
    reduce_range: bool = True,
    elu_floor: float | None = ELU_FLOOR,
    tops: dict[str, float] | None = None,
) -> None:
    """Static QDQ quantization: signed int8 activations and int8 weights, from calibration data, with the TFLite
    files' ELU floor and range tops (export.ranges.onnx_elu_overrides; None and no tops: the calibrated ranges).

    Weights use 7 bits by default (reduce_range; `fer-edge export --onnx-weight-bits 8` turns it off): on x86 CPUs
    without VNNI, onnxruntime multiplies uint8 activations by int8 weights with an instruction whose pairwise int16
    sums saturate, which full-range weights reach;
    benchmarks/onnx_weight_range.py measured 1.9x and 2.7x smaller mean probability differences from Keras on training
    sequences (widths 0.5, 0.25) with 7-bit weights, and arm64 (no such instruction) was close without them;
    benchmarks/onnx_weight_cpus.py saw 8 bits lose 2.9 points of class agreement on an emulated AVX2-only CPU and gain
    1.3 on a VNNI and an emulated arm64 one (docs/export.md).
    Per-channel conv weights: batch norm, folded into each conv by quant_pre_process, spreads its channels' weight
    scales far apart; on the shipped `wild` run's training stills a per-tensor int8 encoder kept the float class on
    90.5 %, a per-channel one on 98.3 % at the same speed (benchmarks/onnx_ranges.py, docs/export.md). The LSTM's
    matrix products keep per-tensor weights: onnxruntime ran the head 8x slower with per-channel ones (2.85 against
    0.33 ms per window, 1 thread, the AMD EPYC).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        create_calibrator,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = onnx.load(str(float_path)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {input_name: item[None].astype(np.float32)}

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        graph = model.graph
        constants = {tensor.name for tensor in graph.initializer}
        overrides = {  # a per-tensor override keeps a weight per-tensor when per_channel is on
            node.input[1]: [{"reduce_range": reduce_range}]
            for node in graph.node
            if node.op_type in ("MatMul", "Gemm") and node.input[1] in constants
        }
        if any(node.op_type == "Elu" for node in graph.node) and (elu_floor is not None or tops):
            # the calibrated ranges are read here, edited, and handed back; quantize_static calibrates again
            calibrator = create_calibrator(prepared, augmented_model_path=str(Path(scratch) / "augmented.onnx"))
            calibrator.collect_data(Reader())
            overrides |= onnx_elu_overrides(model, calibrator.compute_data(), elu_floor, tops)
        quantize_static(
            str(prepared),
            str(path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=reduce_range,
            extra_options={"TensorQuantOverrides": overrides} if overrides else None,
        )


def check_onnx(path: Path) -> None:
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
