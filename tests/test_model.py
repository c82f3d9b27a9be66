import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="the train extra (TensorFlow/Keras) is not installed")

from fer_edge.train.model import build_encoder, build_model  # noqa: E402


def test_seed_model_has_the_seed_parameter_count():
    model = build_model(num_classes=5, width=1.0)
    assert model.count_params() == 5_529_797
    assert build_encoder(1.0).count_params() == 4_691_904
    assert model.input_shape == (None, 3, 48, 48, 1) and model.output_shape == (None, 5)


def test_seed_model_structure():
    encoder = build_encoder(1.0)
    convs = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in encoder.layers) == 4
    assert isinstance(encoder.layers[-1], keras.layers.GlobalMaxPooling2D)
    model = build_model()
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.Bidirectional)]
    assert [b.forward_layer.units for b in lstms] == [128, 64]
    assert lstms[0].forward_layer.return_sequences and not lstms[1].forward_layer.return_sequences
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.35, 0.45, 0.7]


def test_width_scales_every_filter_and_unit():
    small = build_model(width=0.5)
    convs = [layer.filters for layer in build_encoder(0.5).layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [32, 32, 64, 64, 128, 128, 256, 256]
    assert small.get_layer("bilstm1").forward_layer.units == 64
    assert small.get_layer("dense").units == 64
    assert small.count_params() < build_model().count_params() / 3


def test_unrolled_twin_has_the_same_weights_and_outputs():
    model = build_model(width=0.25)
    twin = build_model(width=0.25, unroll=True)
    twin.set_weights(model.get_weights())
    frames = np.random.default_rng(0).random((2, 3, 48, 48, 1), dtype=np.float32)
    expected = model.predict(frames, verbose=0)
    np.testing.assert_allclose(twin.predict(frames, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, atol=1e-5)
