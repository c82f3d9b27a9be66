"""`fer-edge train`: the CNN-BiLSTM on CK+48 sequences (and FER2013 stills with the wild recipe)."""

from __future__ import annotations

import functools
import inspect
import typing
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors, require_tensorflow
from fer_edge.cli.options import ClassesOption, DataOption
from fer_edge.errors import UsageError
from fer_edge.train.config import ADVANCED


class RecipeName(str, Enum):
    seed = "seed"
    edge = "edge"
    wild = "wild"


def required_data(data: Path | None) -> Path:
    if data is None:
        raise UsageError("pass --data PATH, the CK+48 folder (one sub-folder per emotion), or set FER_EDGE_DATA")
    return data


def with_knobs(command):
    """Add every knob of TrainConfig (train/config.py, where each is declared once with its help and --help panel) to
    the command's options; the command receives their values as one dict, `knobs`, keyed by field name."""
    from fer_edge.train.config import PANELS, TrainConfig, knobs

    types = typing.get_type_hints(TrainConfig)
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        parameter.replace(
            annotation=hints.get(parameter.name, parameter.annotation), kind=inspect.Parameter.KEYWORD_ONLY
        )
        for parameter in inspect.signature(command).parameters.values()
        if parameter.name != "knobs"
    ]
    added = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                Path | None if knob.path else types[f.name],
                typer.Option(knob.option(f.name), help=knob.help, rich_help_panel=knob.panel),
            ],
            default=f.default,
        )
        for f, knob in knobs()
    ]
    names = [parameter.name for parameter in added]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        values = {name: str(v) if isinstance(v, Path) else v for name, v in values.items()}  # the config holds str
        return command(*args, knobs=values, **kwargs)

    def panel(parameter: inspect.Parameter) -> int:
        """--help's panels in PANELS' order (basic, wild recipe, advanced); typer shows them as first met."""
        infos = [a for a in getattr(parameter.annotation, "__metadata__", ()) if isinstance(a, typer.models.OptionInfo)]
        return PANELS.index(infos[0].rich_help_panel or PANELS[0]) if infos else 0

    parameters = sorted(own + added, key=panel)
    wrapper.__signature__ = inspect.Signature(parameters)
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


@app.command()
@friendly_errors
@with_knobs
def train(
    knobs: dict,
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/RECIPE-wWIDTH, -cvK with --cv).")] = None,
    recipe: Annotated[
        RecipeName,
        typer.Option(
            help="seed: the original recipe (100 epochs); edge: seed plus augmentation, two passes per epoch, label "
            "smoothing, class weights, 200 epochs and contempt and disgust as auxiliary training classes; wild: "
            "faces in the wild too, with neutral: the per-frame CNN first learns from --stills alone, then the whole "
            "model from CK+48 sequences mixed with stills."
        ),
    ] = RecipeName.seed,
    classes: ClassesOption = "default",
    auxiliary_classes: Annotated[
        str | None,
        typer.Option(
            help="Override the recipe's auxiliary classes (extra emotions trained on as outputs that the saved "
            "model drops): a comma list, or 'none'.",
            rich_help_panel=ADVANCED,
        ),
    ] = None,
) -> None:
    """Train the CNN-BiLSTM on CK+48 sequences (and FER2013 stills: --recipe wild); writes a run folder with reports."""
    from fer_edge.dataset import resolve_classes
    from fer_edge.default_model import DEFAULT_BUNDLE, DEFAULT_NAME
    from fer_edge.train.config import TrainConfig, check_train_inputs

    require_tensorflow("train")
    data = required_data(data)
    if out is None:
        out = Path("runs") / (f"{recipe.value}-w{knobs['width']:g}" + (f"-cv{knobs['cv']}" if knobs["cv"] else ""))
    for name in ("pretrain_from", "teacher"):  # bundles: the shipped model by its name
        if knobs.get(name) is not None and str(knobs[name]) == DEFAULT_NAME:
            knobs[name] = str(DEFAULT_BUNDLE)
    config = TrainConfig(
        data=str(data),
        out=str(out),
        recipe=recipe.value,
        classes=resolve_classes(classes),
        auxiliary_classes=parse_auxiliary(auxiliary_classes),
        **knobs,
    )
    check_train_inputs(config)  # arguments and data fail here, before paying for the TensorFlow import
    from fer_edge.train.training import train as run_training

    run_training(config, log=lambda line: typer.echo(line))


def parse_auxiliary(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    if spec.strip() == "none":
        return ()
    return tuple(name.strip() for name in spec.split(",") if name.strip())
