"""`fer-edge serve` with the shipped model on synthetic noise videos: the page, the MJPEG stream, the event stream,
what is refused, stalled viewers, the end of a source, the CLI, and (where Chromium is installed) a real browser."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import load_script
from typer.testing import CliRunner

import fer_edge.serve
from fer_edge.cli import app
from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.manifest import read_manifest
from fer_edge.recognizer import Recognizer
from fer_edge.run import Face, RunStats
from fer_edge.serve import MAX_EVENTS, Hub, ServeOptions, serve

screenshots = load_script("benchmarks/serve_screenshot.py")

SIZE = (320, 240)  # noise at this size is about 47 KB a JPEG: a stalled viewer's socket buffers fill quickly


def write_noise_video(path: Path, count: int = 30, fps: float = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE, isColor=False)
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(rng.integers(0, 256, SIZE[::-1], dtype=np.uint8))
    writer.release()
    return path


@dataclass
class Served:
    port: int
    lines: queue.Queue[str]  # what serve() logged after its start line

    def request(self, method: str, path: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request(method, path)
        return connection.getresponse()

    def status(self) -> dict:
        return json.loads(self.request("GET", "/status.json").read())

    def stalled(self, path: str) -> socket.socket:
        """A viewer that asks for `path` and never reads (its receive buffer as small as the kernel allows)."""
        viewer = socket.socket()
        viewer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        viewer.connect(("127.0.0.1", self.port))
        viewer.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        return viewer


@contextlib.contextmanager
def served(video: Path, loop: bool = True, **options) -> Iterator[Served]:
    """serve() on a free port in a thread, with the noise video (no face detection), stopped at the end."""
    lines: queue.Queue[str] = queue.Queue()
    stop, errors = threading.Event(), []
    recognizer = Recognizer(DEFAULT_BUNDLE, detect=False, loop=loop)

    def target() -> None:
        try:
            serve(recognizer, str(video), ServeOptions(port=0, **options), RunStats(), lines.put, stop)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
            lines.put("failed")

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    start = lines.get(timeout=20)
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", start)
    assert found, (start, errors)
    try:
        yield Served(int(found.group(1)), lines)
    finally:
        stop.set()
        thread.join(10)
    assert not errors, errors
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Served]:
    """One looping server for the tests that only look at it."""
    video = write_noise_video(tmp_path_factory.mktemp("serve") / "noise.avi")
    with served(video) as server:
        yield server


def read_parts(response: http.client.HTTPResponse, count: int) -> list[tuple[dict[str, str], bytes]]:
    """The first `count` parts of a multipart/x-mixed-replace body: (headers, payload) each."""
    assert response.readline() == b"--FRAME\r\n"
    parts = []
    for _ in range(count):
        headers = {}
        while (line := response.readline().decode().strip()) != "":
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        payload = response.read(int(headers["content-length"]))
        assert response.read(2) == b"\r\n" and response.readline() == b"--FRAME\r\n"
        parts.append((headers, payload))
    return parts


def read_events(response: http.client.HTTPResponse, count: int) -> list[tuple[str, str]]:
    """The first `count` events of a text/event-stream: (event name or "message", data) each."""
    events, name = [], "message"
    while len(events) < count:
        line = response.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, line[len("data: ") :]))
            name = "message"
    return events


def test_the_page_shows_the_video_stream_and_listens_to_the_events(live):
    response = live.request("GET", "/")
    page = response.read().decode()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/html")
    assert '<img id="video" src="/stream.mjpg"' in page and 'new EventSource("/events")' in page
    assert "http://" not in page and "https://" not in page  # nothing from outside: a Pi may be offline
    head = live.request("HEAD", "/")
    assert head.status == 200 and head.read() == b""


def test_the_video_stream_is_the_newest_frames_as_jpeg_parts(live):
    response = live.request("GET", "/stream.mjpg")
    assert response.status == 200
    assert response.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=FRAME"
    parts = read_parts(response, 3)
    response.close()
    for headers, payload in parts:
        image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
        assert headers["content-type"] == "image/jpeg" and image.shape == (SIZE[1], SIZE[0], 3)
    stamps = [float(headers["x-timestamp"]) for headers, _ in parts]
    assert stamps == sorted(stamps) and abs(stamps[-1] - time.time()) < 60


def test_events_carry_the_json_that_run_jsonl_writes(live):
    response = live.request("GET", "/events")
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    events = read_events(response, 3)
    response.close()
    classes = read_manifest(DEFAULT_BUNDLE).classes
    for name, data in events:
        prediction = json.loads(data)
        assert name == "message" and set(prediction) == {f.name for f in fields(Face)}
        assert prediction["id"] == 1 and prediction["kind"] == "window"
        assert list(prediction["probabilities"]) == list(classes)
        assert prediction["label"] in (*classes, "uncertain")
    frames = [json.loads(data)["frame"] for _, data in events]
    assert frames == sorted(frames)


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/%2e%2e/",
        "/..%2f..%2fpyproject.toml",
        "//etc/passwd",
        "/page/index.html",
        "/serve.py",
        "/?../../pyproject.toml",
        "/events?x=%00",
        "/stream.mjpg/../../pyproject.toml",
    ],
)
def test_anything_but_the_four_routes_is_a_plain_404(live, path):
    response = live.request("GET", path)
    body = response.read()
    assert response.status == 404 and response.getheader("Content-Type").startswith("text/plain")
    assert body == b"404 not found\n"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "FOO"])
def test_only_get_and_head_are_allowed(live, method):
    response = live.request(method, "/")
    assert response.status == 405 and response.getheader("Allow") == "GET, HEAD"
    assert response.read() == b"405 only GET and HEAD\n"


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n", 414),
        (b"GET / HTTP/1.0\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.0\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n", 431),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # a TLS hello on the plain port
    ],
)
def test_oversized_or_garbled_requests_are_refused_without_a_traceback(live, capfd, request_bytes, status):
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as client:
        client.sendall(request_bytes)
        reply = client.recv(200)
    # a request line without a version is answered the HTTP/0.9 way: the plain-text body alone
    assert reply.startswith(f"HTTP/1.0 {status} ".encode()) or reply.startswith(f"{status} Bad request".encode())
    assert capfd.readouterr().err == ""


def test_stalled_viewers_neither_hold_up_the_loop_nor_grow_a_queue(live):
    viewers = [live.stalled("/stream.mjpg") for _ in range(2)] + [live.stalled("/events") for _ in range(2)]
    try:
        time.sleep(0.3)
        before = live.status()
        time.sleep(1.0)
        after = live.status()
    finally:
        for viewer in viewers:
            viewer.close()
    assert after["viewers"]["video"] >= 2 and after["viewers"]["events"] >= 2
    assert after["frames_published"] >= before["frames_published"] + 10  # a 30 frames/s video, paced
    assert len(after["events_waiting"]) >= 2 and max(after["events_waiting"]) <= MAX_EVENTS


def test_the_hub_keeps_the_newest_frame_and_the_newest_events_of_a_viewer_that_does_not_read():
    hub = Hub(max_events=5)
    with hub.subscribe() as never_read:
        for n in range(50):
            hub.publish_event(str(n))
            hub.publish_frame(b"jpeg %d" % n)
        assert list(never_read) == [f"data: {n}\n\n".encode() for n in range(45, 50)]
        assert hub.wait_frame(0, timeout=1)[:2] == (50, b"jpeg 49")
        assert hub.wait_frame(50, timeout=0.01)[:2] == (50, b"jpeg 49")  # nothing newer: the same, after timeout
        assert hub.status()["events_waiting"] == [5]
    assert hub.status()["events_waiting"] == []


def test_viewers_beyond_the_cap_are_turned_away(tmp_path):
    with served(write_noise_video(tmp_path / "noise.avi"), max_viewers=1) as server:
        first = server.request("GET", "/stream.mjpg")
        assert first.status == 200
        second = server.request("GET", "/stream.mjpg")
        assert second.status == 503 and second.read() == b"503 too many viewers\n"
        assert server.request("GET", "/events").status == 200  # a page's event stream has its own places
        first.close()


def test_at_the_end_of_the_source_the_page_is_told_and_keeps_the_last_frame(tmp_path):
    with served(write_noise_video(tmp_path / "noise.avi", count=6), loop=False, realtime=False) as server:
        assert "the source ended" in server.lines.get(timeout=20)
        events = read_events(server.request("GET", "/events"), 1)  # a viewer arriving after the end is told too
        assert events[0][0] == "end" and json.loads(events[0][1])["frames_read"] == 6
        [(_, payload)] = read_parts(server.request("GET", "/stream.mjpg"), 1)
        assert cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR).shape == (SIZE[1], SIZE[0], 3)
        status = server.status()
        assert status["ended"] and status["frames_published"] == 6 and status["run"]["predictions"] == 4


def test_cli_serves_on_localhost_only_by_default_and_exits_at_the_end_with_a_summary(tmp_path):
    video = write_noise_video(tmp_path / "noise.avi", count=6)
    args = ["serve", "--source", str(video), "--no-detect", "--port", "0", "--exit-at-end", "--no-realtime"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "serving http://127.0.0.1:" in result.output  # the default bind: this machine only, and it says so
    assert "only reachable from this machine; --host 0.0.0.0 serves the LAN" in result.output
    assert "frames 6 read" in result.output and "predictions 4" in result.output


def test_cli_ctrl_c_shuts_the_server_down_and_prints_the_summary(tmp_path, monkeypatch):
    real_steps = Recognizer.steps

    def interrupted(self, source, stats=None):
        for step in real_steps(self, source, stats):
            if step.frame.index == 5:
                raise KeyboardInterrupt
            yield step

    monkeypatch.setattr(Recognizer, "steps", interrupted)
    video = write_noise_video(tmp_path / "noise.avi")
    result = CliRunner().invoke(app, ["serve", "--source", str(video), "--no-detect", "--port", "0", "--loop"])
    assert result.exit_code == 0, result.output
    assert "stopped (Ctrl-C)" in result.output and "frames 6 read" in result.output
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", result.output).group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_cli_port_in_use_is_one_line(tmp_path):
    video = write_noise_video(tmp_path / "noise.avi", count=3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--source", str(video), "--no-detect", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot serve on 127.0.0.1:{port}") and "--port" in result.output
    assert "Traceback" not in result.output


def test_the_address_is_announced_once_before_the_first_frame_or_at_the_end_of_an_empty_source():
    from fer_edge.serve import announced

    lines, seen = [], []
    for step in announced(iter(["frame 1", "frame 2"]), "serving", lines.append):
        seen.append((step, list(lines)))
    assert seen == [("frame 1", ["serving"]), ("frame 2", ["serving"])]
    lines.clear()
    assert list(announced(iter([]), "serving", lines.append)) == [] and lines == ["serving"]


@pytest.mark.parametrize("host", ["192.0.2.1"])  # an address this machine lacks (TEST-NET-1); a name would ask DNS
def test_cli_a_host_that_cannot_be_bound_points_at_host(tmp_path, host):
    video = write_noise_video(tmp_path / "noise.avi", count=3)
    result = CliRunner().invoke(app, ["serve", "--source", str(video), "--no-detect", "--host", host, "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: cannot serve on {host}:0") and "choose another --host" in result.output


def test_cli_a_source_that_cannot_be_opened_is_one_line_and_nothing_is_announced(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
    result = CliRunner().invoke(app, ["serve", "--source", str(tmp_path / "broken.mp4"), "--port", "0"])
    assert result.exit_code != 0 and result.output.startswith("error: "), result.output
    assert "broken.mp4" in result.output and "serving" not in result.output
    assert len(result.output.strip().splitlines()) == 1


BAR_BGR = (222, 141, 60)  # the page's .fill colour, #3c8dde (the overlay in the video draws green bars)
needs_chromium = pytest.mark.skipif(
    screenshots.find_chromium() is None, reason="Chromium is not installed (apt-get install -y chromium)"
)


@needs_chromium
def test_a_browser_shows_the_video_and_the_bars(live, tmp_path):
    # The first bars need the first prediction to reach the page; on 2 busy cores (the whole suite) that can take
    # longer than 1.5 s, so a page without them is looked at again, later, before the test gives up.
    for seconds in (1.5, 4.0, 8.0):
        screenshots.screenshot(f"http://127.0.0.1:{live.port}/", tmp_path / "page.png", (1100, 800), seconds=seconds)
        image = cv2.imread(str(tmp_path / "page.png"))
        assert image is not None and image.shape[1] == 1100 and image.shape[0] >= 600
        bars = np.all(np.abs(image[:, 670:].astype(int) - BAR_BGR) <= 6, axis=2).sum()
        if bars > 200:
            break
    video = image[60:500, 30:640]  # inside the img: 640 px wide from x = 16, below the header
    assert video.std() > 20, "the video area is flat: no frame shown"
    assert bars > 200, "no probability bars beside the video after 8 s"


@needs_chromium
def test_a_browser_fills_the_timeline_within_the_first_seconds(live):
    # the timeline spans the time since the page's first prediction (up to 60 s), so it is full from the start; a
    # fixed 60 s span left it 4 % painted 3 s after load. Looked at again later if the first prediction was late.
    for seconds in (3.0, 6.0):
        state = screenshots.page_state(f"http://127.0.0.1:{live.port}/", seconds=seconds)
        if state["rows"] and state["rows"][0]["filled"] >= 0.5:
            break
    assert [row["name"] for row in state["rows"]] == ["face 1"], state
    assert state["rows"][0]["filled"] >= 0.5 and int(state["span"]) <= seconds, state


def _record(frame: int, **fields) -> str:
    """One event as `fer-edge run --jsonl` writes it (fields given replace the defaults)."""
    probabilities = {"anger": 0.02, "fear": 0.03, "happy": 0.9, "sadness": 0.02, "surprise": 0.02, "neutral": 0.01}
    record = {"id": 1, "kind": "window", "label": "happy", "confidence": 0.9, "box": [10, 10, 50, 50]}
    record |= {"probabilities": probabilities, "frame": frame, "timestamp": frame / 15, "image": None}
    return json.dumps(record | {"latency_ms": {}} | fields)


@needs_chromium
def test_the_page_takes_id_or_the_old_face_key_and_ignores_records_without_a_face():
    hub = Hub()
    server = fer_edge.serve.open_server(hub, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()

    def publish() -> None:  # 15 frames/s: each with a faceless record, face 1 under "id", face 2 under "face"
        jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 128, np.uint8))[1].tobytes()
        frame = 0
        while not stop.wait(1 / 15):
            hub.publish_frame(jpeg)
            hub.publish_event(_record(frame, id=None, kind="none", label="none", box=None, probabilities={}))
            hub.publish_event(_record(frame))
            before_0_2 = json.loads(_record(frame, label="fear"))
            del before_0_2["id"]
            hub.publish_event(json.dumps(before_0_2 | {"face": 2}))
            frame += 1

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        state = screenshots.page_state(f"http://127.0.0.1:{server.server_address[1]}/", seconds=2.5)
    finally:
        stop.set()
        publisher.join()
        hub.close()
        server.shutdown()
        server.server_close()
    assert state["titles"] == ["face 1: happy 0.90", "face 2: fear 0.90"], state
    assert [row["name"] for row in state["rows"]] == ["face 1", "face 2"]
    assert all(row["filled"] >= 0.8 for row in state["rows"]), state
