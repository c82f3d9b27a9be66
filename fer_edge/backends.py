"""Model runtimes behind one small interface: LiteRT (or tflite-runtime) for .tflite, onnxruntime for .onnx.

An int8 model's input and output quantization is read from the model's own tensors, never hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_edge.errors import InputSpecError, MissingExtraError, ModelLoadError
from fer_edge.modelfile import check_model_file
from fer_edge.quiet import native_stderr_silenced

TFLITE_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0  # 0: not quantized
    zero_point: int = 0

    def quantize(self, values: np.ndarray) -> np.ndarray:
        if not self.scale:
            return values.astype(self.dtype, copy=False)
        info = np.iinfo(self.dtype)
        return np.clip(np.round(values / self.scale) + self.zero_point, info.min, info.max).astype(self.dtype)

    def dequantize(self, values: np.ndarray) -> np.ndarray:
        if not self.scale:
            return values.astype(np.float32, copy=False)
        return (values.astype(np.float32) - self.zero_point) * self.scale

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }


def tflite_interpreter_class(preferred: str | None = None):
    import importlib

    for module in (preferred,) if preferred else TFLITE_MODULES:
        try:
            return importlib.import_module(module).Interpreter
        except ImportError:
            continue
    if preferred:
        package = {v: k for k, v in TFLITE_BACKENDS.items()}.get(preferred, preferred)
        raise MissingExtraError(
            f"the TFLite backend {package} is not installed; install it with: pip install {package}"
        )
    raise MissingExtraError(
        "no TFLite runtime is installed; install one with: pip install ai-edge-litert (or tflite-runtime on 32-bit ARM)"
    )


def load_interpreter(path: Path, threads: int | None = None, module: str | None = None, hint: str = ""):
    """A TFLite interpreter with its tensors allocated, quietly; a file it cannot parse is one ModelLoadError."""
    interpreter_class = tflite_interpreter_class(module)
    try:
        with native_stderr_silenced():  # LiteRT's "INFO: Created ... XNNPACK delegate" line
            interpreter = interpreter_class(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ModelLoadError(f"cannot load TFLite model {path}: {error}{hint}") from None
    return interpreter


class TFLiteModel:
    """One interpreter, kept alive; `run` takes a float batch whose first axis is fed one item at a time."""

    def __init__(self, path: Path, threads: int | None = None, module: str | None = None):
        self.interpreter = load_interpreter(path, threads, module)
        self.input = self._info(self.interpreter.get_input_details()[0])
        self.output = self._info(self.interpreter.get_output_details()[0])
        self._input_index = self.interpreter.get_input_details()[0]["index"]
        self._output_index = self.interpreter.get_output_details()[0]["index"]

    @staticmethod
    def _info(detail: dict) -> TensorInfo:
        scale, zero_point = detail["quantization"]
        return TensorInfo(
            detail["name"],
            tuple(int(d) for d in detail["shape"]),
            np.dtype(detail["dtype"]).name,
            float(scale),
            int(zero_point),
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """batch: (N, *input shape without batch) float32 -> (N, *output shape without batch) float32."""
        expected = self.input.shape[1:]
        if tuple(batch.shape[1:]) != expected:
            raise InputSpecError(f"model expects items of shape {expected}, got {tuple(batch.shape[1:])}")
        outputs = []
        for item in batch:
            self.interpreter.set_tensor(self._input_index, self.input.quantize(item[None]))
            self.interpreter.invoke()
            outputs.append(self.output.dequantize(self.interpreter.get_tensor(self._output_index))[0])
        return np.stack(outputs)


class OnnxModel:
    def __init__(self, path: Path, threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise MissingExtraError(
                "onnxruntime is not installed (the ONNX path is an extra); "
                "install it with: pip install 'fer-edge[onnx]'"
            ) from None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own untyped errors for bad files
            raise ModelLoadError(f"cannot load ONNX model {path}: {str(error).splitlines()[0]}") from None
        node_in, node_out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        dims = tuple(d if isinstance(d, int) else -1 for d in node_in.shape)
        self.input = TensorInfo(node_in.name, dims, "float32")
        self.output = TensorInfo(
            node_out.name, tuple(d if isinstance(d, int) else -1 for d in node_out.shape), "float32"
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        expected = self.input.shape[1:]
        if tuple(batch.shape[1:]) != expected:
            raise InputSpecError(f"model expects items of shape {expected}, got {tuple(batch.shape[1:])}")
        if self.input.shape[0] == -1:
            return self.session.run(None, {self.input.name: batch.astype(np.float32)})[0]
        return np.concatenate(
            [self.session.run(None, {self.input.name: item[None].astype(np.float32)})[0] for item in batch]
        )


TFLITE_BACKENDS = {
    "ai-edge-litert": TFLITE_MODULES[0],
    "tflite-runtime": TFLITE_MODULES[1],
    "tensorflow": TFLITE_MODULES[2],
}


def open_model(path: Path, threads: int | None = None, tflite_backend: str | None = None) -> TFLiteModel | OnnxModel:
    """The file is checked (fer_edge.modelfile) before a native runtime parses it.

    tflite_backend: one of TFLITE_BACKENDS to force it; None tries them in that order."""
    path = Path(path)
    check_model_file(path)
    if path.suffix == ".tflite":
        return TFLiteModel(path, threads, TFLITE_BACKENDS[tflite_backend] if tflite_backend else None)
    if path.suffix == ".onnx":
        return OnnxModel(path, threads)
    raise ModelLoadError(f"{path} is neither a .tflite nor an .onnx model")
