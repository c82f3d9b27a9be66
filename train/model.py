"""The seed CNN-BiLSTM: a per-frame CNN over each of 3 frames, then two bidirectional LSTMs."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FILTERS = (64, 64, 128, 128, 256, 256, 512, 512)
POOL_DROPOUT = (0.4, 0.4, 0.45, 0.45)  # after each of the 4 poolings


def scaled(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def build_encoder(width: float = 1.0, size: int = 48, dropout_scale: float = 1.0) -> keras.Model:
    """One (size, size, 1) frame -> its feature vector (8 conv layers, global max pooling).

    `dropout_scale` multiplies the pool dropouts (training only; the inference graph is the same).
    """
    frame = keras.Input((size, size, 1), name="frame")
    x = frame
    for i, filters in enumerate(FILTERS, 1):
        x = layers.Conv2D(scaled(filters, width), 3, padding="same", kernel_initializer="he_normal", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("elu", name=f"elu{i}")(x)
        if i % 2 == 0:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
            x = layers.Dropout(POOL_DROPOUT[i // 2 - 1] * dropout_scale, name=f"drop{i // 2}")(x)
    features = layers.GlobalMaxPooling2D(name="global_max")(x)
    return keras.Model(frame, features, name="encoder")


def build_model(
    num_classes: int = 5, width: float = 1.0, frames: int = 3, size: int = 48, unroll: bool = False
) -> keras.Model:
    """(frames, size, size, 1) -> class probabilities. `unroll=True` gives the convertible twin."""
    inputs = keras.Input((frames, size, size, 1), name="frames")
    x = layers.TimeDistributed(build_encoder(width, size), name="per_frame_cnn")(inputs)
    x = layers.Bidirectional(layers.LSTM(scaled(128, width), return_sequences=True, unroll=unroll), name="bilstm1")(x)
    x = layers.Dropout(0.35, name="drop_lstm1")(x)
    x = layers.Bidirectional(layers.LSTM(scaled(64, width), unroll=unroll), name="bilstm2")(x)
    x = layers.Dropout(0.45, name="drop_lstm2")(x)
    x = layers.Dense(scaled(128, width), activation="elu", name="dense")(x)
    x = layers.Dropout(0.7, name="drop_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"cnn_bilstm_w{width:g}")


def build_state(model: keras.Model, sample: np.ndarray) -> None:
    """Create a compiled model's metric and optimizer variables now, from one input sample.

    Keras otherwise creates them while tracing the first training step, and TensorFlow then traces that step
    a second time: seconds per run, most of the time a small run takes."""
    sample = sample[:1]
    predicted = model(sample, training=False)
    model.compute_metrics(sample, np.zeros(predicted.shape, dtype=np.float32), predicted, sample_weight=None)
    model.reset_metrics()
    model.optimizer.build(model.trainable_variables)
