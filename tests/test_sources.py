"""Camera sources without a camera: failed reads, a read that never returns, reconnecting with back-off."""

import time

import numpy as np
import pytest


def test_a_failing_camera_is_reopened_with_growing_back_off():
    from fer_edge.errors import CameraError
    from fer_edge.sources import Frame, SourceStats, reconnecting

    opened, waits = [], []

    def camera():
        opened.append(1)
        if len(opened) in (1, 2, 4):
            raise CameraError("camera 0 stopped delivering frames")
        yield Frame(np.zeros((4, 4), np.uint8), 0, 0.0)
        if len(opened) == 3:
            raise CameraError("camera 0 stopped delivering frames")

    stats = SourceStats()
    frames = list(reconnecting(camera, stats, sleep=waits.append))
    assert [f.index for f in frames] == [0, 1]  # indices keep counting across reconnects
    assert waits == [0.5, 1.0, 0.5, 1.0] and stats.reconnects == 4  # doubles; starts again once frames flow


class FakeCamera:
    """Stands in for cv2.VideoCapture: a few frames, then reads that fail, or a read that never returns."""

    def __init__(self, script):
        self.script, self.released = list(script), False

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return True

    def read(self):
        step = self.script.pop(0) if self.script else "fail"
        if step == "hang":
            time.sleep(30)
        return (True, np.zeros((48, 48), np.uint8)) if step == "frame" else (False, None)

    def get(self, _):
        return 0.0

    def release(self):
        self.released = True


@pytest.mark.parametrize(
    "script, message",
    [
        (["frame", "fail", "frame", "fail", "fail", "fail"], "3 failed reads in a row"),
        (["frame", "hang"], "no frame for"),
    ],
)
def test_a_camera_that_stops_is_an_error_in_bounded_time_and_released(monkeypatch, script, message):
    from fer_edge import sources
    from fer_edge.errors import CameraError

    camera = FakeCamera(script)
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda target: camera)
    stats = sources.SourceStats()
    started = time.monotonic()
    frames = []
    with pytest.raises(CameraError, match=message):
        for frame in sources.capture_frames(0, stats, max_failures=3, camera=True, read_timeout=0.5):
            frames.append(frame)
    assert time.monotonic() - started < 5 and camera.released
    assert len(frames) == script.count("frame") and stats.dropped == script.count("fail")


def test_a_folder_or_glob_without_images_says_so_and_points_into_subfolders(tmp_path):
    import cv2

    from fer_edge.errors import InputSpecError
    from fer_edge.sources import SourceStats, open_source

    (tmp_path / "faces" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "faces" / "happy" / "a.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputSpecError, match=r"holds images only in its subfolders; give '.*faces/\*/\*'"):
        list(open_source(str(tmp_path / "faces"), SourceStats()))
    assert len(list(open_source(str(tmp_path / "faces" / "*" / "*"), SourceStats()))) == 1
    (tmp_path / "empty").mkdir()
    for spec in (tmp_path / "empty", tmp_path / "faces" / "*.jpg"):
        with pytest.raises(InputSpecError, match=r": no image files \(\.bmp, .*\) to read"):
            list(open_source(str(spec), SourceStats()))
