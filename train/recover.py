"""A float per-frame CNN recovered from a bundle's int8 encoder, so training can continue from a shipped model.

Training runs do not outlive the machine they ran on, but the shipped bundle does. Its `encoder_int8.tflite` holds
every conv layer with its batch norm folded in (per-channel int8 weights, int32 biases). Dequantized, these give
the conv kernels and biases; each batch norm is then set to the identity with the conv output's real statistics
(mean and variance over training stills, gamma = sqrt(var + eps), beta = mean), so the recovered encoder computes
the bundle's function in inference mode and, since a batch's statistics are close to those, nearly so in training.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from fer_edge.atomic import atomic_dir, atomic_write_text
from fer_edge.backends import load_interpreter
from fer_edge.errors import UsageError
from fer_edge.hashing import sha256_file
from fer_edge.manifest import read_manifest
from fer_edge.train.config import ENCODER_FILE
from fer_edge.train.model import FILTERS, build_encoder

STATISTICS_STILLS = 2048  # training stills the batch-norm statistics are measured on


def conv_weights(tflite_path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel HWIO float32, bias float32) of each CONV_2D of an int8 TFLite model, in graph order."""
    interpreter = load_interpreter(tflite_path)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    weights = []
    for op in interpreter._get_ops_details():  # the public API has no op list; LiteRT and TF both keep this one
        if op["op_name"] != "CONV_2D":
            continue
        kernel_t, bias_t = tensors[op["inputs"][1]], tensors[op["inputs"][2]]
        kernel_scale = kernel_t["quantization_parameters"]["scales"]
        bias_scale = bias_t["quantization_parameters"]["scales"]
        kernel = interpreter.get_tensor(kernel_t["index"]).astype(np.float32) * kernel_scale[:, None, None, None]
        bias = interpreter.get_tensor(bias_t["index"]).astype(np.float32) * bias_scale
        weights.append((np.transpose(kernel, (1, 2, 3, 0)), bias.astype(np.float32)))  # OHWI -> HWIO
    return weights


def encoder_file(bundle: Path) -> Path:
    """The bundle's int8 TFLite encoder."""
    artifact = read_manifest(bundle).artifact("tflite", "encoder", "int8")
    if artifact is None:
        raise UsageError(f"{bundle} has no int8 TFLite encoder to start from; export it with fer-edge export --int8")
    return Path(bundle) / artifact.file


def recover_encoder(bundle: Path, width: float, images: np.ndarray) -> keras.Model:
    """The bundle's per-frame CNN as a float Keras encoder of `width`; `images` (N, 48, 48, 1) set its batch norms."""
    weights = conv_weights(encoder_file(bundle))
    encoder = build_encoder(width)
    convs = [encoder.get_layer(f"conv{i}") for i in range(1, len(FILTERS) + 1)]
    shapes = [tuple(c.kernel.shape) for c in convs]
    if [w.shape for w, _ in weights] != shapes:
        raise UsageError(
            f"{bundle}'s encoder does not match a width-{width:g} encoder "
            f"(its conv kernels {[w.shape for w, _ in weights]}); pass the bundle's --width"
        )
    for i, (conv, (kernel, bias)) in enumerate(zip(convs, weights, strict=True), 1):
        conv.set_weights([kernel, bias])
        bn = encoder.get_layer(f"bn{i}")  # the exact identity while the statistics are measured
        bn.set_weights([np.ones_like(bias), np.zeros_like(bias), np.zeros_like(bias), np.ones_like(bias) - bn.epsilon])
    probe = keras.Model(encoder.input, [c.output for c in convs])
    outputs = probe.predict(images[:STATISTICS_STILLS], batch_size=256, verbose=0)
    for i, output in enumerate(outputs, 1):
        bn = encoder.get_layer(f"bn{i}")
        mean = output.mean(axis=(0, 1, 2))
        variance = output.var(axis=(0, 1, 2))
        bn.set_weights([np.sqrt(variance + bn.epsilon), mean, mean, variance])
    return encoder


def write_recovered(bundle: Path, width: float, images: np.ndarray, out: Path) -> Path:
    """A stage-1 folder (encoder weights + pretrain.json) holding the bundle's recovered encoder; returns `out`."""
    encoder = recover_encoder(bundle, width, images)
    source = encoder_file(bundle)
    record = {
        "config": {"width": width, "epochs": 0},
        "recovered_from": {
            "bundle": str(bundle),
            "file": source.name,
            "sha256": sha256_file(source),
            "made_by": read_manifest(bundle).notes.get("made_by"),
            "statistics_stills": min(len(images), STATISTICS_STILLS),
        },
    }
    with atomic_dir(Path(out), force=True) as tmp:
        encoder.save_weights(tmp / ENCODER_FILE)
        atomic_write_text(tmp / "pretrain.json", json.dumps(record, indent=2) + "\n")
    return Path(out)
