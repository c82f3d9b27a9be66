"""The options that run, serve, eval and bench share, defined once.

A command names the groups it takes with `@shared(...)`; the options are added to its signature (so typer shows
them, with their panel in --help) and arrive together as one dict, `runtime`, ready for `Recognizer(**runtime)`.
No two commands can declare the same option two ways.

This module does not use postponed annotations: the typer annotations here are objects, not strings.
"""

import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

MODEL_PANEL, DETECTOR_PANEL, TRACKING_PANEL, SOURCE_PANEL = "Model", "Face detector", "Tracking", "Source"
MQTT_PANEL = "MQTT (the mqtt extra)"

# name -> (annotation, default); defaults follow fer_edge.run.RunConfig
OPTIONS: dict[str, tuple[Any, Any]] = {
    "format": (Annotated[str, typer.Option(help="tflite or onnx.", rich_help_panel=MODEL_PANEL)], "tflite"),
    "precision": (Annotated[str, typer.Option(help="int8 or float32.", rich_help_panel=MODEL_PANEL)], "int8"),
    "streaming": (
        Annotated[
            bool,
            typer.Option(
                help="One encoder pass per new frame + head (else the whole window).", rich_help_panel=MODEL_PANEL
            ),
        ],
        True,
    ),
    "threads": (
        Annotated[
            int | None,
            typer.Option(
                help="Threads for the model and the face detector (default: the runtime's).",
                rich_help_panel=MODEL_PANEL,
            ),
        ],
        None,
    ),
    "tflite_backend": (
        Annotated[
            str | None,
            typer.Option(
                help="ai-edge-litert, tflite-runtime or tensorflow (default: the first installed).",
                rich_help_panel=MODEL_PANEL,
            ),
        ],
        None,
    ),
    "verify": (
        Annotated[
            bool, typer.Option(help="Check model files against the manifest's sha256.", rich_help_panel=MODEL_PANEL)
        ],
        True,
    ),
    "detect": (
        Annotated[
            bool,
            typer.Option(
                help="Find faces; --no-detect: frames are face crops already.", rich_help_panel=DETECTOR_PANEL
            ),
        ],
        True,
    ),
    "detector": (
        Annotated[
            str,
            typer.Option(
                help="blazeface (faces within about 2 m), blazeface-full (farther, slower) or haar (OpenCV < 5).",
                rich_help_panel=DETECTOR_PANEL,
            ),
        ],
        "blazeface",
    ),
    "max_faces": (
        Annotated[int, typer.Option(help="Faces per frame, largest first.", rich_help_panel=DETECTOR_PANEL)],
        4,
    ),
    "detect_every": (
        Annotated[
            int,
            typer.Option(
                help="Run the detector every N frames; boxes carry over between.", rich_help_panel=DETECTOR_PANEL
            ),
        ],
        1,
    ),
    "margin": (
        Annotated[
            float | None,
            typer.Option(
                help="Grow each face box by this share per side (default: the detector's rule).",
                rich_help_panel=DETECTOR_PANEL,
            ),
        ],
        None,
    ),
    "lift": (
        Annotated[
            float | None,
            typer.Option(
                help="Move each face box up by this share of its height (default: the detector's rule).",
                rich_help_panel=DETECTOR_PANEL,
            ),
        ],
        None,
    ),
    "level": (
        Annotated[
            bool | None,
            typer.Option(
                "--level/--no-level",
                help="Turn each face so its eyes are level (BlazeFace; default: the detector's rule).",
                rich_help_panel=DETECTOR_PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    "lost_after": (
        Annotated[
            int,
            typer.Option(
                help="Frames a face may go undetected before its id and window end.", rich_help_panel=TRACKING_PANEL
            ),
        ],
        15,
    ),
    "smoothing": (
        Annotated[
            float,
            typer.Option(help="Moving average of each face's probabilities (0 = off).", rich_help_panel=TRACKING_PANEL),
        ],
        0.0,
    ),
    "min_confidence": (
        Annotated[float, typer.Option(help="Below this the label is 'uncertain'.", rich_help_panel=TRACKING_PANEL)],
        0.0,
    ),
    "max_gap": (
        Annotated[
            float,
            typer.Option(help="Seconds between frames beyond which the windows reset.", rich_help_panel=TRACKING_PANEL),
        ],
        1.0,
    ),
    "source": (
        Annotated[
            str,
            typer.Option(help="picamera, a camera index (0), a video, an image, a folder or a glob."),
        ],
        "0",
    ),
    "images": (
        Annotated[
            str,
            typer.Option(
                help="Images: stills (each on its own) or sequence (the frames of one clip, in name order).",
                rich_help_panel=SOURCE_PANEL,
            ),
        ],
        "stills",
    ),
    "max_failures": (
        Annotated[
            int,
            typer.Option(help="Failed camera reads in a row before the camera is lost.", rich_help_panel=SOURCE_PANEL),
        ],
        10,
    ),
    "reconnect": (
        Annotated[
            bool,
            typer.Option(
                help="Reopen a camera that fails, with back-off, instead of exiting.", rich_help_panel=SOURCE_PANEL
            ),
        ],
        False,
    ),
    "loop": (
        Annotated[bool, typer.Option(help="Play a video source again and again.", rich_help_panel=SOURCE_PANEL)],
        False,
    ),
    "mqtt": (
        Annotated[
            str | None,
            typer.Option(
                help="Publish to this broker: mqtt://host:port/prefix (port and prefix optional) or mqtts://... "
                "(docs/mqtt.md).",
                rich_help_panel=MQTT_PANEL,
                show_default=False,
            ),
        ],
        None,
    ),
    "camera": (
        Annotated[
            str | None,
            typer.Option(help="This camera's name in the topics (default: the host name).", rich_help_panel=MQTT_PANEL),
        ],
        None,
    ),
    "mqtt_qos": (
        Annotated[int, typer.Option(help="QoS of events and state: 0, 1 or 2.", rich_help_panel=MQTT_PANEL)],
        1,
    ),
    "mqtt_ca": (
        Annotated[
            Path | None,
            typer.Option(
                help="mqtts: the broker's CA certificate (default: the system's).", rich_help_panel=MQTT_PANEL
            ),
        ],
        None,
    ),
    "mqtt_state_every": (
        Annotated[
            int, typer.Option(help="Send the state on change, at most every this many ms.", rich_help_panel=MQTT_PANEL)
        ],
        1000,
    ),
    "ha_discovery": (
        Annotated[
            bool,
            typer.Option(help="Announce the camera to Home Assistant (MQTT discovery).", rich_help_panel=MQTT_PANEL),
        ],
        False,
    ),
}

MODEL = ("format", "precision", "streaming", "threads", "tflite_backend", "verify")
CROP = ("detector", "margin", "lift", "level")
DETECTION = ("detect", "max_faces", "detect_every", *CROP)
TRACKING = ("lost_after", "smoothing", "min_confidence", "max_gap")
SOURCE = ("source", "images", "max_failures", "reconnect", "loop")
RUNTIME = (*MODEL, *DETECTION, *TRACKING, *SOURCE)  # everything run and serve take
MQTT = ("mqtt", "camera", "mqtt_qos", "mqtt_ca", "mqtt_state_every", "ha_discovery")

# The model a command runs: the shipped one by name, a bundle folder or a bare model file.
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "--bundle",
        help="'default' (the shipped model), a bundle folder from fer-edge export, or a .tflite/.onnx file.",
        rich_help_panel=MODEL_PANEL,
    ),
]
ModelArgument = Annotated[
    str,
    typer.Argument(
        help="'default' (the shipped model), a bundle folder from fer-edge export, or a .tflite/.onnx file."
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        envvar="FER_EDGE_DATA",
        help="CK+48-style dataset: one sub-folder per emotion (or set FER_EDGE_DATA).",
        show_default=False,
    ),
]
ClassesOption = Annotated[
    str,
    typer.Option(help="'default' (happy,surprise,anger,sadness,fear), 'all' (adds contempt,disgust) or a comma list."),
]


def shared(*names: str, into: str = "runtime"):
    """Add the named shared options to a command; the command receives them as one dict, its parameter `into`."""

    def decorate(command):
        hints = typing.get_type_hints(command, include_extras=True)
        own = [
            # keyword-only, as typer passes them, so that --source may go first
            parameter.replace(
                annotation=hints.get(parameter.name, parameter.annotation), kind=inspect.Parameter.KEYWORD_ONLY
            )
            for parameter in inspect.signature(command).parameters.values()
            if parameter.name != into
        ]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=OPTIONS[name][0], default=OPTIONS[name][1]
            )
            for name in names
        ]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(name) for name in names if name in kwargs}
            return command(*args, **{into: values}, **kwargs)

        # --source heads the help: it is the one option nearly every run and serve names
        parameters = [p for p in added if p.name == "source"] + own + [p for p in added if p.name != "source"]
        wrapper.__signature__ = inspect.Signature(parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate
