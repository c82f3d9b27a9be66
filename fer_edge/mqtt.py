"""A camera's results on an MQTT broker: per-face events, a retained state, availability, Home Assistant discovery.

Topics (PREFIX from the URL, CAMERA from --camera, the host name by default):

    PREFIX/CAMERA/face/ID   one event per answered face: the JSON line of `fer-edge run` (not retained)
    PREFIX/CAMERA/state     {"faces", "dominant", "fps", "timestamp"}: retained, on change, at most every N ms
    PREFIX/CAMERA/status    "online", or "offline" (retained; also the last will, sent by the broker if we vanish)

With Home Assistant discovery, each camera is a device with two sensors (dominant emotion, faces), announced on
`homeassistant/sensor/fer_edge_CAMERA/{emotion,faces}/config` (retained) and again whenever Home Assistant says
`online` on `homeassistant/status`.

The frame loop never waits on the network: it puts each frame's faces on a bounded queue; a sending thread turns them
into JSON and hands them to paho-mqtt, whose own thread talks to the broker. While the broker is away events are
dropped and counted instead of queued, so memory stays flat.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fer_edge.errors import UsageError, require

USERNAME_VARIABLE, PASSWORD_VARIABLE = "FER_EDGE_MQTT_USERNAME", "FER_EDGE_MQTT_PASSWORD"
DEFAULT_PREFIX = "fer-edge"  # the topic prefix of a --mqtt URL without a path
DISCOVERY_PREFIX = "homeassistant"
RECONNECT_DELAYS = (1, 4)  # seconds: paho doubles from the first to the second; 4 keeps a return within 5 s
MAX_QUEUED = 1000  # messages paho may hold for the broker (QoS 1 in flight); more are dropped and counted
QUEUED_FRAMES = 300  # frames waiting for the sending thread (10 s at 30 frames/s); more are dropped and counted
Log = Callable[[str], None]


@dataclass(frozen=True)
class Broker:
    """Where to publish, from mqtt://host[:port][/prefix] or mqtts://host[:port][/prefix]."""

    host: str
    port: int
    prefix: str
    tls: bool

    @property
    def address(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker(url: str) -> Broker:
    """mqtt://host[:port][/prefix] or mqtts://...; the prefix defaults to DEFAULT_PREFIX."""
    parts = urlsplit(url)
    if "://" not in url and url and not any(c in url for c in "/@ "):  # a bare host or host:port
        raise UsageError(f"--mqtt takes a URL: did you mean mqtt://{url}/{DEFAULT_PREFIX}?")
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise UsageError(f"--mqtt takes mqtt://host[:port][/prefix] (or mqtts://), got {url!r}")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if parts.username or parts.password:
        raise UsageError(f"put no credentials in --mqtt; set {USERNAME_VARIABLE} and {PASSWORD_VARIABLE}")
    if any(c in prefix for c in "+#"):
        raise UsageError(f"the MQTT prefix cannot hold + or #, got {prefix!r}")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise UsageError(f"--mqtt has a bad port in {url!r}") from None
    return Broker(parts.hostname, port, prefix, parts.scheme == "mqtts")


def camera_name(name: str | None = None) -> str:
    """A topic-safe camera name: the given one, or the host name."""
    raw = name if name is not None else socket.gethostname()
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-")
    if not safe:
        raise UsageError(f"--camera needs letters or digits, got {raw!r}")
    return safe


def dominant(labels: list[str]) -> str:
    """The label most faces show ("none" without a face); ties go to the label met first (the largest face)."""
    if not labels:
        return "none"
    counts = Counter(labels)
    return max(labels, key=lambda label: counts[label])


@dataclass(frozen=True)
class MqttConfig:
    url: str
    camera: str | None = None  # None: the host name
    qos: int = 1
    ca: str | None = None  # mqtts: the broker's CA certificate (None: the system's)
    state_every_ms: int = 1000  # the state is sent on change, at most this often
    ha_discovery: bool = False

    def validate(self) -> None:
        parse_broker(self.url)
        camera_name(self.camera)
        if self.qos not in (0, 1, 2):
            raise UsageError(f"--mqtt-qos takes 0, 1 or 2, got {self.qos}")
        if self.state_every_ms < 0:
            raise UsageError(f"--mqtt-state-every must be at least 0 ms, got {self.state_every_ms}")
        if self.ca and not os.path.isfile(self.ca):
            raise UsageError(f"--mqtt-ca {self.ca} does not exist; pass the broker's CA certificate (PEM)")
        if self.ca and not self.url.startswith("mqtts://"):
            raise UsageError("--mqtt-ca needs an mqtts:// broker")


@dataclass
class PublishStats:
    events: int = 0  # per-face events handed to the client
    states: int = 0
    dropped: int = 0  # events dropped while the broker was away (or its queue was full); a state waits instead
    publish_ms: list[float] = field(default_factory=list)  # time publish_step took, per frame (benchmarks)


class Publisher:
    """One camera's connection to the broker. `publish_step` is called from the frame loop and never blocks."""

    def __init__(self, config: MqttConfig, log: Log, keep_timings: bool = False):
        config.validate()
        mqtt = require("paho.mqtt.client", "mqtt")
        self.config, self.log, self.keep_timings = config, log, keep_timings
        self.broker = parse_broker(config.url)
        self.camera = camera_name(config.camera)
        self.base = f"{self.broker.prefix}/{self.camera}"
        self.stats = PublishStats()
        self._last_state: tuple | None = None  # (faces, dominant) as last sent
        self._pending: tuple = (0, "none")  # as the latest frame says
        self._state_sent = 0.0
        self._fps_clock = time.monotonic()
        self._fps_frames = 0
        self._fps = 0.0
        self._error: str | None = None  # the last problem reported, so that a retry loop logs it once
        self._closing = False
        self._mqtt = mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fer-edge-{self.camera}-{os.getpid()}")
        username, password = os.environ.get(USERNAME_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
        if username:
            client.username_pw_set(username, password)
        if self.broker.tls:
            client.tls_set(ca_certs=config.ca)
        client.will_set(f"{self.base}/status", "offline", qos=1, retain=True)
        client.max_queued_messages_set(MAX_QUEUED)
        client.reconnect_delay_set(*RECONNECT_DELAYS)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self.client = client
        self._connected = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED_FRAMES)
        self._sender = threading.Thread(target=self._work, name="fer-edge-mqtt-sender", daemon=True)
        self._sender.start()
        client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()

    def _report(self, problem: str) -> None:
        if problem != self._error:
            self._error = problem
            self.log(problem)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            words = str(reason_code)
            if "authori" in words.lower() or "password" in words.lower():
                self._report(
                    f"MQTT broker {self.broker.address} refused the credentials ({words}); check {USERNAME_VARIABLE} "
                    f"and {PASSWORD_VARIABLE}. The run goes on; events are dropped and counted"
                )
            else:
                self._report(f"MQTT broker {self.broker.address} refused the connection: {words}")
            return
        self._connected.set()
        if self._error is not None:
            self.log(f"MQTT: connected to {self.broker.address} again; publishing resumes")
        self._error = None
        client.publish(f"{self.base}/status", "online", qos=1, retain=True)
        self._last_state = None  # the next frame sends the state again
        if self.config.ha_discovery:
            client.subscribe(f"{DISCOVERY_PREFIX}/status", qos=1)
            self._announce()

    def _on_connect_fail(self, client, userdata) -> None:
        self._report(
            f"MQTT broker {self.broker.address} is not reachable; the run goes on, events are dropped and counted "
            f"until it is (retrying every {RECONNECT_DELAYS[1]} s at most)"
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing:
            self._report(f"MQTT broker {self.broker.address} went away ({reason_code}); reconnecting")

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{DISCOVERY_PREFIX}/status" and message.payload == b"online":
            self._announce()  # Home Assistant restarted: it forgets what it was told

    def _announce(self) -> None:
        from fer_edge import __version__

        device = {
            "identifiers": [f"fer_edge_{self.camera}"],
            "name": f"fer-edge {self.camera}",
            "model": "fer-edge camera",
            "manufacturer": "fer-edge",
            "sw_version": __version__,
        }
        sensors = {
            "emotion": {"name": "Dominant emotion", "value_template": "{{ value_json.dominant }}",
                        "icon": "mdi:emoticon-outline"},
            "faces": {"name": "Faces", "value_template": "{{ value_json.faces }}", "state_class": "measurement",
                      "unit_of_measurement": "faces", "icon": "mdi:account-multiple"},
        }  # fmt: skip
        for key, sensor in sensors.items():
            config = {
                **sensor,
                "unique_id": f"fer_edge_{self.camera}_{key}",
                "object_id": f"fer_edge_{self.camera}_{key}",
                "state_topic": f"{self.base}/state",
                "availability_topic": f"{self.base}/status",
                "payload_available": "online",
                "payload_not_available": "offline",
                "device": device,
            }
            topic = f"{DISCOVERY_PREFIX}/sensor/fer_edge_{self.camera}/{key}/config"
            self.client.publish(topic, json.dumps(config), qos=1, retain=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, seconds: float) -> bool:
        return self._connected.wait(seconds)

    def _send(self, topic: str, payload: str, retain: bool = False) -> bool:
        """Hand one message to the client; False (not queued) while the broker is away or the queue is full."""
        if not self._connected.is_set():
            return False
        return self.client.publish(topic, payload, qos=self.config.qos, retain=retain).rc == self._mqtt.MQTT_ERR_SUCCESS

    def publish_step(self, step) -> None:
        """One frame's results (a fer_edge.run.Step), handed to the sending thread: an event per answered face,
        the state when it changed. Costs the frame loop a queue put; a full queue drops the frame's events."""
        began = time.perf_counter_ns()
        now = time.monotonic()
        self._fps_frames += 1
        if now - self._fps_clock >= 1.0:
            self._fps, self._fps_clock, self._fps_frames = self._fps_frames / (now - self._fps_clock), now, 0
        answered = step.predictions
        pending = None  # faces whose windows are still filling say nothing yet
        if not step.faces or answered:
            pending = (len(step.faces), dominant([f.label for f in answered]))
        try:
            self._queue.put_nowait((answered, pending, self._fps))
        except queue.Full:
            self.stats.dropped += len(answered)
        if self.keep_timings:
            self.stats.publish_ms.append((time.perf_counter_ns() - began) / 1e6)

    def _work(self) -> None:
        """The sending thread: serialises each frame's faces and hands them to paho-mqtt (which only queues)."""
        while (item := self._queue.get()) is not None:
            answered, pending, fps = item
            for face in answered:
                if self._send(f"{self.base}/face/{face.id}", json.dumps(face.to_dict())):
                    self.stats.events += 1
                else:
                    self.stats.dropped += 1
            self._fps = fps
            if pending is not None:
                self._pending = pending
            if self._pending != self._last_state and (time.monotonic() - self._state_sent) * 1000 >= (
                self.config.state_every_ms
            ):
                self._send_state(time.monotonic())

    def _send_state(self, now: float) -> None:
        faces, label = self._pending
        payload = {"faces": faces, "dominant": label, "fps": round(self._fps, 1), "timestamp": round(time.time(), 3)}
        if self._send(f"{self.base}/state", json.dumps(payload), retain=True):
            self.stats.states += 1
            self._last_state, self._state_sent = self._pending, now

    def close(self, seconds: float = 2.0) -> None:
        """Say offline (retained) and disconnect, waiting at most `seconds` for what is queued."""
        self._closing = True
        self._queue.put(None)  # after what is queued: the sender finishes it, then stops
        self._sender.join(seconds)
        if self._pending != self._last_state:  # the last change, held back by the rate limit
            self._send_state(time.monotonic())
        if self._connected.is_set():
            info = self.client.publish(f"{self.base}/status", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(seconds)
            except (RuntimeError, ValueError):  # the connection went away meanwhile: the will says offline
                pass
        self.client.disconnect()
        self.client.loop_stop()
