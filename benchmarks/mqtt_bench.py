"""What publishing to MQTT costs a camera, against a real mosquitto on loopback (issue 45's benchmark).

    python benchmarks/mqtt_bench.py reports/demo_3faces.avi --out reports/mqtt-bench

1. Frames per second of the runtime on the same clip with and without publishing, runs interleaved (A B A B ...)
   so that a busy machine slows both alike; the median of each, and their ratio.
2. The publish cost per frame (Publisher.publish_step, in the frame loop), p50 and p99, over the publishing runs.
3. Events per second sustained with 4 faces at 30 frames/s: the publisher fed 30 steps a second of 4 answered
   faces for --sustain seconds, QoS 1, a subscriber counting what arrives.
4. Memory (RSS) of a looping run paced at 30 frames/s for --minutes, the broker stopped for the middle half.

The clip comes from benchmarks/demo_clip.py (public-domain faces). Needs mosquitto and the mqtt extra.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_edge.default_model import DEFAULT_BUNDLE  # noqa: E402
from fer_edge.mqtt import MqttConfig, Publisher  # noqa: E402
from fer_edge.recognizer import Recognizer  # noqa: E402
from fer_edge.run import Face, FaceStep, RunStats, Step  # noqa: E402
from fer_edge.sources import Frame  # noqa: E402


class Broker:
    def __init__(self, folder: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.config = folder / "mosquitto.conf"
        user = ["user root"] if os.geteuid() == 0 else []
        self.config.write_text("\n".join([f"listener {self.port} 127.0.0.1", "allow_anonymous true", *user]) + "\n")
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def counting_subscriber(port: int, topic: str) -> tuple[object, list[float]]:
    import paho.mqtt.client as mqtt

    arrivals: list[float] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_message = lambda c, u, m: arrivals.append(time.monotonic())
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, arrivals


def timed_pass(recognizer: Recognizer, clip: str, publisher: Publisher | None) -> float:
    """Frames per second of one pass over the clip, publishing each step when a publisher is given."""
    stats = RunStats()
    began = time.perf_counter()
    frames = 0
    for step in recognizer.steps(clip, stats):
        if publisher is not None:
            publisher.publish_step(step)
        frames += 1
    return frames / (time.perf_counter() - began)


def sustained(port: int, seconds: float) -> dict:
    """The publisher fed 4 answered faces at 30 frames/s; what a QoS-1 subscriber receives."""
    subscriber, arrivals = counting_subscriber(port, "bench/sustain/face/#")
    publisher = Publisher(MqttConfig(f"mqtt://127.0.0.1:{port}/bench", camera="sustain"), log=print)
    publisher.wait_connected(10)
    probabilities = {"happy": 0.7, "neutral": 0.3}
    image = np.zeros((4, 4), np.uint8)
    began = time.monotonic()
    frame = 0
    while time.monotonic() - began < seconds:
        faces = tuple(
            FaceStep(i, (10 * i, 0, 50, 50), Face(i, "window", "happy", 0.7, (10 * i, 0, 50, 50), probabilities,
                                                 frame, frame / 30, None, {}))
            for i in range(1, 5)
        )  # fmt: skip
        publisher.publish_step(Step(Frame(image, frame, frame / 30), faces))
        frame += 1
        time.sleep(max(0.0, began + frame / 30 - time.monotonic()))
    sent = publisher.stats.events
    time.sleep(2)  # let the last ones arrive
    publisher.close()
    subscriber.disconnect()
    subscriber.loop_stop()
    window = [t for t in arrivals if began + 1 <= t <= began + seconds]  # the first second warms up
    return {
        "seconds": seconds,
        "events_sent": sent,
        "events_received": len(arrivals),
        "lost": sent - len(arrivals),
        "events_per_second": len(window) / (seconds - 1),
    }


def memory_soak(clip: str, port: int, broker: Broker, minutes: float, log) -> dict:
    """RSS every 10 s of a looping run paced at 30 frames/s, the broker away for the middle half."""
    recognizer = Recognizer(DEFAULT_BUNDLE, threads=1, loop=True)
    publisher = Publisher(MqttConfig(f"mqtt://127.0.0.1:{port}/bench", camera="soak"), log=log)
    publisher.wait_connected(10)
    samples, began, frame = [], time.monotonic(), 0
    total = minutes * 60
    stopped = restarted = False
    next_sample = 0.0
    for step in recognizer.steps(clip, RunStats()):
        elapsed = time.monotonic() - began
        if not stopped and elapsed >= total / 4:
            broker.stop()
            stopped = True
        if stopped and not restarted and elapsed >= 3 * total / 4:
            broker.start()
            restarted = True
        publisher.publish_step(step)
        if elapsed >= next_sample:
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
            samples.append(
                {
                    "seconds": round(elapsed, 1),
                    "rss_mb": round(rss, 1),
                    "broker": "up" if (not stopped or restarted) else "away",
                }
            )
            next_sample += 10
        if elapsed >= total:
            break
        frame += 1
        time.sleep(max(0.0, began + frame / 30 - time.monotonic()))
    publisher.close()
    away = [s["rss_mb"] for s in samples if s["broker"] == "away"]
    return {
        "minutes": minutes,
        "samples": samples,
        "rss_start_mb": samples[1]["rss_mb"] if len(samples) > 1 else None,
        "rss_end_mb": samples[-1]["rss_mb"],
        "rss_max_mb": max(s["rss_mb"] for s in samples),
        "rss_growth_while_away_mb": round(away[-1] - away[0], 1) if len(away) > 1 else None,
        "events_dropped": publisher.stats.dropped,
        "events_sent": publisher.stats.events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", help="A video with faces (benchmarks/demo_clip.py).")
    parser.add_argument("--passes", type=int, default=5, help="Passes with and without publishing, interleaved.")
    parser.add_argument("--sustain", type=float, default=30.0, help="Seconds of 4 faces at 30 frames/s.")
    parser.add_argument("--minutes", type=float, default=10.0, help="Memory soak length (0: skip).")
    parser.add_argument("--out", type=Path, default=Path("reports/mqtt-bench"))
    args = parser.parse_args()
    results: dict = {"clip": args.clip, "machine": os.uname().machine, "cpus": os.cpu_count(), "threads": 1}
    with tempfile.TemporaryDirectory() as folder:
        broker = Broker(Path(folder))
        broker.start()
        try:
            recognizer = Recognizer(DEFAULT_BUNDLE, threads=1)
            publisher = Publisher(MqttConfig(f"mqtt://127.0.0.1:{broker.port}/bench", camera="fps"), log=print,
                                  keep_timings=True)  # fmt: skip
            publisher.wait_connected(10)
            timed_pass(recognizer, args.clip, None)  # warm-up
            plain, published = [], []
            for _ in range(args.passes):
                plain.append(timed_pass(recognizer, args.clip, None))
                published.append(timed_pass(recognizer, args.clip, publisher))
            cost = publisher.stats.publish_ms
            results["fps"] = {
                "without_mqtt": statistics.median(plain),
                "with_mqtt": statistics.median(published),
                "ratio": statistics.median(published) / statistics.median(plain),
                "passes": args.passes,
                "events": publisher.stats.events,
            }
            results["publish_ms_per_frame"] = {
                "p50": float(np.percentile(cost, 50)),
                "p99": float(np.percentile(cost, 99)),
                "frames": len(cost),
            }
            publisher.close()
            print(json.dumps(results, indent=2), flush=True)
            results["sustained"] = sustained(broker.port, args.sustain)
            print(json.dumps(results["sustained"], indent=2), flush=True)
            if args.minutes > 0:
                results["memory"] = memory_soak(args.clip, broker.port, broker, args.minutes, print)
        finally:
            broker.stop()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mqtt-bench.json").write_text(json.dumps(results, indent=2) + "\n")
    fps, cost = results["fps"], results["publish_ms_per_frame"]
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| frames/s without --mqtt (median of {fps['passes']}) | {fps['without_mqtt']:.1f} |",
        f"| frames/s with --mqtt | {fps['with_mqtt']:.1f} ({fps['ratio']:.1%}) |",
        f"| publish cost per frame p50 / p99 | {cost['p50']:.3f} / {cost['p99']:.3f} ms |",
        f"| events/s sustained, 4 faces at 30 frames/s, QoS 1 | {results['sustained']['events_per_second']:.1f} "
        f"({results['sustained']['lost']} of {results['sustained']['events_sent']} lost) |",
    ]
    if "memory" in results:
        memory = results["memory"]
        growth = memory["rss_growth_while_away_mb"]
        lines.append(
            f"| RSS over {memory['minutes']:g} min, broker away for the middle half | "
            f"start {memory['rss_start_mb']} MB, max {memory['rss_max_mb']} MB, end {memory['rss_end_mb']} MB; "
            f"while away {'n/a' if growth is None else f'{growth:+} MB'}, {memory['events_dropped']} events dropped |"
        )
    (args.out / "mqtt-bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
