"""Convertible twins of a trained model: unrolled LSTMs (TFLite cannot take Keras 3's loop), and the
streaming split into a per-frame encoder and a sequence head."""

from __future__ import annotations

import keras
import numpy as np

from fer_edge.errors import ModelLoadError
from fer_edge.train.model import build_model

HEAD_LAYERS = ("bilstm1", "drop_lstm1", "bilstm2", "drop_lstm2", "dense", "drop_dense", "probabilities")


def unrolled_twin(model: keras.Model, width: float) -> keras.Model:
    """The same network with unroll=True LSTMs and the trained weights."""
    twin = build_model(model.output_shape[-1], width, model.input_shape[1], model.input_shape[2], unroll=True)
    try:
        twin.set_weights(model.get_weights())
    except ValueError as error:
        raise ModelLoadError(f"the model is not the fer-edge CNN-BiLSTM at width {width:g}: {error}") from None
    return twin


def streaming_parts(twin: keras.Model) -> tuple[keras.Model, keras.Model]:
    """(encoder: (48, 48, 1) -> (F,), head: (3, F) -> probabilities), sharing the twin's layers."""
    encoder = twin.get_layer("per_frame_cnn").layer
    features = keras.Input((twin.input_shape[1], encoder.output_shape[-1]), name="features")
    x = features
    for name in HEAD_LAYERS:
        x = twin.get_layer(name)(x)
    return encoder, keras.Model(features, x, name="head")


def max_difference(a: keras.Model, b: keras.Model, frames: np.ndarray) -> float:
    return float(np.max(np.abs(a.predict(frames, verbose=0) - b.predict(frames, verbose=0))))
