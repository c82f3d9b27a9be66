"""How well `fer-edge serve` feeds a viewer: frames per second delivered to one MJPEG client over loopback, the
newest frame's latency (publish -> the client holds the whole JPEG, from each part's X-Timestamp header), and the
process's memory while viewers that never read stay connected.

    python benchmarks/serve_bench.py --seconds 20 --stall-seconds 30        # targets: >= 15 frames/s at 640x480,
    python benchmarks/serve_bench.py --detect --threads 1                   # p90 latency <= 150 ms, flat memory

The server, the runtime loop (the shipped model, one inference thread by default) and the client share this process,
as a Pi would share its cores; a synthetic noise video (no dataset image) is looped at its own frame rate unless
--no-realtime. Not a test: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import socket
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import cv2
import numpy as np

from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.recognizer import Recognizer
from fer_edge.run import RunStats
from fer_edge.serve import ServeOptions, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the client reads the stream.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Seconds read before counting.")
    parser.add_argument("--stall-seconds", type=float, default=30.0, help="How long the stalled viewers stay.")
    parser.add_argument("--size", default="640x480", help="Video frame size, WIDTHxHEIGHT.")
    parser.add_argument("--fps", type=float, default=30.0, help="The synthetic video's frame rate.")
    parser.add_argument("--detect", action="store_true", help="Run the face detector (default: off).")
    parser.add_argument("--threads", type=int, default=1, help="Inference threads.")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false", help="As fast as the model runs.")
    parser.add_argument("--json", type=Path, help="Also write the numbers here.")
    return parser.parse_args(argv)


def write_noise_video(path: Path, size: tuple[int, int], fps: float, count: int = 90) -> Path:
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size, isColor=False)
    for _ in range(count):
        writer.write(cv2.GaussianBlur(rng.integers(0, 256, size[::-1], dtype=np.uint8), (0, 0), 2))
    writer.release()
    return path


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def status(port: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/status.json")
    return json.loads(connection.getresponse().read())


def read_stream(port: int, seconds: float, warmup: float) -> dict:
    """Read /stream.mjpg for warmup + seconds; frames/s and latency (ms) over the last `seconds`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    response.readline()  # the first boundary
    latencies, started = [], time.perf_counter()
    counting_from = started + warmup
    while (now := time.perf_counter()) < counting_from + seconds:
        headers = {}
        while line := response.readline().strip():
            name, value = line.decode().split(":", 1)
            headers[name.lower()] = value.strip()
        response.read(int(headers["content-length"]))
        received = time.time()
        response.readline()  # the \r\n that ends the part
        response.readline()  # the next boundary
        if now >= counting_from:
            latencies.append((received - float(headers["x-timestamp"])) * 1000)
    connection.close()
    return {
        "frames_per_second": len(latencies) / seconds,
        "latency_ms": {q: float(np.percentile(latencies, int(q[1:]))) for q in ("p50", "p90", "p99")},
        "latency_ms_max": float(max(latencies)),
    }


def stalled_viewer(port: int, path: str) -> socket.socket:
    viewer = socket.socket()
    viewer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    viewer.connect(("127.0.0.1", port))
    viewer.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    return viewer


def stall(port: int, seconds: float) -> dict:
    """Two viewers that never read (video and events) for `seconds`: memory and the loop's pace, once a second."""
    before = rss_mib()
    viewers = [stalled_viewer(port, "/stream.mjpg"), stalled_viewer(port, "/events")]
    samples = []
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            time.sleep(1.0)
            now = status(port)
            samples.append((rss_mib(), now["frames_published"], now["viewers"], max(now["events_waiting"] or [0])))
    finally:
        for viewer in viewers:
            viewer.close()
    rss = [s[0] for s in samples]
    return {
        "rss_mib_before": before,
        "rss_mib_first_last_max": [rss[0], rss[-1], max(rss)],
        "frames_per_second_during_stall": (samples[-1][1] - samples[0][1]) / max(1, len(samples) - 1),
        "stalled_viewers_at_end": samples[-1][2],
        "largest_event_backlog": max(s[3] for s in samples),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    with TemporaryDirectory() as folder:
        video = write_noise_video(Path(folder) / "noise.avi", (width, height), args.fps)
        recognizer = Recognizer(DEFAULT_BUNDLE, detect=args.detect, loop=True, threads=args.threads)
        lines: queue.Queue[str] = queue.Queue()
        stop = threading.Event()
        options = ServeOptions(port=0, realtime=args.realtime)
        server = threading.Thread(
            target=serve, args=(recognizer, str(video), options, RunStats(), lines.put, stop), daemon=True
        )
        server.start()
        try:
            port = int(lines.get(timeout=60).split()[1].rstrip("/").rsplit(":", 1)[1])
            result = {"size": args.size, "detect": args.detect, "threads": args.threads, "realtime": args.realtime}
            result["client"] = read_stream(port, args.seconds, args.warmup)
            result["stall"] = stall(port, args.stall_seconds)
            result["run"] = {k: v for k, v in status(port)["run"].items() if k in ("frames_per_second", "latency_ms")}
        finally:
            stop.set()
            server.join(10)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
