"""The `fer-edge` command: a thin typer layer over the Python API. Heavy imports happen inside commands."""

from __future__ import annotations

import contextlib
import functools
import sys
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from fer_edge import quiet, stopping
from fer_edge.dataset import DEFAULT_DATA
from fer_edge.errors import FerEdgeError
from fer_edge.export.ranges import ELU_FLOOR

app = typer.Typer(
    help="Facial emotion recognition on small devices: train on CK+48 sequences and FER2013 stills, export int8 "
    "models, run them, score them on any labelled faces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect a CK+48-style dataset.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Options shared by run, serve (and eval).
FormatOption = Annotated[str, typer.Option(help="tflite or onnx.")]
PrecisionOption = Annotated[str, typer.Option(help="int8 or float32.")]
ThreadsOption = Annotated[int | None, typer.Option(help="Inference threads (default: the runtime's).")]
DetectOption = Annotated[bool, typer.Option(help="Find faces; --no-detect: frames are already face crops.")]
DetectorOption = Annotated[
    str,
    typer.Option(
        help="blazeface (faces within about 2 m), blazeface-full (farther, slower) or haar (OpenCV < 5 only)."
    ),
]
MaxFacesOption = Annotated[int, typer.Option(help="Faces per frame, largest first, each tracked with its own id.")]
DetectEveryOption = Annotated[int, typer.Option(help="Run the detector every N frames, carry the boxes between.")]
SmoothingOption = Annotated[float, typer.Option(help="Exponential moving average of probabilities (0 = off).")]
MinConfidenceOption = Annotated[float, typer.Option(help="Below this the label is reported as uncertain.")]
ReconnectOption = Annotated[
    bool, typer.Option(help="Reopen a camera that fails or stops, with back-off, instead of exiting.")
]
ImagesOption = Annotated[
    str,
    typer.Option(
        help="For an image source: stills (every face of every image on its own) or sequence (the images are "
        "the frames of one clip, in name order)."
    ),
]
MarginOption = Annotated[
    float | None,
    typer.Option(help="Grow each detected face box by this share per side (default: the detector's crop rule)."),
]
LiftOption = Annotated[
    float | None,
    typer.Option(help="Move each face box up by this share of its height (default: the detector's crop rule)."),
]
LevelOption = Annotated[
    bool | None,
    typer.Option(
        "--level/--no-level", help="Turn each face so its eyes are level (BlazeFace; default: the detector's rule)."
    ),
]
DataOption = Annotated[
    Path,
    typer.Option("--data", envvar="FER_EDGE_DATA", help="Dataset folder: one sub-folder per emotion."),
]
ClassesOption = Annotated[
    str,
    typer.Option(help="'default' (happy,surprise,anger,sadness,fear), 'all' (adds contempt,disgust) or a comma list."),
]


DEBUG: ContextVar[bool] = ContextVar("fer_edge_debug", default=False)


class RecipeName(str, Enum):
    seed = "seed"
    edge = "edge"
    wild = "wild"


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def friendly_errors(command):
    """Turn project errors into one red line and an exit code; --debug (or FER_EDGE_DEBUG=1) re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FerEdgeError as error:
            if DEBUG.get():
                raise
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written was left behind", 130)
        except typer.Exit:
            raise
        except Exception:
            # TensorFlow may turn the KeyboardInterrupt of a stop request into an error of its own on the way up
            if not stopping.requested() or DEBUG.get():
                raise
            _fail("interrupted; nothing half-written was left behind", 130)

    return wrapper


@app.callback()
def main_options(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="FER_EDGE_DEBUG", help="Show tracebacks and the runtimes' own messages.")
    ] = False,
) -> None:
    DEBUG.set(debug)
    quiet.set_debug(debug)


@app.command()
@friendly_errors
def train(
    data: DataOption = DEFAULT_DATA,
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


def int_list(spec: str, option: str) -> tuple[int, ...]:
    """'7,8' -> (7, 8); a clear error for anything else."""
    from fer_edge.errors import UsageError

    try:
        return tuple(int(item) for item in spec.split(","))
    except ValueError:
        raise UsageError(f"{option} takes whole numbers separated by commas, got {spec!r}") from None


@app.command()
@friendly_errors
def export(
    run: Annotated[Path, typer.Argument(help="A run folder written by fer-edge train (one fold for --cv runs).")],
    out: Annotated[Path | None, typer.Option(help="Bundle folder (default: bundles/<run name>).")] = None,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Add int8 models (int8 weights and activations), calibrated on training data."),
    ] = False,
    formats: Annotated[str, typer.Option(help="Comma list of tflite, onnx.")] = "tflite,onnx",
    calib_size: Annotated[
        int | None, typer.Option(help="Stratified subset of training sequences (default: all).")
    ] = None,
    data: DataOption = DEFAULT_DATA,
    io: Annotated[
        str, typer.Option(help="int8: int8 input/output tensors on int8 TFLite; float: keep float I/O.")
    ] = "int8",
    min_agreement: Annotated[
        float,
        typer.Option(
            help="Fail when an int8 model agrees with Keras on fewer held-out sequences (near-ties not counted)."
        ),
    ] = 0.97,
    tie_margin: Annotated[
        float,
        typer.Option(help="A flip between two classes the float model put closer than this is a near-tie, not damage."),
    ] = 0.05,
    stills: Annotated[
        Path | None,
        typer.Option(help="Runs trained on stills (wild): their still images (default: the path the run recorded)."),
    ] = None,
    calib_stills: Annotated[
        int, typer.Option(help="Runs trained on stills: training stills added to the calibration set.")
    ] = 600,
    elu_floor: Annotated[
        float,
        typer.Option(
            help="int8 TFLite and ONNX: an ELU input's int8 range starts no lower than minus this (ELU is flat there, "
            "and the steps go where values matter); 0 keeps the calibrated minimum."
        ),
    ] = ELU_FLOOR,
    tune_stills: Annotated[
        int,
        typer.Option(
            help="int8 TFLite, runs trained on stills: draw this many training stills (the calibration ones left "
            "out) and lower the tops of the encoder's int8 ranges where that brings it closer to float on them "
            "(a few minutes); the whole-window model and the int8 ONNX files get the same tops. 0: the calibrated tops."
        ),
    ] = 0,
    onnx_weight_bits: Annotated[
        str,
        typer.Option(
            help="int8 ONNX: bits per weight, 7, 8 or 7,8. 7 (onnxruntime's reduce_range) is safe on every CPU; 8 "
            "follows float more closely on arm64 and on x86 with VNNI but saturates on AVX2-only x86 CPUs "
            "(docs/export.md). With 7,8 the bundle holds both and the runtime picks by CPU."
        ),
    ] = "7",
    prior_shift: Annotated[
        float,
        typer.Option(
            help="Runs trained on stills: add this times log(training stills per class) to each output's logit, "
            "giving back the class shares that training's 1/sqrt(class size) weights took away (0.5 undoes them; "
            "docs/wild.md). 0: the model as trained."
        ),
    ] = 0.0,
    mirror_odd_frames: Annotated[
        bool | None,
        typer.Option(
            "--mirror-odd-frames/--no-mirror-odd-frames",
            help="Record in the manifest that every other frame of a stream reaches the model mirrored left to "
            "right, so each window sees the face from both sides at no extra cost per new frame (docs/wild.md); "
            "run, serve, eval and bench follow the manifest. The model files do not change. Default: as the run "
            "was trained (fer-edge train --mirror-odd-frames).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing bundle.")] = False,
) -> None:
    """Convert a trained run to TFLite and ONNX (float32, and int8 with --int8) and verify every file."""
    from fer_edge.errors import UsageError

    if io not in ("int8", "float"):
        raise UsageError(f"--io takes int8 or float, got {io!r}")
    if run.suffix == ".h5":
        raise UsageError(f"{run}: .h5 models are never loaded (legacy format, not covered by Keras safe mode)")
    if not run.is_dir():
        raise UsageError(f"run folder {run} does not exist; pass the --out folder of fer-edge train")
    from fer_edge.export.bundle import ExportConfig, export_bundle

    config = ExportConfig(
        run=str(run),
        out=str(out) if out else None,
        int8=int8,
        formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
        calib_size=calib_size,
        data=str(data),
        int8_io=io == "int8",
        min_agreement=min_agreement,
        tie_margin=tie_margin,
        stills=str(stills) if stills else None,
        calib_stills=calib_stills,
        elu_floor=elu_floor or None,
        tune_stills=tune_stills,
        onnx_weight_bits=int_list(onnx_weight_bits, "--onnx-weight-bits"),
        prior_shift=prior_shift,
        mirror_odd_frames=mirror_odd_frames,
        force=force,
    )
    export_bundle(config, log=lambda line: typer.echo(line))


@app.command("run")
@friendly_errors
def run_command(
    bundle: Annotated[
        Path | None,
        typer.Option(help="Bundle folder from fer-edge export, or a bare .tflite/.onnx (default: the shipped model)."),
    ] = None,
    source: Annotated[
        str, typer.Option(help="picamera, a camera index (0), a video, an image, a folder or a glob.")
    ] = "0",
    format: FormatOption = "tflite",
    precision: PrecisionOption = "int8",
    streaming: Annotated[bool, typer.Option(help="Encoder once per new frame + head (else the whole window).")] = True,
    threads: ThreadsOption = None,
    tflite_backend: Annotated[
        str | None, typer.Option(help="Force ai-edge-litert, tflite-runtime or tensorflow (default: first found).")
    ] = None,
    verify: Annotated[bool, typer.Option(help="Check model files against the manifest's sha256.")] = True,
    detect: DetectOption = True,
    detector: DetectorOption = "blazeface",
    max_faces: MaxFacesOption = 4,
    detect_every: DetectEveryOption = 1,
    images: ImagesOption = "stills",
    margin: MarginOption = None,
    lift: LiftOption = None,
    level: LevelOption = None,
    lost_after: Annotated[int, typer.Option(help="Detections without a face before its window and id end.")] = 5,
    smoothing: SmoothingOption = 0.0,
    min_confidence: MinConfidenceOption = 0.0,
    max_failures: Annotated[int, typer.Option(help="Failed camera reads in a row before the camera is lost.")] = 10,
    reconnect: ReconnectOption = False,
    max_gap: Annotated[float, typer.Option(help="Seconds between frames beyond which the window resets.")] = 1.0,
    loop: Annotated[bool, typer.Option(help="Play a video source again and again (with --max-frames).")] = False,
    jsonl: Annotated[Path | None, typer.Option(help="Write predictions here instead of stdout.")] = None,
    show: Annotated[bool, typer.Option(help="Draw box, label and probability bars in a window (q quits).")] = False,
    out: Annotated[Path | None, typer.Option(help="Write the same overlay to this video (.mp4 or .avi).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing --out video.")] = False,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many predictions.")] = None,
) -> None:
    """Recognise emotions: one JSON line per prediction, per face.

    A video or camera: a rolling 3-frame window per tracked face. Images: every face on its own (kind "still").
    Ctrl-C stops a camera run normally: the summary is printed and the --out video is kept.
    """
    import json

    from fer_edge.atomic import atomic_path, check_output_dir
    from fer_edge.default_model import resolve_bundle
    from fer_edge.run import RunConfig, RunStats, steps

    if out is not None:
        check_output_dir(out, force)
    from fer_edge.overlay import OverlayVideo, check_display, draw
    from fer_edge.overlay import show as show_frame

    if show:
        check_display()
    config = RunConfig(
        source=source,
        bundle=str(resolve_bundle(bundle)),
        format=format,
        precision=precision,
        streaming=streaming,
        threads=threads,
        tflite_backend=tflite_backend,
        verify=verify,
        detect=detect,
        detector=detector,
        max_faces=max_faces,
        detect_every=detect_every,
        images=images,
        margin=margin,
        lift=lift,
        level=level,
        lost_after=lost_after,
        smoothing=smoothing,
        min_confidence=min_confidence,
        max_failures=max_failures,
        reconnect=reconnect,
        max_gap=max_gap,
        loop=loop,
    )
    config.validate()  # bad numbers: one usage line, before a model is loaded or a file opened
    stats = RunStats()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(jsonl, "w", encoding="utf-8")) if jsonl else sys.stdout
        video = OverlayVideo(stack.enter_context(atomic_path(out))) if out else None
        stack.callback(lambda: stats.source.read and _print_summary(stats.summary()))  # none if nothing was read
        try:
            count = 0
            for step in steps(config, stats):
                for prediction in step.predictions:
                    sink.write(json.dumps(prediction.to_dict()) + "\n")
                    count += 1
                if show or video:
                    canvas = draw(step.frame.image, step.faces)
                    if video:
                        video.write(canvas, step.frame.timestamp)
                    if show and not show_frame(canvas):
                        break
                if max_frames and count >= max_frames:
                    break
        except KeyboardInterrupt:
            typer.echo("stopped (Ctrl-C)", err=True)
        if video:
            written = video.close()
            typer.echo(f"annotated video written to {out}" if written else f"no frames: {out} not written", err=True)


@app.command("serve")
@friendly_errors
def serve_command(
    bundle: Annotated[
        Path | None,
        typer.Option(help="Bundle folder from fer-edge export, or a bare .tflite/.onnx (default: the shipped model)."),
    ] = None,
    source: Annotated[
        str, typer.Option(help="picamera, a camera index (0), a video, an image, a folder or a glob.")
    ] = "0",
    host: Annotated[
        str, typer.Option(help="Address to listen on: 127.0.0.1 is this machine only, 0.0.0.0 the whole LAN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8000,
    max_viewers: Annotated[int, typer.Option(help="Video streams (and event streams) at once; more get 503.")] = 16,
    realtime: Annotated[
        bool, typer.Option(help="Play a video at its own frame rate (else as fast as the model runs).")
    ] = True,
    exit_at_end: Annotated[
        bool, typer.Option(help="Stop when the source ends (else the page keeps its last frame until Ctrl-C).")
    ] = False,
    format: FormatOption = "tflite",
    precision: PrecisionOption = "int8",
    threads: ThreadsOption = None,
    detect: DetectOption = True,
    detector: DetectorOption = "blazeface",
    max_faces: MaxFacesOption = 4,
    detect_every: DetectEveryOption = 1,
    images: ImagesOption = "stills",
    margin: MarginOption = None,
    lift: LiftOption = None,
    level: LevelOption = None,
    smoothing: SmoothingOption = 0.0,
    min_confidence: MinConfidenceOption = 0.0,
    reconnect: ReconnectOption = False,
    loop: Annotated[bool, typer.Option(help="Play a video source again and again.")] = False,
) -> None:
    """Serve the live view as a web page: the video with its overlay, bars and a timeline per face.

    For a Pi without a display: open the printed address in a browser. The page's events are the JSON lines of
    fer-edge run --jsonl. Ctrl-C stops: the server is shut down and the summary printed.
    """
    from fer_edge.default_model import resolve_bundle
    from fer_edge.run import RunConfig, RunStats
    from fer_edge.serve import ServeOptions, serve

    config = RunConfig(
        source=source,
        bundle=str(resolve_bundle(bundle)),
        format=format,
        precision=precision,
        threads=threads,
        detect=detect,
        detector=detector,
        max_faces=max_faces,
        detect_every=detect_every,
        images=images,
        margin=margin,
        lift=lift,
        level=level,
        smoothing=smoothing,
        min_confidence=min_confidence,
        reconnect=reconnect,
        loop=loop,
    )
    options = ServeOptions(host, port, max_viewers, realtime, exit_at_end, debug=DEBUG.get())
    stats = RunStats()
    try:
        serve(config, options, stats, log=typer.echo)
    except KeyboardInterrupt:
        typer.echo("stopped (Ctrl-C)", err=True)
    finally:
        if stats.source.read:
            _print_summary(stats.summary())


@app.command("eval")
@friendly_errors
def eval_command(
    bundle: Annotated[
        Path | None,
        typer.Argument(
            help="Bundle folder from fer-edge export, or a bare .tflite/.onnx (default: the shipped model)."
        ),
    ] = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Labelled faces: CK+48-style sequence folders, a folder of <emotion>/ folders of stills or photos "
            "(or of train/ and val/ holding them), or fer2013.csv.",
        ),
    ] = DEFAULT_DATA,
    split: Annotated[
        str, typer.Option(help="The part of a still set with parts: train, val (or test in a csv).")
    ] = "val",
    classes: Annotated[
        str | None, typer.Option(help="Score only these data classes (comma list of names; default: all there).")
    ] = None,
    faces: Annotated[
        str,
        typer.Option(
            help="auto: images up to the model's input size (48 px) are face crops; so are larger ones when a face "
            "fills most images of the folder; other photos go through the face detector. crops: every image is a "
            "crop; detect: every image goes through the detector."
        ),
    ] = "auto",
    detector: Annotated[
        str,
        typer.Option(
            help="Face detector for photos: blazeface (faces within about 2 m), blazeface-full (farther, slower) "
            "or haar (OpenCV < 5 only)."
        ),
    ] = "blazeface",
    all_sequences: Annotated[
        bool,
        typer.Option(
            "--all-sequences", help="Sequence data: score every sequence, not only the bundle's held-out ones."
        ),
    ] = False,
    format: FormatOption = "tflite",
    precision: PrecisionOption = "int8",
    streaming: Annotated[
        bool, typer.Option(help="Encoder per frame + head (as fer-edge run), else whole window.")
    ] = True,
    threads: Annotated[int, typer.Option(help="Inference threads.")] = 1,
    margin: MarginOption = None,
    lift: LiftOption = None,
    level: LevelOption = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="Also score the fer package's emotion_model_quantized.tflite on the same faces."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder: eval.json, predictions.jsonl, confusion PNGs.")
    ] = None,
) -> None:
    """Accuracy, macro F1, per-class recall and a confusion matrix of a bundle on any labelled faces (no TensorFlow)."""
    from fer_edge.dataset import resolve_classes
    from fer_edge.default_model import resolve_bundle
    from fer_edge.evaluate import EvalConfig, evaluate
    from fer_edge.stills import canonical_class

    names = None
    if classes is not None:
        names = tuple(dict.fromkeys(canonical_class(c, "--classes") for c in resolve_classes(classes)))
    config = EvalConfig(
        bundle=str(resolve_bundle(bundle)),
        data=str(data),
        split=split,
        classes=names,
        faces=faces,
        detector=detector,
        heldout=not all_sequences,
        format=format,
        precision=precision,
        streaming=streaming,
        threads=threads,
        margin=margin,
        lift=lift,
        level=level,
        reference=str(reference) if reference else None,
        out=str(out) if out else None,
    )
    evaluate(config, log=lambda line: typer.echo(line))


@app.command()
@friendly_errors
def bench(
    bundles: Annotated[list[Path], typer.Argument(help="One or more bundle folders written by fer-edge export.")],
    data: DataOption = DEFAULT_DATA,
    threads: Annotated[str, typer.Option(help="Comma list of inference thread counts.")] = "1",
    runs: Annotated[int, typer.Option(help="Timed runs per measurement (after the warm-up).")] = 100,
    warmup: Annotated[int, typer.Option(help="Untimed runs before each measurement.")] = 10,
    video: Annotated[
        Path | None, typer.Option(help="Video for the end-to-end row (default: one made from held-out faces).")
    ] = None,
    end_to_end: Annotated[bool, typer.Option(help="Time decode + detection + inference on a video.")] = True,
    detectors: Annotated[
        bool, typer.Option(help="Time every face detector on held-out faces pasted on 640x480 frames.")
    ] = True,
    keras: Annotated[bool, typer.Option(help="Also time the source model.keras (needs TensorFlow).")] = True,
    reference: Annotated[
        Path | None,
        typer.Option(help="Add a row for the fer package's emotion_model_quantized.tflite on the same faces."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder: bench.md, bench.json, latency_vs_accuracy.png.")] = Path(
        "reports/bench"
    ),
    force: Annotated[bool, typer.Option(help="Replace an existing report folder.")] = False,
) -> None:
    """Accuracy and latency of every artifact of the bundles, side by side (no TensorFlow needed)."""
    from fer_edge.atomic import check_output_dir
    from fer_edge.errors import UsageError

    try:
        thread_counts = tuple(int(t) for t in threads.split(",") if t.strip())
    except ValueError:
        raise UsageError(f"--threads takes a comma list of integers such as 1,2; got {threads!r}") from None
    for bundle in bundles:
        if not bundle.is_dir():
            raise UsageError(f"bundle folder {bundle} does not exist; pass the --out folder of fer-edge export")
    if video is not None and not video.is_file():
        raise UsageError(f"video {video} does not exist")
    check_output_dir(out, force)  # before minutes of measuring
    from fer_edge.bench.report import write_report
    from fer_edge.bench.suite import BenchConfig, run_bench

    config = BenchConfig(
        bundles=tuple(str(b) for b in bundles),
        data=str(data),
        threads=thread_counts,
        runs=runs,
        warmup=warmup,
        video=str(video) if video else None,
        end_to_end=end_to_end,
        detectors=detectors,
        keras=keras,
        reference=str(reference) if reference else None,
        out=str(out),
    )
    results = run_bench(config, log=lambda line: typer.echo(line, err=True))
    write_report(results, out, force, log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "bench.md").read_text())


def _print_summary(summary: dict) -> None:
    stages = ", ".join(f"{k} {v['p50']:.2f}/{v['p90']:.2f}" for k, v in summary["latency_ms"].items())
    typer.echo(
        f"frames {summary['frames_read']} read, {summary['frames_dropped']} dropped, "
        f"{len(summary['images_skipped'])} unreadable skipped; faces {summary['faces_found']} "
        f"({summary['faces_tracked']} distinct); "
        f"predictions {summary['predictions']}; {summary['frames_per_second']:.1f} frames/s; "
        f"p50/p90 ms: {stages or 'n/a'}",
        err=True,
    )
    for path in summary["images_skipped"][:10]:
        typer.echo(f"skipped unreadable image: {path}", err=True)


@data_app.command("stats")
@friendly_errors
def data_stats(
    data: DataOption = DEFAULT_DATA,
    classes: ClassesOption = "default",
    out: Annotated[Path, typer.Option(help="Where to write the PNG grid of sample sequences.")] = Path(
        "reports/data_stats.png"
    ),
) -> None:
    """Counts per class and subjects, and a PNG grid with sample sequences of every class."""
    from fer_edge.dataset import dataset_stats, load_sequences, resolve_classes
    from fer_edge.errors import require

    names = resolve_classes(classes)
    stats = dataset_stats(data, names)
    sequences = load_sequences(data, names)  # reads every image: a bad one fails before any output
    require("matplotlib", "train")
    typer.echo(f"{'class':<10} {'sequences':>9} {'images':>7} {'subjects':>8}")
    for name in names:
        typer.echo(
            f"{name:<10} {stats.sequences_per_class[name]:>9} {stats.images_per_class[name]:>7} "
            f"{stats.subjects_per_class[name]:>8}"
        )
    typer.echo(f"{'total':<10} {stats.sequences:>9} {sum(stats.images_per_class.values()):>7} {stats.subjects:>8}")
    from fer_edge.train.reports import plot_dataset_grid

    plot_dataset_grid(sequences, stats, out)
    typer.echo(f"sample grid written to {out}")


@data_app.command("clip")
@friendly_errors
def data_clip(
    bundle: Annotated[
        Path | None, typer.Argument(help="Bundle whose held-out sequences to use (default: the shipped model).")
    ] = None,
    data: DataOption = DEFAULT_DATA,
    out: Annotated[Path, typer.Option(help="The video to write (MJPG .avi).")] = Path("reports/heldout_clip.avi"),
    force: Annotated[bool, typer.Option(help="Replace an existing video.")] = False,
) -> None:
    """A 640x480 video of a bundle's held-out CK+48 sequences, each face enlarged and placed at random on noise,
    with face-free frames between: what `fer-edge run` and the bench's end-to-end row are shown."""
    from fer_edge.atomic import check_output_dir
    from fer_edge.bench.clip import write_face_clip
    from fer_edge.bench.suite import heldout
    from fer_edge.default_model import resolve_bundle
    from fer_edge.manifest import read_manifest

    check_output_dir(out, force)
    bundle = resolve_bundle(bundle)
    sequences, _ = heldout(read_manifest(bundle), bundle, str(data))
    segments = write_face_clip(sequences.frames, out)
    frames = segments[-1].first + segments[-1].length + 8 if segments else 0
    typer.echo(f"{len(segments)} held-out sequences, {frames} frames written to {out}")


def main() -> None:
    stopping.install()
    app(prog_name="fer-edge")


if __name__ == "__main__":
    sys.exit(main())
