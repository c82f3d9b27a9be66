"""Publishing to MQTT, against a real broker: Debian's mosquitto on a free loopback port, started per test.

The tests skip, saying why, where mosquitto or paho-mqtt is absent (.ci/run installs mosquitto as it does chromium).
"""

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_noise_clip as write_clip
from typer.testing import CliRunner

from fer_edge.cli import app
from fer_edge.errors import UsageError
from fer_edge.mqtt import camera_name, dominant, parse_broker
from fer_edge.run import Face
from fer_edge.watch import Fleet

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None
)
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt-get install mosquitto)")
CLI = [sys.executable, "-c", "from fer_edge.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    """A mosquitto process on 127.0.0.1:port, which a test may stop and start again on the same port."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None):
        self.port, self.folder = free_port(), folder
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:  # as root, mosquitto becomes user "mosquitto", who cannot read pytest's folders
            lines.append("user root")
        if users:
            passwords = folder / "passwords"
            for i, (user, password) in enumerate(users.items()):
                flags = ["-c"] if i == 0 else []
                subprocess.run(["mosquitto_passwd", "-b", *flags, str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}/fleet"


@pytest.fixture
def broker(tmp_path) -> Iterator[Mosquitto]:
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt (the mqtt extra) is not installed")
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


class Listener:
    """A subscriber that records (topic, payload, retained, time) and subscribes again after a reconnect."""

    def __init__(self, port: int, topics: str = "#"):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics, qos=1)
        self.client.on_message = self._record
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _record(self, client, userdata, message) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain), time.monotonic()))

    def where(self, prefix: str) -> list[tuple[str, bytes, bool, float]]:
        with self.lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def wait_for(self, prefix: str, count: int = 1, seconds: float = 10) -> list:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.where(prefix)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.where(prefix)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publishing_run(tmp_path: Path, url: str, camera: str, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """fer-edge run on a looping face-free clip (no detection: every frame is a face), publishing to url."""
    clip = write_clip(tmp_path / f"{camera}.avi")
    command = [*CLI, "run", "--source", str(clip), "--no-detect", "--loop", "--jsonl", os.devnull]
    return subprocess.Popen(
        [*command, "--mqtt", url, "--camera", camera, *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    return stderr


# The pieces, without a broker


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mqtt://broker.lan/home/cams", ("broker.lan", 1883, "home/cams", False)),
        ("mqtts://10.0.0.2:8884/x/", ("10.0.0.2", 8884, "x", True)),
        ("mqtt://localhost", ("localhost", 1883, "fer-edge", False)),  # no path: the default prefix
    ],
)
def test_broker_urls_give_host_port_prefix_and_tls(url, expected):
    broker = parse_broker(url)
    assert (broker.host, broker.port, broker.prefix, broker.tls) == expected


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("http://host/p", "mqtt://host[:port][/prefix]"),
        ("mqtt:///p", "mqtt://host[:port][/prefix]"),
        ("broker.lan", "did you mean mqtt://broker.lan/fer-edge?"),
        ("localhost:1884", "did you mean mqtt://localhost:1884/fer-edge?"),
        ("mqtt://user:secret@host/p", "FER_EDGE_MQTT_USERNAME"),
        ("mqtt://host/a/+", "cannot hold + or #"),
    ],
)
def test_bad_broker_urls_are_one_usage_line(url, fragment):
    with pytest.raises(UsageError, match=re.escape(fragment)):
        parse_broker(url)


def test_camera_names_are_topic_safe_and_the_dominant_emotion_is_the_most_common():
    assert camera_name("front door/#1") == "front-door-1"
    assert camera_name(None) == camera_name(socket.gethostname())
    assert dominant(["happy", "sadness", "sadness"]) == "sadness"
    assert dominant(["anger", "happy"]) == "anger"  # a tie goes to the first (largest) face
    assert dominant([]) == "none"


def test_the_fleet_table_takes_states_and_statuses_and_ignores_other_topics():
    fleet = Fleet("fleet")
    fleet.update("fleet/a/status", b"online")
    fleet.update("fleet/a/state", b'{"faces": 2, "dominant": "happy", "fps": 14.9}')
    assert fleet.update("fleet/a/face/1", b"{}") is None and fleet.update("other/a/state", b"{}") is None
    assert fleet.update("fleet/b/state", b"not json") is None
    [camera] = [c for c in fleet.cameras.values() if c.name == "a"]
    assert (camera.status, camera.faces, camera.dominant, camera.fps) == ("online", 2, "happy", 14.9)


def test_options_that_need_mqtt_say_so_and_a_missing_paho_names_the_extra(monkeypatch, tmp_path):
    result = CliRunner().invoke(app, ["run", "--source", str(tmp_path), "--camera", "door"])
    assert result.exit_code == 2 and "--camera need --mqtt" in result.output
    import builtins

    real_import = builtins.__import__

    def no_paho(name, *args, **kwargs):
        if name.startswith("paho"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_paho)
    result = CliRunner().invoke(app, ["run", "--source", str(write_clip(tmp_path / "c.avi")), "--mqtt", "mqtt://h/p"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].endswith("pip install 'fer-edge[mqtt]'")


# Against mosquitto


@needs_broker
def test_events_state_and_status_arrive_on_their_topics_with_the_documented_schema(broker, tmp_path):
    listener = Listener(broker.port)
    clip = write_clip(tmp_path / "clip.avi")
    done = subprocess.run(
        [*CLI, "run", "--source", str(clip), "--no-detect", "--mqtt", broker.url, "--camera", "hall"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    events = listener.wait_for("fleet/hall/face/", 4)
    listener.close()
    assert [m[0] for m in events] == ["fleet/hall/face/1"] * 4
    assert [json.loads(m[1]) for m in events] == lines, "each event is the JSON line"
    assert set(json.loads(events[0][1])) == {f.name for f in dataclasses.fields(Face)}
    statuses = [m[1] for m in listener.where("fleet/hall/status")]
    assert statuses[0] == b"online" and statuses[-1] == b"offline"
    state = json.loads(listener.where("fleet/hall/state")[-1][1])
    assert state["faces"] == 1 and state["dominant"] == lines[-1]["label"] and {"fps", "timestamp"} <= set(state)
    assert "4 events" in done.stderr and "0 dropped" in done.stderr


@needs_broker
def test_the_state_is_retained_for_a_late_subscriber_and_home_assistant_finds_the_camera(broker, tmp_path):
    run = publishing_run(tmp_path, broker.url, "porch", "--ha-discovery")
    early = Listener(broker.port, "fleet/porch/state")
    assert early.wait_for("fleet/porch/state"), "a state was published"
    early.close()
    late = Listener(broker.port)  # subscribes after the state was sent
    retained = late.wait_for("fleet/porch/state", 1, 5)
    configs = late.wait_for("homeassistant/sensor/fer_edge_porch/", 2, 5)
    late.close()
    finish(run)
    assert retained[0][2], "the late subscriber gets the retained state"
    sensors = {m[0]: json.loads(m[1]) for m in configs}
    emotion = sensors["homeassistant/sensor/fer_edge_porch/emotion/config"]
    faces = sensors["homeassistant/sensor/fer_edge_porch/faces/config"]
    assert emotion["state_topic"] == faces["state_topic"] == "fleet/porch/state"
    assert emotion["availability_topic"] == "fleet/porch/status" and emotion["value_template"].count("dominant")
    assert emotion["device"]["identifiers"] == faces["device"]["identifiers"] == ["fer_edge_porch"]
    assert all(m[2] for m in configs), "discovery configs are retained"


@needs_broker
def test_the_last_will_says_offline_when_the_process_is_killed(broker, tmp_path):
    listener = Listener(broker.port, "fleet/garage/status")
    run = publishing_run(tmp_path, broker.url, "garage")
    assert [m[1] for m in listener.wait_for("fleet/garage/status")] == [b"online"]
    run.kill()  # no goodbye: only the broker's will can say offline
    run.wait(10)
    statuses = listener.wait_for("fleet/garage/status", 2, 10)
    listener.close()
    assert [m[1] for m in statuses] == [b"online", b"offline"]


@needs_broker
def test_a_broker_restart_mid_run_loses_no_frame_and_publishing_resumes_within_5_s(broker, tmp_path):
    run = publishing_run(tmp_path, broker.url, "yard")
    listener = Listener(broker.port, "fleet/yard/face/#")
    assert listener.wait_for("fleet/yard/face/", 5), "events flow"
    listener.close()
    broker.stop()
    time.sleep(2)  # frames go on; events are dropped and counted
    assert run.poll() is None, "the run goes on without its broker"
    broker.start()
    restarted = time.monotonic()
    listener = Listener(broker.port, "fleet/yard/face/#")
    resumed = listener.wait_for("fleet/yard/face/", 1, 10)
    listener.close()
    stderr = finish(run)
    assert resumed and resumed[0][3] - restarted <= 5.0, "publishing resumes within 5 s"
    assert "went away" in stderr and "publishing resumes" in stderr and "Traceback" not in stderr
    dropped = int(stderr.split(" dropped while")[0].rsplit(" ", 1)[1])
    assert dropped > 0


@needs_broker
def test_no_broker_at_start_is_one_line_and_the_run_goes_on(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt (the mqtt extra) is not installed")
    clip = write_clip(tmp_path / "clip.avi", frames=30)
    done = subprocess.run(
        [*CLI, "run", "--source", str(clip), "--no-detect", "--mqtt", f"mqtt://127.0.0.1:{free_port()}/fleet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 28, "every frame answered"
    assert done.stderr.count("is not reachable") <= 1 and "Traceback" not in done.stderr
    assert "0 events" in done.stderr and "28 dropped" in done.stderr.replace("dropped while", "dropped")


@needs_broker
def test_wrong_credentials_are_one_line(tmp_path):
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt (the mqtt extra) is not installed")
    server = Mosquitto(tmp_path, users={"camera": "right"})
    server.start()
    try:
        wrong = {"FER_EDGE_MQTT_USERNAME": "camera", "FER_EDGE_MQTT_PASSWORD": "wrong"}
        run = publishing_run(tmp_path, server.url, "attic", env=wrong)
        time.sleep(4)  # a few reconnect attempts
        stderr = finish(run)
    finally:
        server.stop()
    refused = [line for line in stderr.splitlines() if "refused the credentials" in line]
    assert len(refused) == 1 and "FER_EDGE_MQTT_PASSWORD" in refused[0]
    assert "Traceback" not in stderr


@needs_broker
def test_watch_shows_two_cameras_from_two_publishing_processes(broker, tmp_path):
    runs = [publishing_run(tmp_path, broker.url, name) for name in ("east", "west")]
    try:
        listener = Listener(broker.port, "fleet/+/state")
        listener.wait_for("fleet/west/state", 1)
        listener.wait_for("fleet/east/state", 1)
        listener.close()
        watched = subprocess.run(
            [*CLI, "watch", broker.url, "--seconds", "2"], capture_output=True, text=True, timeout=30
        )
    finally:
        for run in runs:
            finish(run)
    assert watched.returncode == 0, watched.stderr
    rows = [line for line in watched.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["east", "west"]
    assert all("online" in row for row in rows)


@needs_broker
def test_serve_publishes_the_same_events(broker, tmp_path):
    listener = Listener(broker.port, "fleet/stage/#")
    clip = write_clip(tmp_path / "clip.avi")
    command = ["serve", "--source", str(clip), "--no-detect", "--port", "0", "--exit-at-end", "--no-realtime"]
    done = subprocess.run(
        [*CLI, *command, "--mqtt", broker.url, "--camera", "stage"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    events = listener.wait_for("fleet/stage/face/", 4)
    listener.close()
    assert len(events) == 4 and {json.loads(m[1])["kind"] for m in events} == {"window"}
    assert [m[1] for m in listener.where("fleet/stage/status")][-1] == b"offline"


@needs_broker
def test_discovery_is_sent_again_when_home_assistant_comes_back(broker, tmp_path):
    import paho.mqtt.publish

    listener = Listener(broker.port, "homeassistant/sensor/fer_edge_den/#")
    run = publishing_run(tmp_path, broker.url, "den", "--ha-discovery")
    assert len(listener.wait_for("homeassistant/sensor/fer_edge_den/", 2)) == 2
    paho.mqtt.publish.single("homeassistant/status", "online", hostname="127.0.0.1", port=broker.port)
    again = listener.wait_for("homeassistant/sensor/fer_edge_den/", 4)
    listener.close()
    finish(run)
    assert len(again) == 4, "Home Assistant restarted: both sensors announced again"


def test_watch_without_a_broker_and_run_with_a_bad_url_are_one_line():
    pytest.importorskip("paho.mqtt.client", reason="paho-mqtt (the mqtt extra) is not installed")
    watched = CliRunner().invoke(app, ["watch", f"mqtt://127.0.0.1:{free_port()}/fleet", "--seconds", "1"])
    assert watched.exit_code == 1 and watched.output.startswith("error: MQTT broker mqtt://127.0.0.1:")
    assert "is not reachable" in watched.output and len(watched.output.strip().splitlines()) == 1
    ran = CliRunner().invoke(app, ["run", "--source", "0", "--mqtt", "broker.lan"])
    assert ran.exit_code == 2 and "did you mean mqtt://broker.lan/fer-edge?" in ran.output
