"""Training settings, validated without TensorFlow so that bad arguments fail before the heavy import."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fer_edge.atomic import check_output_dir
from fer_edge.dataset import DEFAULT_CLASSES, DEFAULT_DATA, scan
from fer_edge.errors import UsageError
from fer_edge.train.augment import Jitter
from fer_edge.train.recipes import Recipe, get_recipe

ENCODER_FILE = "encoder.weights.h5"  # stage 1's output, in its folder beside pretrain.json


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a run; saved as config.json beside the model."""

    data: str = str(DEFAULT_DATA)
    out: str = "runs/seed"
    recipe: str = "seed"
    epochs: int | None = None  # None: the recipe's
    learning_rate: float | None = None  # None: the recipe's (the sequence model's peak rate; stage 2 of wild)
    batch_size: int | None = None  # None: the recipe's
    auxiliary_classes: tuple[str, ...] | None = None  # None: the recipe's; () for none
    width: float = 1.0
    classes: tuple[str, ...] = DEFAULT_CLASSES
    cv: int = 0  # 0: the seed's stratified 70/30 split; K >= 2: subject-independent K-fold
    seed: int = 42
    test_size: float = 0.3
    val_fraction: float = 0.0  # part of the training data held back to steer the schedule / early stop
    early_stopping: int = 0  # patience in epochs on validation loss; 0 = off
    pretrain_epochs: int | None = None  # None: the recipe's
    stills_per_epoch: int | None = None  # None: the recipe's
    pretrain_dropout: float | None = None  # None: the recipe's
    pretrain_learning_rate: float | None = None  # None: the recipe's
    jitter_scale: float | None = None  # None: the recipe's
    jitter_shift: float | None = None  # None: the recipe's
    jitter_noise: float | None = None  # None: the recipe's
    pretrain_erase: float | None = None  # None: the recipe's
    pretrain_mixup: float | None = None  # None: the recipe's
    pretrain_noise: float | None = None  # None: jitter_noise, as stage 2
    pretrain_from: str | None = None  # a stage-1 folder whose encoder starts this stage 1 (continued training)
    mirror_odd_frames: bool | None = None  # None: the recipe's (off)
    teacher: str | None = None  # a bundle whose predictions blend into stage 2's still targets (train.teacher)
    teacher_weight: float = 0.5  # the teacher's share of each still's target
    stills: str | None = None  # still images per emotion (FER2013 layout or fer2013.csv) for recipes that use them
    # where the training stills' targets come from (fer_edge.ferplus.LABEL_SOURCES): "folder", "ferplus" (the FER+
    # vote distribution, both stages) or "ferplus-majority" (FER+'s majority label); validation stills are scored
    # against the FER+ majority label whenever FER+ is used
    stills_labels: str = "folder"
    ferplus: str | None = None  # the FER+ votes file; None: ferplus.csv in the --stills folder
    encoder: str | None = (
        None  # a stage-1 folder, reused or trained into (default: runs/stills-w<width>-e<pretrain epochs>)
    )
    force: bool = False

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
        from fer_edge.ferplus import LABEL_SOURCES

        if self.stills_labels not in LABEL_SOURCES:
            raise UsageError(f"--stills-labels takes {', '.join(LABEL_SOURCES)}, got {self.stills_labels!r}")
        if self.ferplus and self.stills_labels == "folder":
            raise UsageError("--ferplus names the FER+ votes for --stills-labels ferplus or ferplus-majority")
        if self.early_stopping and not self.val_fraction:
            raise UsageError("--early-stopping needs --val-fraction > 0: the held-out split never decides when to stop")


def check_train_inputs(config: TrainConfig) -> Recipe:
    """Every check that needs no TensorFlow: arguments, recipe, output folder, dataset layout."""
    config.validate()
    recipe = get_recipe(
        config.recipe,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        auxiliary_classes=config.auxiliary_classes,
        pretrain_epochs=config.pretrain_epochs,
        stills_per_epoch=config.stills_per_epoch,
        pretrain_dropout=config.pretrain_dropout,
        pretrain_learning_rate=config.pretrain_learning_rate,
        jitter_scale=config.jitter_scale,
        jitter_shift=config.jitter_shift,
        jitter_noise=config.jitter_noise,
        pretrain_erase=config.pretrain_erase,
        pretrain_mixup=config.pretrain_mixup,
        pretrain_noise=config.pretrain_noise,
        mirror_odd_frames=config.mirror_odd_frames,
    )
    check_output_dir(Path(config.out), config.force)
    scan(Path(config.data), config.classes + auxiliary_in_data(config, recipe)[0])
    check_stills_inputs(config, recipe)
    return recipe


def check_stills_inputs(config: TrainConfig, recipe: Recipe) -> None:
    from fer_edge.stills import scan_still_source

    if not recipe.uses_stills:
        own = (config.stills, config.encoder, config.pretrain_from, config.teacher, config.stills_labels != "folder")
        if any(own):
            raise UsageError(
                "--stills, --stills-labels, --encoder, --pretrain-from and --teacher are for recipes that train on "
                f"stills (wild), not {recipe.name}"
            )
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
    name = f"stills-w{config.width:g}-e{recipe.pretrain_epochs}{dropout}{rate}{jitter}{erase}{mix}{labels}{start}"
    return Path("runs") / name


def auxiliary_in_data(config: TrainConfig, recipe: Recipe) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(present, absent): the recipe's auxiliary classes that have a folder in the dataset, and those that do not.

    Auxiliary classes only add training data, so a dataset without them trains without them.
    """
    wanted = recipe.auxiliary_for(config.classes)
    present = tuple(c for c in wanted if (Path(config.data) / c).is_dir())
    return present, tuple(c for c in wanted if c not in present)
