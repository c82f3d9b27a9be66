import numpy as np

from fer_edge.train.augment import Jitter, augment_sequences


def test_all_frames_of_a_sequence_get_the_same_transform():
    rng = np.random.default_rng(0)
    frame = rng.random((48, 48, 1), dtype=np.float32)
    frames = np.stack([np.stack([frame] * 3)] * 8)  # 8 sequences of 3 identical frames
    out = augment_sequences(frames, np.random.default_rng(1))
    assert out.shape == frames.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    np.testing.assert_array_equal(out[:, 1], out[:, 2])
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.allclose(out[0], out[1])  # different sequences, different transforms
    assert np.abs(out - frames).mean() > 0.01


def test_no_jitter_is_the_identity():
    frames = np.random.default_rng(0).random((2, 3, 48, 48, 1), dtype=np.float32)
    still = Jitter(flip=False, rotation_degrees=0, shift=0, scale=0, brightness=0, contrast=0)
    np.testing.assert_allclose(augment_sequences(frames, np.random.default_rng(0), still), frames, atol=1e-6)
