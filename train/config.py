"""Training settings, validated without TensorFlow so that bad arguments fail before the heavy import."""

from __future__ import annotations

import json
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from fer_edge.atomic import check_output_dir
from fer_edge.dataset import DEFAULT_CLASSES, scan
from fer_edge.errors import UsageError
from fer_edge.train.augment import Jitter
from fer_edge.train.recipes import Recipe, get_recipe

ENCODER_FILE = "encoder.weights.h5"  # stage 1's output, in its folder beside pretrain.json


PANELS = BASIC, WILD, ADVANCED = ("Options", "Wild recipe", "Advanced")  # of `fer-edge train --help`, in order


@dataclass(frozen=True)
class Knob:
    """How a TrainConfig field is offered on the command line (`fer-edge train`, which reads these).

    recipe: the field overrides the Recipe field of the same name, None meaning the recipe's own value.
    stills: only recipes that train on stills (wild) take it."""

    help: str
    panel: str = ADVANCED
    flag: str | None = None  # the option's name, when it is not the field's
    recipe: bool = False
    stills: bool = False
    path: bool = False  # a file or folder (kept as a str in the config, for its JSON)

    def option(self, name: str) -> str:
        return self.flag or "--" + name.replace("_", "-")


def knob(default: Any, help: str, **how: Any) -> Any:
    return field(default=default, metadata={"knob": Knob(help, **how)})


def stage_one_knob(help: str, **how: Any) -> Any:
    """A knob of the wild recipe's stage 1, None meaning the recipe's value."""
    return knob(None, help, panel=WILD, recipe=True, stills=True, **how)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; saved as config.json beside the model. Each knob is declared here once, with its
    --help line; `fer-edge train` offers every field that has one (the rest have their own option shapes)."""

    data: str = ""  # the CK+48 folder; fer-edge train asks for it (--data or FER_EDGE_DATA)
    out: str = "runs/seed"
    recipe: str = "seed"
    classes: tuple[str, ...] = DEFAULT_CLASSES
    auxiliary_classes: tuple[str, ...] | None = None  # None: the recipe's; () for none
    test_size: float = 0.3  # the seed split's held-out share (kept as the seed had it)
    width: float = knob(1.0, "Multiplier on every filter and unit count (1.0 = the seed).", panel=BASIC)
    epochs: int | None = knob(None, "Override the recipe's epochs (wild: stage 2's).", panel=BASIC, recipe=True)
    cv: int = knob(0, "K >= 2: subject-independent stratified K-fold; 0: seed 70/30 split.", panel=BASIC)
    seed: int = knob(42, "Seed for the split, initialisation and augmentation.", panel=BASIC)
    stills: str | None = knob(
        None,
        "Still images per emotion for the wild recipe: a folder of one folder per emotion (or of train/ and val/ "
        "holding them, FER2013's layout) or fer2013.csv.",
        panel=BASIC,
        stills=True,
        path=True,
    )
    force: bool = knob(False, "Replace an existing run folder.", panel=BASIC)
    # where the stills' targets come from (fer_edge.ferplus.LABEL_SOURCES)
    stills_labels: str = knob(
        "folder",
        "The stills' targets in both stages: folder (their folder's label), ferplus (the FER+ annotators' vote "
        "distribution, from ferplus.csv in the --stills folder) or ferplus-majority (FER+'s majority label; faces "
        "without one dropped). With FER+, validation stills are scored by its majority.",
        panel=WILD,
        stills=True,
    )
    folder_weight: float = knob(
        0.0,
        "With --stills-labels ferplus: the FER2013 folder label's share of each still's target, in [0, 1); the "
        "FER+ votes keep the rest.",
        panel=WILD,
        stills=True,
    )
    folder_blend: str = knob(
        "all",
        "With --folder-weight: blend the folder label into the whole target (all), or only into its non-neutral "
        "share (expressions), so that the votes alone say how neutral a face is.",
        panel=WILD,
        stills=True,
    )
    without_majority: str = knob(
        "keep",
        "With --stills-labels ferplus: keep the faces whose votes have no majority, as their vote distributions, or "
        "drop them.",
        panel=WILD,
        stills=True,
    )
    ferplus: str | None = knob(
        None, "The FER+ votes file (default: ferplus.csv in the --stills folder).", panel=WILD, stills=True, path=True
    )
    pretrain_epochs: int | None = stage_one_knob("Override stage 1's epochs on stills.")
    pretrain_dropout: float | None = stage_one_knob("Override stage 1's scale on the encoder's pool dropouts.")
    pretrain_learning_rate: float | None = stage_one_knob(
        "Override stage 1's peak learning rate (Adam, cosine; 2e-3).", flag="--pretrain-lr"
    )
    pretrain_erase: float | None = stage_one_knob(
        "Share of stage 1's stills with a random rectangle (2-33 % of the face) replaced by noise (0 = off)."
    )
    pretrain_mixup: float | None = stage_one_knob(
        "Mixup in stage 1, alpha of Beta(alpha, alpha), targets blended alike (0 = off; 0.2 is usual)."
    )
    pretrain_noise: float | None = stage_one_knob(
        "Stage 1's sensor noise (as --jitter-noise) when it differs from stage 2's (default: the same)."
    )
    pretrain_from: str | None = knob(
        None,
        "A stage-1 folder, or a bundle ('default': the shipped model; its int8 encoder recovered as float weights), "
        "whose encoder starts stage 1 (continued training: another cosine cycle).",
        panel=WILD,
        stills=True,
        path=True,
    )
    encoder: str | None = knob(
        None,
        "Stage-1 folder, reused if it holds an encoder, else trained into (default: runs/stills-wWIDTH-eEPOCHS"
        "-dDROPOUT, plus -lrRATE, -jSCALE-SHIFT, -nNOISE, -erSHARE, -mixALPHA, -fp and -from-FOLDER when given).",
        panel=WILD,
        stills=True,
        path=True,
    )
    stills_per_epoch: int | None = knob(
        None, "Override the stills mixed into each epoch of stage 2.", panel=WILD, recipe=True, stills=True
    )
    teacher: str | None = knob(
        None,
        "A bundle ('default': the shipped model) whose predictions on the training stills blend into their targets "
        "in stage 2 (self-distillation).",
        panel=WILD,
        stills=True,
        path=True,
    )
    teacher_weight: float = knob(
        0.5, "The teacher's share of each still's target, in (0, 1]; the label keeps the rest.", panel=WILD, stills=True
    )
    learning_rate: float | None = knob(
        None,
        "Override the recipe's peak learning rate (seed and edge 1e-3, wild's stage 2 5e-4); lower to fine-tune a "
        "model that has been through stage 2 already.",
        flag="--lr",
        recipe=True,
    )
    batch_size: int | None = knob(None, "Override the recipe's batch size.", recipe=True)
    val_fraction: float = knob(0.0, "Share of training data held back to steer the schedule.")
    early_stopping: int = knob(0, "Patience (epochs) on validation loss; 0 = off.")
    jitter_scale: float | None = knob(
        None,
        "Override the augmentation's zoom range: in or out by up to this share (0.08). Wider ranges mimic a face "
        "detector's varying boxes.",
        recipe=True,
    )
    jitter_shift: float | None = knob(
        None, "Override the augmentation's shift range, a share of the side (0.06).", recipe=True
    )
    jitter_noise: float | None = knob(
        None,
        "Gaussian sensor noise in augmentation: each sequence draws a standard deviation up to this, in [0, 1] units "
        "(0: off).",
        recipe=True,
    )
    mirror_odd_frames: bool | None = knob(
        None,
        "Train on windows with every other frame mirrored (phase drawn per sequence), as a bundle exported with "
        "--mirror-odd-frames shows a stream; held-out windows are scored alike. Needs augmentation (edge, wild).",
        recipe=True,
    )

    def validate(self) -> None:
        if not 0 < self.width <= 4:
            raise UsageError(f"--width must be in (0, 4], got {self.width}")
        if self.cv == 1 or self.cv < 0:
            raise UsageError(f"--cv must be 0 (seed split) or at least 2, got {self.cv}")
        if not 0 < self.test_size < 1:
            raise UsageError(f"--test-size must be between 0 and 1, got {self.test_size}")
        if not 0 <= self.val_fraction < 0.5:
            raise UsageError(f"--val-fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.early_stopping < 0:
            raise UsageError(f"--early-stopping must be 0 (off) or a patience in epochs, got {self.early_stopping}")
        if not 0 < self.teacher_weight <= 1:
            raise UsageError(f"--teacher-weight must be in (0, 1], got {self.teacher_weight}")
        from fer_edge.ferplus import LABEL_SOURCES, check_vote_options

        if self.stills_labels not in LABEL_SOURCES:
            raise UsageError(f"--stills-labels takes {', '.join(LABEL_SOURCES)}, got {self.stills_labels!r}")
        check_vote_options(self.stills_labels, self.folder_weight, self.without_majority, self.folder_blend)
        if self.ferplus and self.stills_labels == "folder":
            raise UsageError("--ferplus names the FER+ votes for --stills-labels ferplus or ferplus-majority")
        if self.early_stopping and not self.val_fraction:
            raise UsageError("--early-stopping needs --val-fraction > 0: the held-out split never decides when to stop")


def check_train_inputs(config: TrainConfig) -> Recipe:
    """Every check that needs no TensorFlow: arguments, recipe, output folder, dataset layout."""
    config.validate()
    recipe = get_recipe(config.recipe, **recipe_overrides(config))
    given = [k.option(f.name) for f, k in knobs() if k.stills and getattr(config, f.name) != f.default]
    if given and not recipe.uses_stills:
        raise UsageError(f"{', '.join(given)}: for recipes that train on stills (wild), not {recipe.name}")
    check_output_dir(Path(config.out), config.force)
    if not config.data:
        raise UsageError("pass --data PATH, the CK+48 folder (one sub-folder per emotion), or set FER_EDGE_DATA")
    scan(Path(config.data), config.classes + auxiliary_in_data(config, recipe)[0])
    check_stills_inputs(config, recipe)
    return recipe


def knobs() -> list[tuple[Field, Knob]]:
    """TrainConfig's fields that `fer-edge train` offers, with how."""
    return [(f, f.metadata["knob"]) for f in fields(TrainConfig) if "knob" in f.metadata]


def recipe_overrides(config: TrainConfig) -> dict[str, Any]:
    """The Recipe fields this run sets (auxiliary_classes and every recipe knob that is not None)."""
    chosen = {f.name: getattr(config, f.name) for f, k in knobs() if k.recipe}
    chosen["auxiliary_classes"] = config.auxiliary_classes
    return {name: value for name, value in chosen.items() if value is not None}


def check_stills_inputs(config: TrainConfig, recipe: Recipe) -> None:
    from fer_edge.stills import scan_still_source

    if not recipe.uses_stills:
        return
    if not config.stills:
        raise UsageError(
            f"recipe {recipe.name} trains on still images too: pass --stills, e.g. --stills ../shared/data/FER2013"
        )
    if config.stills_labels != "folder":
        from fer_edge.ferplus import find_votes

        if not Path(config.stills).is_dir():
            raise UsageError(f"--stills-labels {config.stills_labels} needs FER2013's folder form, not {config.stills}")
        find_votes(Path(config.stills), Path(config.ferplus) if config.ferplus else None)
    present = scan_still_source(Path(config.stills), "train")
    missing = [c for c in recipe.stills_classes if c not in present]
    if missing:
        raise UsageError(f"recipe {recipe.name} needs stills of {', '.join(missing)}; {config.stills} has none")
    if config.encoder and Path(config.encoder).exists() and not (Path(config.encoder) / "pretrain.json").is_file():
        raise UsageError(f"--encoder {config.encoder} exists but is not a stage-1 folder (no pretrain.json)")
    if config.pretrain_from:
        check_pretrain_from(Path(config.pretrain_from), config.width)
    if config.teacher:
        check_teacher(Path(config.teacher), config.classes + recipe.stills_classes)


def check_teacher(bundle: Path, targets: tuple[str, ...]) -> None:
    """A bundle with a TFLite streaming pair whose classes are this run's (auxiliary ones aside)."""
    if not is_bundle(bundle):
        raise UsageError(f"--teacher {bundle} is not a bundle (no manifest.json); pass a folder fer-edge export wrote")
    from fer_edge.manifest import read_manifest

    manifest = read_manifest(bundle)
    if not any(manifest.artifact("tflite", "encoder", p) for p in ("float32", "int8")):
        raise UsageError(f"--teacher {bundle} has no TFLite encoder; export it with --formats tflite")
    extra = [c for c in manifest.classes if c not in targets]
    if extra:
        raise UsageError(f"--teacher {bundle} predicts {', '.join(extra)}, which this run does not")


def check_pretrain_from(folder: Path, width: float) -> None:
    """A stage-1 folder, or a bundle (whose int8 encoder is recovered as float weights), of this width."""
    if is_bundle(folder):
        from fer_edge.manifest import read_manifest

        manifest = read_manifest(folder)
        if manifest.artifact("tflite", "encoder", "int8") is None:
            raise UsageError(f"--pretrain-from {folder} has no int8 TFLite encoder; export it with --int8")
        bundle_width = manifest.source_model.get("width")
        if bundle_width != width:
            raise UsageError(f"--pretrain-from {folder} has width {bundle_width}, this run {width:g}; pass --width")
        return
    record = folder / "pretrain.json"
    if not (folder / ENCODER_FILE).is_file() or not record.is_file():
        raise UsageError(
            f"--pretrain-from {folder} is neither a stage-1 folder ({ENCODER_FILE}, pretrain.json) nor a bundle"
        )
    try:
        trained_width = json.loads(record.read_text())["config"]["width"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--pretrain-from {folder}: pretrain.json is unreadable; train that stage 1 again") from None
    if trained_width != width:
        raise UsageError(f"--pretrain-from {folder} has width {trained_width:g}, this run {width:g}; pass --width")


def is_bundle(folder: Path) -> bool:
    return (Path(folder) / "manifest.json").is_file()


def encoder_dir(config: TrainConfig, recipe: Recipe) -> Path:
    """Where stage 1's encoder is read from, or trained into (shared by every run of that width and length)."""
    if config.encoder:
        return Path(config.encoder)
    dropout = "" if recipe.pretrain_dropout == 1 else f"-d{recipe.pretrain_dropout:g}"
    rate = "" if recipe.pretrain_learning_rate == 2e-3 else f"-lr{recipe.pretrain_learning_rate:g}"
    start = f"-from-{Path(config.pretrain_from).name}" if config.pretrain_from else ""
    moved = (recipe.jitter_scale, recipe.jitter_shift) != (Jitter.scale, Jitter.shift)
    jitter = f"-j{recipe.jitter_scale:g}-{recipe.jitter_shift:g}" if moved else ""
    noise = recipe.pretrain_jitter.noise
    jitter += f"-n{noise:g}" if noise else ""
    erase = f"-er{recipe.pretrain_erase:g}" if recipe.pretrain_erase else ""
    mix = f"-mix{recipe.pretrain_mixup:g}" if recipe.pretrain_mixup else ""
    labels = {"folder": "", "ferplus": "-fp", "ferplus-majority": "-fpm"}[config.stills_labels]
    labels += f"{config.folder_weight:g}" if config.folder_weight else ""
    labels += "x" if config.folder_blend == "expressions" else ""
    labels += "-agreed" if config.without_majority == "drop" else ""
    name = f"stills-w{config.width:g}-e{recipe.pretrain_epochs}{dropout}{rate}{jitter}{erase}{mix}{labels}{start}"
    return Path("runs") / name


def auxiliary_in_data(config: TrainConfig, recipe: Recipe) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(present, absent): the recipe's auxiliary classes that have a folder in the dataset, and those that do not.

    Auxiliary classes only add training data, so a dataset without them trains without them.
    """
    wanted = recipe.auxiliary_for(config.classes)
    present = tuple(c for c in wanted if (Path(config.data) / c).is_dir())
    return present, tuple(c for c in wanted if c not in present)
