"""The overlay: each face's panel beside its own box, inside the frame, over no other face; bars only when asked;
and where --out writes it."""

import re
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fer_edge.overlay import BAR, GREEN, PanelStyle, draw, overlap, place_panels

CLASSES = ("anger", "fear", "happy", "sadness", "surprise", "neutral")
SIDE_BY_SIDE = [(40, 150, 120, 120), (260, 150, 120, 120), (480, 150, 120, 120)]  # three faces on 640x480


def face(number: int, box, predicted: bool = True) -> SimpleNamespace:
    """A stand-in for the runtime's FaceStep: what the overlay reads of it."""
    values = np.random.default_rng(number).dirichlet(np.ones(len(CLASSES)))
    best = int(np.argmax(values))
    probabilities = dict(zip(CLASSES, values.tolist(), strict=True))
    prediction = SimpleNamespace(label=CLASSES[best], confidence=float(values[best]), probabilities=probabilities)
    return SimpleNamespace(face=number, box=box, prediction=prediction if predicted else None)


def panel_sizes(boxes, bars: bool = True) -> list[tuple[int, int]]:
    style = PanelStyle.for_width(640)
    return [style.size(style.lines(face(n, box), bars)) for n, box in enumerate(boxes, 1)]


def inside(rect, shape) -> bool:
    x, y, w, h = rect
    return x >= 0 and y >= 0 and x + w <= shape[1] and y + h <= shape[0]


@pytest.mark.parametrize("bars", [True, False])
def test_on_a_three_face_frame_no_panel_covers_another_face(bars):
    shape = (480, 640)
    rects = place_panels(SIDE_BY_SIDE, panel_sizes(SIDE_BY_SIDE, bars), shape)
    for index, rect in enumerate(rects):
        assert inside(rect, shape)
        assert all(overlap(rect, box) == 0 for n, box in enumerate(SIDE_BY_SIDE) if n != index), (index, rect)
        assert overlap(rect, SIDE_BY_SIDE[index]) == 0  # nor its own
    assert all(overlap(a, b) == 0 for n, a in enumerate(rects) for b in rects[n + 1 :])  # nor each other


def test_a_panel_sits_right_of_its_face_else_left_else_below():
    shape, size = (480, 640), [(150, 100)]
    [right] = place_panels([(100, 100, 120, 120)], size, shape)
    assert right[:2] == (226, 100)  # GAP (6) right of the box, level with its top
    [left] = place_panels([(500, 100, 120, 120)], size, shape)
    assert left[:2] == (344, 100)  # no room on the right: on the left
    [below] = place_panels([(100, 60, 440, 120)], size, shape)
    assert below[:2] == (100, 186)  # a face as wide as the frame leaves room only below
    [clamped] = place_panels([(100, 400, 440, 70)], size, shape)
    assert inside(clamped, shape) and clamped[1] == 400 - 6 - 100  # above, since below leaves the frame


def test_a_crowded_frame_still_keeps_every_panel_inside_it():
    boxes = [(x, y, 100, 100) for x in (0, 110, 220, 330, 440, 540) for y in (0, 190, 380)]
    shape = (480, 640)
    assert all(inside(rect, shape) for rect in place_panels(boxes, panel_sizes(boxes), shape))


def test_bars_are_drawn_only_when_asked_and_beside_their_face():
    frame = np.full((480, 640), 90, np.uint8)
    faces = [face(n, box) for n, box in enumerate(SIDE_BY_SIDE, 1)]
    bar_pixels = lambda canvas: np.all(canvas == BAR, axis=2)  # noqa: E731
    with_bars, without = draw(frame, faces), draw(frame, faces, bars=False)
    assert with_bars.shape == (480, 640, 3) and bar_pixels(with_bars).sum() > 100
    assert bar_pixels(without).sum() == 0
    rows, cols = np.nonzero(bar_pixels(with_bars))
    for x, y, w, h in SIDE_BY_SIDE:  # no bar pixel inside any face's box
        assert not np.any((cols >= x) & (cols < x + w) & (rows >= y) & (rows < y + h))
    for x, y, w, _ in SIDE_BY_SIDE:  # the boxes are still drawn, and a label above each
        assert tuple(without[y, x + w // 2]) == GREEN and tuple(without[y - 12, x + 4]) != (90, 90, 90)


def test_a_face_without_a_prediction_gets_its_box_and_id_only():
    frame = np.zeros((240, 320, 3), np.uint8)
    canvas = draw(frame, [face(7, (100, 80, 60, 60), predicted=False)])
    assert not np.all(canvas == BAR, axis=2).any() and canvas.any()
    style = PanelStyle.for_width(320)
    assert style.lines(face(7, None, predicted=False), bars=True) == [("7", None)]


@pytest.mark.parametrize(
    "out, source, kind",
    [
        ("annotated.mp4", "0", "video"),
        ("annotated.avi", "photos", "video"),
        ("annotated.jpg", "photo.png", "image"),
        ("annotated", "photos", "folder"),
        ("annotated", "photos/*/*.jpg", "folder"),
    ],
)
def test_out_writes_what_fits_its_name_and_the_source(tmp_path, monkeypatch, out, source, kind):
    from fer_edge.overlay import check_overlay_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photo.png").write_bytes(b"")
    assert check_overlay_output(Path(out), source) == kind


@pytest.mark.parametrize(
    "out, source, hint",
    [
        ("annotated.jpg", "photos", "give a folder"),
        ("annotated.jpg", "photos/*.png", "give a folder"),
        ("annotated.jpg", "0", "annotated.mp4"),
        ("annotated", "0", "annotated.mp4"),
        ("annotated", "clip.mp4", "annotated.mp4"),
        ("annotated.gif", "photo.png", "a folder for many photos"),
    ],
)
def test_an_out_that_does_not_fit_the_source_is_refused_before_anything_runs(tmp_path, monkeypatch, out, source, hint):
    from fer_edge.errors import UsageError
    from fer_edge.overlay import check_overlay_output

    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    with pytest.raises(UsageError, match=re.escape(hint)):
        check_overlay_output(Path(out), source)
    assert not (tmp_path / out).exists()


def test_a_folder_of_photos_keeps_each_name_and_two_photos_of_one_name_both_stay(tmp_path):
    from fer_edge.overlay import OverlayImages
    from fer_edge.sources import Frame

    images = OverlayImages(tmp_path, folder=True)
    assert not images.close()
    canvas = np.full((20, 30, 3), 200, np.uint8)
    for index, name in enumerate(["a.png", "b.jpg", "a.png"]):
        images.write(canvas, Frame(canvas, index, 0.0, name))
    assert images.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-2.png", "a.png", "b.jpg"]  # no temporary left
    assert cv2.imread(str(tmp_path / "a-2.png")).shape == (20, 30, 3)
