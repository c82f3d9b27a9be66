"""A screenshot of the `fer-edge serve` page in headless Chromium, a few seconds into a synthetic noise video (no
dataset image): docs/serve.png for the README, and the eye of tests/test_serve.py's browser tests (`screenshot`, and
`page_state`: what the page shows as data, its timelines included).

    python benchmarks/serve_screenshot.py --out docs/serve.png
    python benchmarks/demo_clip.py reports/demo_3faces.avi    # public-domain faces (scikit-image's astronaut)
    python benchmarks/serve_screenshot.py --source reports/demo_3faces.avi --seconds 9 --size 1100x807 \\
        --out docs/serve.png

Chromium's own --screenshot is taken at the page's load event, which a multipart image fires with its first
frame, before the bars and the timeline have had their events. So the page is driven over the DevTools protocol
on a pipe (--remote-debugging-pipe: NUL-terminated JSON, commands on the browser's file descriptor 3, answers on
4), with the standard library only: open the page, wait, capture. Needs Chromium (Debian: apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
    "about:blank",
)
TRAMPOLINE = (
    "import os, sys; a, b = int(sys.argv[1]), int(sys.argv[2]); os.dup2(a, 3); os.dup2(b, 4); os.close(a); "
    "os.close(b); os.execvp(sys.argv[3], sys.argv[3:])"
)


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A headless Chromium and its DevTools pipe; `call` sends one command and returns its result."""

    def __init__(self, chromium: str, profile: str, size: tuple[int, int], timeout: float = 30.0):
        to_browser, from_browser = os.pipe(), os.pipe()
        # the browser's ends go to its descriptors 3 and 4 through a tiny Python trampoline (no shell: dash takes
        # single-digit descriptors only); above 4 first, so that neither move clobbers the other
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 5) for fd in (to_browser[0], from_browser[1])]
        os.close(to_browser[0])
        os.close(from_browser[1])
        command = [sys.executable, "-c", TRAMPOLINE, *map(str, ends), chromium, *FLAGS, f"--user-data-dir={profile}"]
        command.append(f"--window-size={size[0]},{size[1]}")
        self.process = subprocess.Popen(command, pass_fds=ends, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in ends:
            os.close(fd)
        self.send, self.receive, self.timeout = to_browser[1], from_browser[0], timeout
        self.last_id, self.buffer = 0, b""

    def call(self, method: str, session: str | None = None, **params) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.send, json.dumps(message).encode() + b"\0")
        while True:  # events and other answers are skipped
            while b"\0" not in self.buffer:
                if not select.select([self.receive], [], [], self.timeout)[0]:
                    raise TimeoutError(f"Chromium did not answer {method} within {self.timeout:g} s")
                chunk = os.read(self.receive, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"Chromium closed its DevTools pipe during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.last_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.send)
            os.close(self.receive)


@contextlib.contextmanager
def opened(url: str, size: tuple[int, int] = (1100, 800), seconds: float = 4.0) -> Iterator[tuple[DevTools, str]]:
    """A headless Chromium showing `url` in a `size` (width, height) viewport for `seconds`: (browser, session)."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        browser = DevTools(chromium, profile, size)
        try:
            target = browser.call("Target.createTarget", url=url)["targetId"]
            session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            time.sleep(seconds)
            yield browser, session
        finally:
            browser.close()


def screenshot(url: str, out: Path, size: tuple[int, int] = (1100, 800), seconds: float = 4.0) -> None:
    """Open `url` in a `size` (width, height) viewport, wait `seconds`, write what it shows to `out` (PNG)."""
    with opened(url, size, seconds) as (browser, session):
        png = base64.b64decode(browser.call("Page.captureScreenshot", session, format="png")["data"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)


# What the page shows, as data: each face's title and how much of its timeline is painted (the canvas's middle row).
# Chromium's --dump-dom is no help here: it dumps at the load event, which the multipart image fires at its first
# frame (about a second), whatever --timeout says, and a canvas' drawing is not in the DOM anyway.
PAGE_STATE = """JSON.stringify({
  state: document.getElementById("state").textContent,
  span: document.getElementById("span")?.textContent ?? null,
  titles: [...document.querySelectorAll("#faces .title")].map((node) => node.textContent),
  rows: [...document.querySelectorAll("#rows .row")].map((row) => {
    const canvas = row.querySelector("canvas");
    if (!canvas.width || !canvas.height) return {name: row.firstChild.textContent, filled: 0};
    const line = canvas.getContext("2d").getImageData(0, canvas.height >> 1, canvas.width, 1).data;
    let painted = 0;
    for (let i = 3; i < line.length; i += 4) painted += line[i] > 0;
    return {name: row.firstChild.textContent, filled: painted / canvas.width};
  }),
})"""


def page_state(url: str, seconds: float = 3.0, size: tuple[int, int] = (1100, 800)) -> dict:
    """Open `url`, wait `seconds`, and return PAGE_STATE: {state, span, titles: [...], rows: [{name, filled}]}."""
    with opened(url, size, seconds) as (browser, session):
        answer = browser.call("Runtime.evaluate", session, expression=PAGE_STATE, returnByValue=True)
    if "exceptionDetails" in answer:
        raise RuntimeError(f"the page's state could not be read: {answer['exceptionDetails']}")
    return json.loads(answer["result"]["value"])


def write_noise_video(path: Path, size: tuple[int, int] = (640, 480), count: int = 150, fps: float = 30) -> Path:
    """Drifting blurred noise whose contrast swells and fades (so that the labels change now and then), nothing
    like a face: grayscale MJPG, no dataset image anywhere."""
    rng = np.random.default_rng(0)
    field = cv2.GaussianBlur(rng.integers(0, 256, (size[1] * 2, size[0] * 2), dtype=np.uint8), (0, 0), 3)
    field = cv2.normalize(field, None, 0, 1, cv2.NORM_MINMAX, cv2.CV_32F)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size, isColor=False)
    for n in range(count):
        angle = 2 * np.pi * n / count
        x, y = int(size[0] / 2 * (1 + np.sin(angle))), int(size[1] / 2 * (1 + np.cos(angle)))
        contrast = 60 + 90 * (0.5 + 0.5 * np.cos(2 * angle))  # grey levels between the darkest and brightest
        frame = 120 + contrast * (field[y : y + size[1], x : x + size[0]] - 0.5)
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/serve.png"))
    parser.add_argument("--seconds", type=float, default=12.0, help="Wait before the capture (the timeline grows).")
    parser.add_argument("--size", default="1100x760", help="Viewport, WIDTHxHEIGHT.")
    parser.add_argument(
        "--source", type=Path, help="A video of faces, served with detection (benchmarks/demo_clip.py makes one)."
    )
    args = parser.parse_args(argv)
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.recognizer import Recognizer
    from fer_edge.run import RunStats
    from fer_edge.serve import ServeOptions, serve

    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        video = args.source or write_noise_video(Path(folder) / "noise.avi")
        recognizer = Recognizer(DEFAULT_BUNDLE, detect=args.source is not None, loop=True)
        lines: queue.Queue[str] = queue.Queue()
        stop = threading.Event()
        server = threading.Thread(
            target=serve, args=(recognizer, str(video), ServeOptions(port=0), RunStats(), lines.put, stop)
        )
        server.start()
        try:
            url = lines.get(timeout=60).split()[1]  # "serving http://127.0.0.1:PORT/ (...)"
            screenshot(url, args.out, (width, height), args.seconds)
        finally:
            stop.set()
            server.join()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
