"""`fer-edge serve`: the runtime loop as a live web page, for a Raspberry Pi without a display.

Routes: `/` the page (fer_edge/page/index.html), `/stream.mjpg` the frames with their overlay as MJPEG
(multipart/x-mixed-replace), `/events` one Server-Sent Event per prediction carrying the JSON that
`fer-edge run --jsonl` writes (and an `end` event when the source ends), `/status.json` the run's summary so far.

The server is the standard library's `http.server` (ThreadingHTTPServer, one thread per connection), as in
picamera2's mjpeg_server.py: nothing more to install on a Pi, and it carries the handful of viewers a live view has.

The runtime loop publishes into a `Hub` and never waits for a viewer: a frame replaces the previous one (a slow
viewer skips frames) and each viewer's events wait in a queue of at most MAX_EVENTS that drops its oldest (a viewer
that stops reading loses events, never memory, and is disconnected once a write has been stuck for
SOCKET_TIMEOUT seconds).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cv2

from fer_edge.errors import UsageError
from fer_edge.overlay import draw
from fer_edge.recognizer import Recognizer
from fer_edge.run import RunStats, Step

MAX_EVENTS = 100  # per viewer; at 30 predictions/s about 3 s of backlog
MAX_VIEWERS = 16  # per stream (a page holds one video and one event stream)
KEEPALIVE = 10.0  # seconds: an idle stream repeats its frame or sends a comment, so a departed viewer is noticed
SOCKET_TIMEOUT = 10.0  # seconds a read or a write may block before the connection is dropped
JPEG_QUALITY = 80
BOUNDARY = b"FRAME"


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port
    max_viewers: int = MAX_VIEWERS
    realtime: bool = True  # a video plays at its own frame rate, not as fast as the model runs
    exit_at_end: bool = False  # else the last frame stays on the page until Ctrl-C
    debug: bool = False  # http.server's request log and tracebacks on stderr

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port must be in 0..65535 (0 = any free port), got {self.port}")
        if self.max_viewers < 1:
            raise UsageError(f"--max-viewers must be at least 1, got {self.max_viewers}")


class Hub:
    """What the loop publishes and the viewers read: the newest JPEG, and a bounded queue of events per viewer."""

    def __init__(self, max_viewers: int = MAX_VIEWERS, max_events: int = MAX_EVENTS):
        self.max_viewers, self.max_events = max_viewers, max_events
        self._changed = threading.Condition()
        self.frame = b""
        self.sequence = 0  # frames published so far
        self.published = 0.0  # time.time() of the newest frame (the X-Timestamp of its part)
        self.summary: dict = {}  # the run's summary, refreshed by the loop about once a second
        self.ended: bytes | None = None  # the end event, once the source has ended
        self.closed = False
        self._queues: list[deque[bytes]] = []
        self._streams: Counter[str] = Counter()

    def publish_frame(self, jpeg: bytes) -> None:
        with self._changed:
            self.frame, self.sequence, self.published = jpeg, self.sequence + 1, time.time()
            self._changed.notify_all()

    def publish_event(self, data: str, event: str = "") -> None:
        message = (f"event: {event}\n" if event else "").encode() + f"data: {data}\n\n".encode()
        with self._changed:
            if event == "end":
                self.ended = message
            for queue in self._queues:
                queue.append(message)  # a full queue drops its oldest
            self._changed.notify_all()

    def close(self) -> None:
        """Wake every viewer so that its stream ends (the server is shutting down)."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_frame(self, seen: int, timeout: float) -> tuple[int, bytes, float]:
        """(sequence, jpeg, published) of the newest frame, once it is newer than `seen` or after `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: self.sequence > seen or self.closed, timeout)
            return self.sequence, self.frame, self.published

    def wait_events(self, queue: deque[bytes], timeout: float) -> list[bytes]:
        """The events waiting in `queue` (emptied), once there are any or after `timeout`."""
        with self._changed:
            self._changed.wait_for(lambda: queue or self.closed, timeout)
            messages = list(queue)
            queue.clear()
            return messages

    @contextlib.contextmanager
    def stream(self, kind: str) -> Iterator[bool]:
        """Hold one of max_viewers places for a stream of `kind`; yields False when all are taken."""
        with self._changed:
            admitted = self._streams[kind] < self.max_viewers
            if admitted:
                self._streams[kind] += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._changed:
                    self._streams[kind] -= 1

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[deque[bytes]]:
        """A queue that receives every event from now on (the end event at once if the source has ended)."""
        queue: deque[bytes] = deque(maxlen=self.max_events)
        with self._changed:
            if self.ended:
                queue.append(self.ended)
            self._queues.append(queue)
        try:
            yield queue
        finally:
            with self._changed:
                self._queues.remove(queue)

    def status(self) -> dict:
        with self._changed:
            return {
                "frames_published": self.sequence,
                "ended": self.ended is not None,
                "viewers": dict(self._streams),
                "events_waiting": [len(q) for q in self._queues],
                "run": self.summary,
            }


class LiveServer(ThreadingHTTPServer):
    daemon_threads = True  # a viewer's thread never keeps the process alive

    def __init__(self, address: tuple[str, int], hub: Hub, page: bytes, debug: bool = False):
        self.hub, self.page, self.debug = hub, page, debug
        super().__init__(address, LiveHandler)

    def handle_error(self, request, client_address) -> None:
        # viewers leaving (closed tabs, resets, stuck sockets) are normal; anything else is a bug: traceback
        if self.debug or not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class LiveHandler(BaseHTTPRequestHandler):
    server: LiveServer
    timeout = SOCKET_TIMEOUT
    server_version = "fer-edge"
    sys_version = ""
    # http.server's own errors (414 request line too long, 431 headers too large, 400) as plain text too
    error_message_format = "%(code)d %(message)s\n"
    error_content_type = "text/plain; charset=utf-8"

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.command not in ("GET", "HEAD"):
            self.reply(405, b"405 only GET and HEAD\n", Allow="GET, HEAD")
            return False
        return True

    def do_GET(self) -> None:
        route = ROUTES.get(self.path)  # exact paths: nothing is ever read from the file system
        try:
            if route is None:
                self.reply(404, b"404 not found\n")
            else:
                route(self)
        except (ConnectionError, TimeoutError):  # the viewer left or stopped reading
            self.close_connection = True

    do_HEAD = do_GET

    def log_message(self, format: str, *args) -> None:
        if self.server.debug:
            super().log_message(format, *args)

    def reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8", **headers: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_page(self) -> None:
        self.reply(200, self.server.page, "text/html; charset=utf-8")

    def send_status(self) -> None:
        self.reply(200, json.dumps(self.server.hub.status()).encode(), "application/json")

    def start_stream(self, content_type: str) -> bool:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        return self.command != "HEAD"

    def send_frames(self) -> None:
        hub = self.server.hub
        with hub.stream("video") as admitted:
            if not admitted:
                self.reply(503, b"503 too many viewers\n", Retry_After="10")
                return
            if not self.start_stream(f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}"):
                return
            # each part is followed by the next boundary at once, so a browser shows it without waiting for more
            self.wfile.write(b"--" + BOUNDARY + b"\r\n")
            seen = 0
            while not hub.closed:
                seen, jpeg, published = hub.wait_frame(seen, KEEPALIVE)
                if jpeg:
                    # X-Timestamp: when the frame was published (benchmarks/serve_bench.py measures latency with it)
                    head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Timestamp: {published:.6f}"
                    self.wfile.write(b"".join((head.encode(), b"\r\n\r\n", jpeg, b"\r\n--", BOUNDARY, b"\r\n")))

    def send_events(self) -> None:
        hub = self.server.hub
        with hub.stream("events") as admitted:
            if not admitted:
                self.reply(503, b"503 too many viewers\n", Retry_After="10")
                return
            if not self.start_stream("text/event-stream"):
                return
            with hub.subscribe() as queue:
                self.wfile.write(b"retry: 2000\n\n")
                while not hub.closed:
                    self.wfile.write(b"".join(hub.wait_events(queue, KEEPALIVE)) or b": keep-alive\n\n")


ROUTES = {
    "/": LiveHandler.send_page,
    "/stream.mjpg": LiveHandler.send_frames,
    "/events": LiveHandler.send_events,
    "/status.json": LiveHandler.send_status,
}


def read_page() -> bytes:
    return (resources.files("fer_edge") / "page" / "index.html").read_bytes()


def open_server(hub: Hub, host: str = "127.0.0.1", port: int = 8000, debug: bool = False) -> LiveServer:
    """Bind (not yet serving); a port in use or an unknown host is a usage error."""
    try:
        return LiveServer((host, port), hub, read_page(), debug)
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            advice = "choose another --port (0: any free port)"
        else:  # an unknown name, or an address this machine does not have
            advice = (
                "choose another --host: 127.0.0.1 (this machine only), 0.0.0.0 (every interface) "
                "or an address this machine has"
            )
        raise UsageError(f"cannot serve on {host}:{port} ({error.strerror or error}); {advice}") from None


def start_line(server: LiveServer) -> str:
    host, port = server.server_address[:2]
    if ipaddress.ip_address(host).is_loopback:
        return f"serving http://{host}:{port}/ (only reachable from this machine; --host 0.0.0.0 serves the LAN)"
    if host == "0.0.0.0":
        return f"serving http://<this machine's address>:{port}/ on every network interface (no password)"
    return f"serving http://{host}:{port}/"


def paced(steps: Iterable[Step], stop: threading.Event, realtime: bool = True) -> Iterator[Step]:
    """`steps` until `stop` is set. realtime: never ahead of the frames' timestamps, so a video plays at its own
    speed (a camera's or images' frames are never ahead of the clock); the clock starts again when the
    timestamps jump back (--loop) or the loop falls a second behind."""
    origin = last = None
    for step in steps:
        if stop.is_set():
            return
        if realtime:
            now, timestamp = time.monotonic(), step.frame.timestamp
            if origin is None or timestamp < last or now - (origin + timestamp) > 1.0:
                origin = now - timestamp
            last = timestamp
            if stop.wait(origin + timestamp - now):
                return
        yield step


def announced(steps: Iterable[Step], line: str, log: Callable[[str], None]) -> Iterator[Step]:
    """`steps`, with `line` logged before the first (or at the end of a source without any): a camera that cannot
    be opened says so before any "serving"."""
    said = False
    for step in steps:
        if not said:
            log(line)
            said = True
        yield step
    if not said:
        log(line)


def tapped(steps: Iterable[Step], on_step: Callable[[Step], None] | None) -> Iterator[Step]:
    """`steps`, each handed to `on_step` (an MQTT publisher) as it goes by."""
    for step in steps:
        if on_step is not None:
            on_step(step)
        yield step


def feed(hub: Hub, steps: Iterable[Step], stats: RunStats, quality: int = JPEG_QUALITY) -> None:
    """Publish each step: its overlay as the newest JPEG, each prediction as an event (the JSON of
    `fer-edge run --jsonl`); the summary about once a second."""
    reported = time.monotonic()
    for step in steps:
        canvas = draw(step.frame.image, step.faces, bars=False)  # the page draws the bars
        _, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
        hub.publish_frame(jpeg.tobytes())
        for prediction in step.predictions:
            hub.publish_event(json.dumps(prediction.to_dict()))
        if time.monotonic() - reported >= 1.0:
            hub.summary, reported = stats.summary(), time.monotonic()
    hub.summary = stats.summary()


def serve(
    recognizer: Recognizer,
    source: str,
    options: ServeOptions,
    stats: RunStats,
    log: Callable[[str], None],
    stop: threading.Event | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> None:
    """Serve the page while the runtime loop runs in this thread, until `stop` is set or Ctrl-C (which propagates
    as KeyboardInterrupt), or the source ends with exit_at_end. The server is shut down and the source closed
    however it ends."""
    options.validate()
    stop = stop or threading.Event()
    hub = Hub(options.max_viewers)
    server = open_server(hub, options.host, options.port, options.debug)
    threading.Thread(target=server.serve_forever, name="fer-edge-serve", daemon=True).start()
    try:
        with contextlib.closing(recognizer.steps(source, stats)) as run:
            steps = announced(run, start_line(server), log)
            feed(hub, tapped(paced(steps, stop, options.realtime), on_step), stats)
        if stop.is_set():
            return
        hub.publish_event(json.dumps(hub.summary), event="end")
        if not options.exit_at_end:
            log("the source ended; the page keeps its last frame until Ctrl-C")
            stop.wait()
    finally:
        hub.close()
        server.shutdown()
        server.server_close()
