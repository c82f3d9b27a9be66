"""Checks on a model file before any native runtime parses it.

The TFLite Python interpreter builds models with the non-verifying FlatBufferModel::BuildFromFile, so a
damaged or hostile file can crash the process; onnxruntime follows external-data paths named inside the
file. These checks are cheap (header bytes, a walk over the protobuf's framing) and catch the common cases:
empty, truncated or random files, a file with the other format's suffix, a Git LFS pointer, external data.
"""

from __future__ import annotations

from pathlib import Path

from fer_edge.errors import ModelLoadError

MIN_BYTES = 64
MAX_BYTES = 1 << 30  # 1 GiB: far above any fer-edge model
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"

# ONNX protobuf field numbers (onnx.proto3): ModelProto.graph = 7; GraphProto.initializer = 5, node = 1;
# NodeProto.attribute = 5; AttributeProto.t = 5, tensors = 10; TensorProto.external_data = 13, data_location = 14.
MODEL_GRAPH, GRAPH_INITIALIZER, GRAPH_NODE, NODE_ATTRIBUTE = 7, 5, 1, 5
ATTRIBUTE_TENSOR, ATTRIBUTE_TENSORS = 5, 10
TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION, EXTERNAL = 13, 14, 1


def check_model_file(path: Path) -> None:
    """ModelLoadError naming the problem if `path` cannot be a sound single-file .tflite or .onnx model."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist or is not a file")
    size = path.stat().st_size
    if size < MIN_BYTES or size > MAX_BYTES:
        raise ModelLoadError(f"{path} has {size} bytes, not a plausible model size; copy the model again")
    data = path.read_bytes()
    if data.startswith(LFS_POINTER):
        raise ModelLoadError(f"{path} is a Git LFS pointer, not the model; fetch it with: git lfs pull")
    looks_tflite = data[4:8] == b"TFL3"
    if path.suffix == ".tflite":
        if not looks_tflite:
            other = " (it looks like ONNX: rename it to .onnx)" if _onnx_problem(data) is None else ""
            raise ModelLoadError(f"{path} is not a TFLite model: no TFL3 identifier at bytes 4-8{other}")
        root = int.from_bytes(data[:4], "little")
        if not 8 <= root < size:
            raise ModelLoadError(f"{path} is damaged: its root table offset {root} lies outside the file")
    elif path.suffix == ".onnx":
        if looks_tflite:
            raise ModelLoadError(f"{path} is a TFLite model, not ONNX: rename it to .tflite")
        problem = _onnx_problem(data)
        if problem:
            raise ModelLoadError(f"{path} is not a usable ONNX model: {problem}")
    else:
        raise ModelLoadError(f"{path} is neither a .tflite nor an .onnx model")


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated or malformed varint")


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value or (start, end) of a length-delimited payload) over one message."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos, end)
            yield number, wire, value
        elif wire == 1 or wire == 5:
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise ValueError("truncated fixed-size field")
            yield number, wire, None
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise ValueError("a field runs past the end of the file (truncated?)")
            yield number, wire, (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"wire type {wire} is not valid protobuf")


def _tensor_is_external(data: bytes, span: tuple[int, int]) -> bool:
    for number, wire, value in _fields(data, *span):
        if number == TENSOR_EXTERNAL_DATA and wire == 2:
            return True
        if number == TENSOR_DATA_LOCATION and wire == 0 and value == EXTERNAL:
            return True
    return False


def _node_has_external_tensor(data: bytes, span: tuple[int, int]) -> bool:
    """A Constant-like node whose attribute tensor lives in an external file."""
    for number, wire, attribute in _fields(data, *span):
        if number != NODE_ATTRIBUTE or wire != 2:
            continue
        for field, kind, tensor in _fields(data, *attribute):
            if field in (ATTRIBUTE_TENSOR, ATTRIBUTE_TENSORS) and kind == 2 and _tensor_is_external(data, tensor):
                return True
    return False


def _onnx_problem(data: bytes) -> str | None:
    """None for a well-framed single-file ModelProto with a graph; else what is wrong."""
    try:
        graphs = [v for n, w, v in _fields(data, 0, len(data)) if n == MODEL_GRAPH and w == 2]
        if not graphs:
            return "no graph in the file (not an ONNX ModelProto)"
        for number, wire, value in _fields(data, *graphs[0]):
            if wire != 2:
                continue
            if number == GRAPH_INITIALIZER and _tensor_is_external(data, value):
                return "it references external data files; fer-edge accepts single-file ONNX models only"
            if number == GRAPH_NODE and _node_has_external_tensor(data, value):
                return "it references external data files; fer-edge accepts single-file ONNX models only"
    except ValueError as error:
        return f"damaged protobuf ({error})"
    return None
