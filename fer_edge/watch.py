"""`fer-edge watch`: every camera that publishes to one broker prefix, live, in one table.

It subscribes to PREFIX/+/state and PREFIX/+/status (both retained, so cameras already running show at once).
On a terminal the table redraws in place (rich); piped, each change is one line and the table is printed at the end.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fer_edge.errors import FerEdgeError, require
from fer_edge.mqtt import PASSWORD_VARIABLE, USERNAME_VARIABLE, Broker, parse_broker

Log = Callable[[str], None]


@dataclass
class Camera:
    name: str
    status: str = "?"  # online / offline, from the camera's status topic
    faces: int | None = None
    dominant: str | None = None
    fps: float | None = None
    last_seen: float | None = None  # time.time() of its last message

    def line(self) -> str:
        faces = "?" if self.faces is None else self.faces
        fps = "?" if self.fps is None else f"{self.fps:g}"
        return f"{self.name}: {self.status}, {faces} faces, {self.dominant or '?'}, {fps} frames/s"


class Fleet:
    """The cameras seen under a prefix, updated from the broker's messages (any thread)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.cameras: dict[str, Camera] = {}
        self.lock = threading.Lock()

    def update(self, topic: str, payload: bytes) -> Camera | None:
        """Apply one message; the camera it changed, or None for a message that is not a camera's."""
        parts = topic[len(self.prefix) + 1 :].split("/") if topic.startswith(self.prefix + "/") else []
        if len(parts) != 2 or parts[1] not in ("state", "status"):
            return None
        with self.lock:
            camera = self.cameras.setdefault(parts[0], Camera(parts[0]))
            if parts[1] == "status":
                camera.status = payload.decode("utf-8", "replace")
            else:
                try:
                    state = json.loads(payload)
                    camera.faces, camera.dominant, camera.fps = state["faces"], state["dominant"], state.get("fps")
                except (ValueError, KeyError, TypeError):
                    return None  # not ours: leave the row as it was
            camera.last_seen = time.time()
            return camera

    def table(self, now: float | None = None):
        from rich.table import Table

        now = time.time() if now is None else now
        table = Table(title=f"fer-edge cameras under {self.prefix}/")
        for column in ("camera", "status", "faces", "dominant emotion", "frames/s", "last seen"):
            table.add_column(column, justify="right" if column in ("faces", "frames/s", "last seen") else "left")
        with self.lock:
            for camera in sorted(self.cameras.values(), key=lambda c: c.name):
                seen = "-" if camera.last_seen is None else f"{max(0.0, now - camera.last_seen):.0f} s ago"
                status = f"[green]{camera.status}[/]" if camera.status == "online" else f"[red]{camera.status}[/]"
                table.add_row(
                    camera.name,
                    status,
                    "-" if camera.faces is None else str(camera.faces),
                    camera.dominant or "-",
                    "-" if camera.fps is None else f"{camera.fps:g}",
                    seen,
                )
        return table


def connect(broker: Broker, ca: str | None, on_message) -> object:
    """A subscribed paho client with its network thread running; one clear error when the broker is not there."""
    mqtt = require("paho.mqtt.client", "mqtt")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fer-edge-watch-{os.getpid()}")
    if os.environ.get(USERNAME_VARIABLE):
        client.username_pw_set(os.environ[USERNAME_VARIABLE], os.environ.get(PASSWORD_VARIABLE))
    if broker.tls:
        client.tls_set(ca_certs=ca)
    refused: list[str] = []
    ready = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            refused.append(str(reason_code))
        else:
            client.subscribe([(f"{broker.prefix}/+/state", 1), (f"{broker.prefix}/+/status", 1)])
        ready.set()

    client.on_connect = on_connect
    client.on_message = lambda client, userdata, message: on_message(message.topic, message.payload)
    client.reconnect_delay_set(1, 4)
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as error:
        raise FerEdgeError(f"MQTT broker {broker.address} is not reachable ({error.strerror or error})") from None
    client.loop_start()
    if not ready.wait(10) or refused:
        client.loop_stop()
        reason = refused[0] if refused else "no answer in 10 s"
        raise FerEdgeError(
            f"MQTT broker {broker.address} refused the connection ({reason}); check {USERNAME_VARIABLE} and "
            f"{PASSWORD_VARIABLE}"
        )
    return client


def watch(url: str, seconds: float | None, log: Log, live: bool, ca: str | None = None) -> Fleet:
    """Show the fleet until `seconds` have passed (None: until Ctrl-C). live: redraw a table in place."""
    broker = parse_broker(url)
    fleet = Fleet(broker.prefix)

    def on_message(topic: str, payload: bytes) -> None:
        camera = fleet.update(topic, payload)
        if camera is not None and not live:
            log(camera.line())

    client = connect(broker, ca, on_message)
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        if live:
            from rich.live import Live

            with Live(fleet.table(), refresh_per_second=2, transient=False) as screen:
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.5)
                    screen.update(fleet.table())
        else:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        client.disconnect()
        client.loop_stop()
    return fleet
