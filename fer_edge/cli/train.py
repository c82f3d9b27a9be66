"""`fer-edge train`: the CNN-BiLSTM on CK+48 sequences (and FER2013 stills with the wild recipe)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from fer_edge.cli.app import app, friendly_errors, require_tensorflow
from fer_edge.cli.options import ClassesOption, DataOption
from fer_edge.errors import UsageError


class RecipeName(str, Enum):
    seed = "seed"
    edge = "edge"
    wild = "wild"


def required_data(data: Path | None) -> Path:
    if data is None:
        raise UsageError("pass --data PATH, the CK+48 folder (one sub-folder per emotion), or set FER_EDGE_DATA")
    return data


@app.command()
@friendly_errors
def train(
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<recipe>-w<width>-cv<K>).")] = None,
    recipe: Annotated[
        RecipeName,
        typer.Option(
            help="seed: the original recipe (100 epochs); edge: seed plus augmentation (the same on all 3 frames), "
            "two passes per epoch, label smoothing, class weights, 200 epochs and contempt and disgust as auxiliary "
            "training classes (README: Training); wild: faces in the wild too, with neutral: the per-frame CNN "
            "first learns from --stills alone, then the whole model from CK+48 sequences mixed with stills."
        ),
    ] = RecipeName.seed,
    stills: Annotated[
        Path | None,
        typer.Option(
            help="Still images per emotion for the wild recipe: a folder of <emotion>/ folders (or of train/ and "
            "val/ holding them, FER2013's layout) or fer2013.csv."
        ),
    ] = None,
    stills_labels: Annotated[
        str,
        typer.Option(
            help="wild: the stills' targets in both stages: folder (their folder's label), ferplus (the FER+ "
            "annotators' vote distribution, from ferplus.csv in the --stills folder) or ferplus-majority (FER+'s "
            "majority label; faces without one dropped). With FER+, validation stills are scored by its majority."
        ),
    ] = "folder",
    ferplus: Annotated[
        Path | None, typer.Option(help="wild: the FER+ votes file (default: ferplus.csv in the --stills folder).")
    ] = None,
    pretrain_epochs: Annotated[int | None, typer.Option(help="wild: override stage 1's epochs on stills.")] = None,
    pretrain_dropout: Annotated[
        float | None, typer.Option(help="wild: override stage 1's scale on the encoder's pool dropouts.")
    ] = None,
    pretrain_lr: Annotated[
        float | None, typer.Option(help="wild: override stage 1's peak learning rate (Adam, cosine; 2e-3).")
    ] = None,
    pretrain_erase: Annotated[
        float | None,
        typer.Option(
            help="wild: share of stage 1's stills with a random rectangle (2-33 % of the face) replaced by noise "
            "(random erasing; 0 = off, the recipe's)."
        ),
    ] = None,
    pretrain_mixup: Annotated[
        float | None,
        typer.Option(
            help="wild: mixup in stage 1, the alpha of Beta(alpha, alpha): each still blended with another of its "
            "batch, targets alike (0 = off, the recipe's; 0.2 is usual)."
        ),
    ] = None,
    pretrain_noise: Annotated[
        float | None,
        typer.Option(
            help="wild: stage 1's sensor noise (as --jitter-noise) when it should differ from stage 2's; "
            "default: --jitter-noise for both stages."
        ),
    ] = None,
    pretrain_from: Annotated[
        Path | None,
        typer.Option(
            help="wild: a stage-1 folder, or a bundle (its int8 encoder recovered as float weights), whose encoder "
            "starts stage 1 (continued training: another cosine cycle).",
        ),
    ] = None,
    stills_per_epoch: Annotated[
        int | None, typer.Option(help="wild: override the stills mixed into each epoch of stage 2.")
    ] = None,
    encoder: Annotated[
        Path | None,
        typer.Option(
            help="wild: stage-1 folder, reused if it holds an encoder, else trained into "
            "(default: runs/stills-w<width>-e<epochs>-d<dropout>, plus -lr<rate>, -j<scale>-<shift>, -n<noise>, "
            "-er<share>, -mix<alpha> and -from-<folder> when given)."
        ),
    ] = None,
    jitter_scale: Annotated[
        float | None,
        typer.Option(
            help="Override the augmentation's zoom range: in or out by up to this share (recipes with augmentation; "
            "0.08). Wider ranges mimic a face detector's varying boxes."
        ),
    ] = None,
    jitter_shift: Annotated[
        float | None,
        typer.Option(help="Override the augmentation's shift range, a share of the side (0.06)."),
    ] = None,
    jitter_noise: Annotated[
        float | None,
        typer.Option(
            help="Add Gaussian sensor noise in augmentation: each sequence draws a standard deviation up to this, "
            "in [0, 1] units (0: off). Noisy camera frames in dim light."
        ),
    ] = None,
    mirror_odd_frames: Annotated[
        bool,
        typer.Option(
            help="Train on windows with every other frame mirrored left to right (phase drawn per sequence), as a "
            "bundle exported with --mirror-odd-frames shows a stream; held-out windows are scored alike and "
            "fer-edge export keeps the rule. Needs a recipe with augmentation (edge, wild)."
        ),
    ] = False,
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="A bundle (e.g. fer_edge/models/default) whose predictions on the training stills blend into "
            "their targets in stage 2 (self-distillation; FER2013's labels are noisy). Wild recipe only."
        ),
    ] = None,
    teacher_weight: Annotated[
        float, typer.Option(help="The teacher's share of each still's target, in (0, 1]; the label keeps the rest.")
    ] = 0.5,
    epochs: Annotated[int | None, typer.Option(help="Override the recipe's epochs.")] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Override the recipe's peak learning rate (seed and edge 1e-3, wild's stage 2 5e-4); lower to "
            "fine-tune a model that has been through stage 2 already."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the recipe's batch size.")] = None,
    auxiliary_classes: Annotated[
        str | None,
        typer.Option(
            help="Override the recipe's auxiliary classes (extra emotions trained on as outputs that the saved "
            "model drops): a comma list, or 'none'."
        ),
    ] = None,
    width: Annotated[float, typer.Option(help="Multiplier on every filter and unit count (1.0 = the seed).")] = 1.0,
    classes: ClassesOption = "default",
    cv: Annotated[int, typer.Option(help="K >= 2: subject-independent stratified K-fold; 0: seed 70/30 split.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed for the split, initialisation and augmentation.")] = 42,
    val_fraction: Annotated[float, typer.Option(help="Share of training data held back to steer the schedule.")] = 0.0,
    early_stopping: Annotated[int, typer.Option(help="Patience (epochs) on validation loss; 0 = off.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
) -> None:
    """Train the CNN-BiLSTM on CK+48 sequences (and FER2013 stills: --recipe wild); writes a run folder with reports."""
    from fer_edge.dataset import resolve_classes

    require_tensorflow("train")
    data = required_data(data)
    if out is None:
        out = Path("runs") / (f"{recipe.value}-w{width:g}" + (f"-cv{cv}" if cv else ""))
    config_args = dict(
        data=str(data),
        out=str(out),
        recipe=recipe.value,
        epochs=epochs,
        learning_rate=lr,
        batch_size=batch_size,
        auxiliary_classes=parse_auxiliary(auxiliary_classes),
        width=width,
        classes=resolve_classes(classes),
        cv=cv,
        seed=seed,
        val_fraction=val_fraction,
        early_stopping=early_stopping,
        pretrain_epochs=pretrain_epochs,
        pretrain_dropout=pretrain_dropout,
        pretrain_learning_rate=pretrain_lr,
        pretrain_erase=pretrain_erase,
        pretrain_mixup=pretrain_mixup,
        pretrain_noise=pretrain_noise,
        jitter_scale=jitter_scale,
        jitter_shift=jitter_shift,
        jitter_noise=jitter_noise,
        pretrain_from=str(pretrain_from) if pretrain_from else None,
        stills_per_epoch=stills_per_epoch,
        mirror_odd_frames=mirror_odd_frames or None,
        teacher=str(teacher) if teacher else None,
        teacher_weight=teacher_weight,
        stills=str(stills) if stills else None,
        stills_labels=stills_labels,
        ferplus=str(ferplus) if ferplus else None,
        encoder=str(encoder) if encoder else None,
        force=force,
    )
    from fer_edge.train.config import TrainConfig, check_train_inputs

    config = TrainConfig(**config_args)
    check_train_inputs(config)  # arguments and data fail here, before paying for the TensorFlow import
    from fer_edge.train.training import train as run_training

    run_training(config, log=lambda line: typer.echo(line))


def parse_auxiliary(spec: str | None) -> tuple[str, ...] | None:
    if spec is None:
        return None
    if spec.strip() == "none":
        return ()
    return tuple(name.strip() for name in spec.split(",") if name.strip())
