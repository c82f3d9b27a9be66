import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fer_edge.errors import InputSpecError
from fer_edge.preprocess import SPEC, mirror_odd_frames, mirror_windows, preprocess_frame


def test_uint8_grayscale_is_scaled_to_unit_range():
    image = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    out = preprocess_frame(image, size=2)
    assert out.shape == (2, 2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, :, 0], [[0.0, 1.0], [0.2, 0.4]], atol=1e-6)


def test_colour_and_size_are_converted_to_48x48_gray():
    bgr = np.zeros((96, 120, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # pure red
    out = preprocess_frame(bgr)
    assert out.shape == (SPEC.size, SPEC.size, 1)
    np.testing.assert_allclose(out, 0.299, atol=0.01)  # BT.601 luma of red


def test_bgra_uint16_and_float_inputs_agree_with_uint8():
    gray = np.random.default_rng(0).integers(0, 256, size=(48, 48)).astype(np.uint8)
    expected = preprocess_frame(gray)
    bgra = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    np.testing.assert_allclose(preprocess_frame(bgra), expected, atol=1 / 255)
    np.testing.assert_allclose(preprocess_frame(gray.astype(np.uint16) * 257), expected, atol=1e-6)
    np.testing.assert_allclose(preprocess_frame(gray.astype(np.float64) / 255), expected, atol=1e-6)
    np.testing.assert_allclose(preprocess_frame(gray[:, :, None]), expected)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((48,), np.uint8),
        np.zeros((48, 48, 2), np.uint8),
        np.zeros((0, 48), np.uint8),
        np.zeros((48, 48), np.int32),
        np.full((48, 48), np.nan, np.float32),
        "not an array",
    ],
)
def test_unusable_frames_raise_input_spec_error(bad):
    with pytest.raises(InputSpecError):
        preprocess_frame(bad)


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(st.integers(0, 70), min_size=1, max_size=4),
    dtype=st.sampled_from(["uint8", "uint16", "int8", "int32", "int64", "float16", "float32", "float64", "bool"]),
    seed=st.integers(0, 2**32 - 1),
)
@example(shape=[48, 70], dtype="float16", seed=0)  # area resizing once rounded white to 1.0000001
def test_random_arrays_give_a_48x48_frame_or_a_clear_input_error(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 300, shape) if np.prod(shape) else np.zeros(shape)
    array = values.astype(dtype)
    try:
        out = preprocess_frame(array)
    except InputSpecError as error:
        assert str(error)  # a message the user can read
        return
    assert out.shape == (48, 48, 1) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1


def test_mirror_odd_frames_mirrors_the_streams_odd_frames_only_and_copies():
    frames = np.random.default_rng(1).random((3, 48, 48, 1)).astype(np.float32)
    kept = frames.copy()
    from_even = mirror_odd_frames(frames)  # stream frames 0, 1, 2: the middle one mirrored
    np.testing.assert_array_equal(from_even[[0, 2]], frames[[0, 2]])
    np.testing.assert_array_equal(from_even[1], frames[1, :, ::-1])
    from_odd = mirror_odd_frames(frames, start=5)  # stream frames 5, 6, 7: the outer ones mirrored
    np.testing.assert_array_equal(from_odd[[0, 2]], frames[[0, 2], :, ::-1])
    np.testing.assert_array_equal(from_odd[1], frames[1])
    np.testing.assert_array_equal(frames, kept)


def test_mirror_windows_mirrors_each_window_as_the_start_of_its_stream():
    windows = np.random.default_rng(2).random((4, 3, 48, 48, 1)).astype(np.float32)
    shown = mirror_windows(windows)
    assert shown.shape == windows.shape
    np.testing.assert_array_equal(shown[:, [0, 2]], windows[:, [0, 2]])
    np.testing.assert_array_equal(shown[:, 1], windows[:, 1, :, ::-1])
    assert mirror_windows(windows[:0]).shape == (0, 3, 48, 48, 1)
