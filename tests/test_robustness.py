"""The robustness benchmark's camera-like changes do what their names say, on the runtime's own preprocessing."""

import numpy as np
import pytest
from conftest import load_script

from fer_edge.evaluate import Faces
from fer_edge.preprocess import preprocess_frame
from fer_edge.stills import static_sequences

robustness = load_script("benchmarks/robustness.py")


def _face() -> np.ndarray:
    """A 48x48 uint8 image with both smooth shading and a fine checkerboard (high frequencies)."""
    y, x = np.mgrid[:48, :48]
    return np.clip(60 + 2 * x + 40 * ((x + y) % 2), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", [n for n in robustness.CONDITIONS if n != "clean"])
def test_each_change_keeps_the_crop_a_48x48_uint8_image_and_changes_it(name):
    face = _face()
    changed = robustness.CONDITIONS[name](face, np.random.default_rng(0))
    assert changed.dtype == np.uint8 and changed.shape == ((144, 144) if "144 px" in name else face.shape)
    assert np.abs(preprocess_frame(changed) - preprocess_frame(face)).mean() * 255 > 2


def test_the_changes_do_what_their_names_say():
    face, rng = _face(), np.random.default_rng(0)
    change = {name.split()[0]: fn for name, fn in robustness.CONDITIONS.items() if fn is not None}
    assert change["dark"](face, rng).mean() < face.mean() - 20 < face.mean() + 20 < change["bright"](face, rng).mean()
    assert abs(change["flat"](face, rng).std() - face.std() / 2) < 1
    noise = robustness.CONDITIONS["noise (sigma 12)"]
    assert abs((noise(face, rng).astype(float) - face).std() - 12) < 1
    flat = np.full((48, 48), 128, np.uint8)  # at 144 px the noise is 8; the resize to 48 averages it to about 8/3
    assert abs(noise(flat, rng).std() - 12) < 1
    assert 2 < preprocess_frame(robustness.CONDITIONS["noise at 144 px (sigma 8)"](flat, rng)).std() * 255 < 3.5
    checker = np.abs(np.diff(face.astype(int), axis=1)).mean()  # pixel-to-pixel detail
    for name in ("blur", "small"):
        assert np.abs(np.diff(change[name](face, rng).astype(int), axis=1)).mean() < checker / 3
    lit = change["side"](np.full((48, 48), 100, np.uint8), rng).astype(int)
    assert abs(lit[:, 0].mean() - lit[:, -1].mean()) == 90  # 45 on one side, 135 on the other


def test_perturbed_faces_go_through_the_runtime_preprocessing_with_a_fixed_seed():
    crops = [_face(), 255 - _face()]
    faces = Faces(
        static_sequences(np.stack([preprocess_frame(c) for c in crops])), crops, ["happy", "fear"], ["a", "b"], "stills"
    )
    noise = robustness.CONDITIONS["noise (sigma 12)"]
    first, again = (robustness.perturbed(faces, noise, seed=3) for _ in range(2))
    assert first.labels == faces.labels and first.ids == faces.ids
    np.testing.assert_array_equal(first.windows, again.windows)  # the same seed, the same pixels for every model
    np.testing.assert_array_equal(first.windows[1, 2], preprocess_frame(first.crops[1]))
    assert not np.array_equal(first.windows, faces.windows)
    assert robustness.perturbed(faces, None, seed=3) is faces  # clean: untouched


def _spot() -> np.ndarray:
    """A dark 48x48 field with a bright 16x16 square at the centre."""
    image = np.full((48, 48), 20, np.uint8)
    image[16:32, 16:32] = 220
    return image


def _bright_box(image: np.ndarray) -> tuple[float, float, float]:
    """The side and the centre (x, y) of the bright square, from its light above the dark field."""
    light = (image.astype(float) - 20) / 200
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    return float(np.sqrt(light.sum())), float((light * xs).sum() / light.sum()), float((light * ys).sum() / light.sum())


@pytest.mark.parametrize("name", list(robustness.FRAMING))
def test_each_framing_keeps_a_48x48_uint8_crop_and_changes_it(name):
    face = _face()
    changed = robustness.FRAMING[name](face, np.random.default_rng(0))
    assert changed.dtype == np.uint8 and changed.shape == face.shape
    assert np.abs(preprocess_frame(changed) - preprocess_frame(face)).mean() * 255 > 2


def test_the_framings_zoom_shift_and_roll_as_named():
    rng, framing = np.random.default_rng(0), robustness.FRAMING
    side, x, y = _bright_box(_spot())
    for name, scale in (("looser (face x0.8)", 0.8), ("much looser (face x0.65)", 0.65), ("tighter (face x1.2)", 1.2)):
        zoomed = _bright_box(framing[name](_spot(), rng))
        assert abs(zoomed[0] / side - scale) < 0.02 and abs(zoomed[1] - x) < 1 and abs(zoomed[2] - y) < 1
    for _ in range(5):  # a random direction, always 10 % of the side (4.8 px) away
        moved = _bright_box(framing["off-centre (10 % of the side)"](_spot(), rng))
        assert abs(np.hypot(moved[1] - x, moved[2] - y) - 4.8) < 0.5 and abs(moved[0] - side) < 1
    bar = np.full((48, 48), 20, np.uint8)
    bar[22:26, 8:40] = 220  # a horizontal bar: rolled, its ends move up and down by sin(15 deg) * 16 px
    rolled = framing["head rolled 15 degrees"](bar, rng)
    left, right = (np.nonzero(rolled[:, col] > 120)[0].mean() for col in (12, 36))
    assert abs(abs(left - right) - 24 * np.tan(np.radians(15))) < 1.5


def test_the_framings_have_their_own_mean_and_leave_the_camera_mean_as_it_was():
    assert robustness.MEANS["mean of the changed"] == [c for c in robustness.CONDITIONS if c != "clean"]
    assert robustness.MEANS["mean of the framings"] == list(robustness.FRAMING)
    assert not set(robustness.FRAMING) & set(robustness.CONDITIONS)
