"""`fer-edge export`: a trained run -> a verified deployment bundle of TFLite/ONNX models and a manifest."""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fer_edge.atomic import atomic_dir, check_output_dir
from fer_edge.backends import open_model
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.errors import CalibrationError, DatasetError, UsageError
from fer_edge.export.calibration import calibration_set
from fer_edge.export.convert import (
    ONNX_OPSET,
    calibrate_tflite,
    check_onnx,
    quantize_onnx,
    quantize_tflite,
    to_onnx,
    to_tflite,
)
from fer_edge.export.priors import prior_offsets, shift_output_bias
from fer_edge.export.ranges import ELU_FLOOR, scale_tops, search_tops
from fer_edge.export.run_folder import TrainedRun, load_run
from fer_edge.export.twin import max_difference, streaming_parts, unrolled_twin
from fer_edge.hashing import sha256_file
from fer_edge.manifest import FORMAT_VERSION, MIRROR_RULE, Artifact, Manifest, write_manifest
from fer_edge.metrics import parity
from fer_edge.preprocess import SPEC, mirror_windows
from fer_edge.progress import progress
from fer_edge.stills import Stills, load_stills, relabel, sample
from fer_edge.versions import library_versions

Log = Callable[[str], None]
FORMATS = ("tflite", "onnx")
PARTS = ("full", "encoder", "head")
TWIN_TOLERANCE = 1e-4
CONVERTER_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
)


@dataclass(frozen=True)
class ExportConfig:
    run: str
    out: str | None = None  # default: bundles/<run folder name>
    int8: bool = False
    formats: tuple[str, ...] = FORMATS
    calib_size: int | None = None  # None: every training sequence
    data: str | None = None  # the CK+48 folder; None: the one the run was trained on (its config.json)
    int8_io: bool = True  # False keeps float input/output tensors on int8 TFLite models
    min_agreement: float = 0.97
    tie_margin: float = 0.05  # flips where the float model's two classes were closer than this are not counted
    stills: str | None = None  # runs trained on stills: where they are (default: the path in the run's config)
    calib_stills: int = 600  # stills (static sequences) added to the calibration set of such runs
    elu_floor: float | None = ELU_FLOOR  # int8: bottom of each ELU input's range (export.ranges); None: off
    tune_stills: int = 0  # int8 TFLite encoder: training stills drawn to search its range tops on; 0: no search
    # int8 ONNX: 7 (onnxruntime's reduce_range) and/or 8 bits per weight; with both, the runtime picks by CPU
    onnx_weight_bits: tuple[int, ...] = (7,)
    prior_shift: float = 0.0  # runs trained on stills: add this times log(training stills per class) to the logits
    # the manifest says the stream's odd frames reach the model mirrored; None: as the run was trained
    mirror_odd_frames: bool | None = None
    force: bool = False

    def validate(self) -> None:
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise UsageError(f"--formats takes a comma list of {', '.join(FORMATS)}, got {','.join(self.formats)}")
        if self.calib_size is not None and self.calib_size < 1:
            raise UsageError(f"--calib-size must be at least 1, got {self.calib_size}")
        if self.calib_stills < 0:
            raise UsageError(f"--calib-stills must be at least 0, got {self.calib_stills}")
        if self.tune_stills < 0:
            raise UsageError(f"--tune-stills must be at least 0, got {self.tune_stills}")
        if self.tune_stills and not (self.int8 and "tflite" in self.formats):
            raise UsageError(
                "--tune-stills searches the int8 TFLite encoder's ranges; pass --int8 and tflite in --formats"
            )
        bits = ",".join(map(str, self.onnx_weight_bits))
        if (
            not self.onnx_weight_bits
            or len(set(self.onnx_weight_bits)) < len(self.onnx_weight_bits)
            or any(b not in (7, 8) for b in self.onnx_weight_bits)
        ):
            raise UsageError(f"--onnx-weight-bits takes 7, 8 or 7,8, got {bits}")
        if self.onnx_weight_bits != (7,) and not (self.int8 and "onnx" in self.formats):
            raise UsageError("--onnx-weight-bits sets the int8 ONNX weights; pass --int8 and onnx in --formats")
        if self.elu_floor is not None and self.elu_floor <= 0:
            raise UsageError(f"--elu-floor must be above 0 (0 on the command line turns it off), got {self.elu_floor}")
        if not 0 <= self.prior_shift <= 1:
            raise UsageError(f"--prior-shift must be between 0 and 1, got {self.prior_shift}")
        if not 0 <= self.tie_margin < 1:
            raise UsageError(f"--tie-margin must be in [0, 1), got {self.tie_margin}")
        if not 0 <= self.min_agreement <= 1:
            raise UsageError(f"--min-agreement must be between 0 and 1, got {self.min_agreement}")

    @property
    def bundle_dir(self) -> Path:
        return Path(self.out) if self.out else Path("bundles") / Path(self.run).resolve().name


def run_streaming(encoder_path: Path, head_path: Path, frames: np.ndarray) -> np.ndarray:
    """Encoder once per frame, head over the 3 feature vectors: what the runtime does per window."""
    encoder, head = open_model(encoder_path), open_model(head_path)
    steps = frames.shape[1]
    features = encoder.run(frames.reshape(-1, *frames.shape[2:])).reshape(len(frames), steps, -1)
    return head.run(features)


def feature_cosines(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per row, the cosine between an int8 encoder's features and the float ones."""
    norms = np.linalg.norm(features, axis=1) * np.linalg.norm(reference, axis=1)
    return np.sum(features * reference, 1) / np.maximum(norms, 1e-12)


def feature_closeness(probe: np.ndarray, reference: np.ndarray, int8_io: bool) -> Callable[[bytes], float]:
    """How close a calibrated encoder, once quantized, stays to float: the 5th percentile, over the probe images,
    of feature_cosines (export.ranges.search_tops maximises it)."""

    def score(calibrated: bytes) -> float:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "encoder.tflite"
            path.write_bytes(quantize_tflite(calibrated, int8_io))
            features = open_model(path, threads=1).run(probe)
        return float(np.percentile(feature_cosines(features, reference), 5))

    return score


def convert_part(
    fmt: str,
    model,
    calibration: np.ndarray | None,
    path: Path,
    int8_io: bool,
    elu_floor: float | None,
    tune: Callable[[bytes], float] | None = None,
    tops: dict[str, float] | None = None,
    log: Log = print,
    onnx_weight_bits: int = 7,
) -> dict[str, float] | None:
    """Writes one model file. For int8 TFLite: with tune, searches the ELU range tops and returns the factors kept;
    with tops instead, applies those factors (found on the encoder) to this model's copies of its layers. int8 ONNX
    files get the same floor and tops (export.ranges.onnx_elu_overrides). An int8 file is made from the part's float
    file when that is already written."""
    float_path = path.with_name(path.stem.split("_int8")[0] + f"_float32.{fmt}")
    if fmt == "tflite":
        if calibration is None:
            path.write_bytes(to_tflite(model))
            return None
        float_model = float_path.read_bytes() if float_path.exists() else to_tflite(model)
        calibrated, searched = calibrate_tflite(float_model, calibration, elu_floor), None
        if tune is not None:
            calibrated, searched = search_tops(calibrated, tune, log)
        elif tops:
            calibrated = scale_tops(calibrated, tops)
            log(f"  int8 range tops: the encoder's {len(tops)} lowered tops applied to {path.name}")
        path.write_bytes(quantize_tflite(calibrated, int8_io))
        return searched
    if calibration is None:
        to_onnx(model, path)
    else:
        if not float_path.exists():
            to_onnx(model, float_path)
        quantize_onnx(float_path, path, calibration, reduce_range=onnx_weight_bits == 7, elu_floor=elu_floor, tops=tops)
        if tops:
            log(f"  int8 range tops: the TFLite encoder's {len(tops)} lowered tops applied to {path.name}")
    check_onnx(path)
    return None


def describe(
    path: Path, fmt: str, part: str, precision: str, verification: dict, weight_bits: int | None = None
) -> Artifact:
    model = open_model(path)
    return Artifact(
        file=path.name,
        format=fmt,
        part=part,
        precision=precision,
        sha256=sha256_file(path),
        bytes=path.stat().st_size,
        inputs=[model.input.to_dict()],
        outputs=[model.output.to_dict()],
        verification=verification,
        weight_bits=weight_bits,
    )


def recorded_data(run: TrainedRun) -> str:
    """The dataset the run was trained on, as its config.json recorded it, if it is still there."""
    recorded = run.config.get("config", {}).get("data")
    if not recorded or not Path(recorded).is_dir():
        raise UsageError(f"pass --data PATH, the CK+48 folder {run.directory} was trained on (or set FER_EDGE_DATA)")
    return recorded


def load_matching_data(run: TrainedRun, data_path: str) -> Sequences:
    """The run's sequences; labels index the model's classes (the sequence classes come first)."""
    data = load_sequences(Path(data_path), tuple(run.config.get("sequence_classes", run.classes)))
    known = set(data.ids)
    missing = [sid for sid in run.split.train + run.split.test if sid not in known]
    if missing:
        raise DatasetError(
            f"{len(missing)} sequences of {run.directory}/split.json (first: {missing[0]}) are not in {data_path}; "
            "point --data at the dataset the run was trained on"
        )
    return replace(data, classes=run.classes)


def stills_path(run: TrainedRun, config: ExportConfig) -> Path | None:
    """Where the training stills of a run that trained on stills are (--stills, else the run's record), or None."""
    recorded = (run.config.get("stills") or {}).get("path")
    if not recorded:
        return None
    path = Path(config.stills or recorded)
    if not path.exists():
        raise DatasetError(f"the run trained on stills from {path}, which is not there; pass --stills")
    return path


def training_stills(run: TrainedRun, config: ExportConfig, log: Log) -> Stills | None:
    """The training stills of a run that trained on stills, relabelled to its classes and read once for the prior
    shift, the calibration sample and the range-top probe; None for other runs or when none of them asks."""
    path = stills_path(run, config)
    if path is None or not (config.prior_shift or config.calib_stills or config.tune_stills):
        return None
    log(f"reading the training stills from {path}")
    return relabel(load_stills(path, "train"), run.classes)


def shift_prior(run: TrainedRun, config: ExportConfig, train: Stills | None, log: Log) -> dict | None:
    """--prior-shift: moves the run's output bias by tau * log(training stills per class), in place (export.priors),
    and returns what the manifest records of it; None without it."""
    if not config.prior_shift:
        return None
    if train is None:
        raise UsageError("--prior-shift needs a run trained on stills: their numbers per class set the shift")
    counts = np.bincount(train.labels, minlength=len(run.classes))
    offsets = prior_offsets(counts, config.prior_shift)
    shift_output_bias(run.model, offsets)
    log(
        f"prior shift {config.prior_shift:g} x log(training stills per class) added to the logits: "
        + ", ".join(f"{c} {o:+.3f}" for c, o in zip(run.classes, offsets, strict=True))
    )
    return {
        "tau": config.prior_shift,
        "stills": os.path.relpath(stills_path(run, config).resolve()),
        "counts": {c: int(n) for c, n in zip(run.classes, counts, strict=True)},
        "logit_offsets": {c: round(float(o), 6) for c, o in zip(run.classes, offsets, strict=True)},
    }


def calibration_stills(config: ExportConfig, train: Stills | None, log: Log) -> Stills | None:
    """A class-stratified sample of the training stills (None for a run without them or --calib-stills 0)."""
    if train is None or not config.calib_stills:
        return None
    stills = sample(train, config.calib_stills)
    log(f"calibration adds {len(stills)} training stills as static sequences")
    return stills


def tuning_stills(config: ExportConfig, train: Stills | None, calibration: Stills | None, log: Log) -> Stills | None:
    """config.tune_stills training stills (class-stratified, seed 7) minus the calibration ones, or None."""
    if not config.tune_stills:
        return None
    if train is None or calibration is None:
        raise UsageError("--tune-stills needs a run trained on stills and --calib-stills above 0")
    drawn = sample(train, config.tune_stills, seed=7)
    keep = ~np.isin(drawn.ids, calibration.ids)
    probe = Stills(drawn.images[keep], drawn.labels[keep], drawn.ids[keep], drawn.classes, drawn.skipped)
    if not len(probe):
        raise UsageError(
            f"--tune-stills {config.tune_stills} draws no training still outside the calibration sample; raise it"
        )
    log(f"the int8 encoder's range tops are searched on {len(probe)} other training stills")
    return probe


def variants(config: ExportConfig, precisions: tuple[str, ...]) -> list[tuple[str, str, int | None]]:
    """(format, precision, ONNX weight bits or None) of each set of files, TFLite first."""
    return [
        (fmt, precision, bits)
        for fmt in sorted(config.formats, key=FORMATS.index)
        for precision in precisions
        for bits in (config.onnx_weight_bits if (fmt, precision) == ("onnx", "int8") else (None,))
    ]


def artifact_name(part: str, precision: str, fmt: str, bits: int | None, all_bits: tuple[int, ...]) -> str:
    """`encoder_int8.onnx`; the int8 ONNX files of a second weight width get it in the name (`encoder_int8w8.onnx`)."""
    width = f"w{bits}" if bits is not None and bits != all_bits[0] else ""
    return f"{part}_{precision}{width}.{fmt}"


def run_mirrors(run: TrainedRun) -> bool:
    """Whether the run was trained with every other frame mirrored (fer-edge train --mirror-odd-frames)."""
    recipe = run.config.get("recipe")
    return bool(isinstance(recipe, dict) and recipe.get("mirror_odd_frames"))


def export_bundle(config: ExportConfig, log: Log = print) -> Manifest:
    """Convert, write atomically, reload every artifact in its runtime, verify parity on held-out data."""
    config.validate()
    check_output_dir(config.bundle_dir, config.force)
    run = load_run(Path(config.run))
    train = training_stills(run, config, log)
    prior = shift_prior(run, config, train, log)
    data = load_matching_data(run, config.data or recorded_data(run))
    test = data.select(run.split.test)
    mirror = run_mirrors(run) if config.mirror_odd_frames is None else config.mirror_odd_frames
    if mirror:  # verified as the runtime will run them
        test = replace(test, frames=mirror_windows(test.frames))
    calib = calibration_set(data, run.split, config.calib_size)
    stills = calibration_stills(config, train, log)
    probe = tuning_stills(config, train, stills, log)
    calib_frames = calib.frames if stills is None else np.concatenate([calib.frames, stills.as_sequences()])
    log(
        f"exporting {run.directory} ({len(run.classes)} classes, width {run.width:g}); "
        f"calibration: {len(calib)} training sequences; verification: {len(test)} held-out sequences"
    )

    twin = unrolled_twin(run.model, run.width)
    twin_gap = max_difference(run.model, twin, test.frames)
    if twin_gap > TWIN_TOLERANCE:
        raise CalibrationError(f"the unrolled twin differs from the trained model by {twin_gap:.2g}; cannot export")
    encoder, head = streaming_parts(twin)
    reference = run.model.predict(test.frames, verbose=0)
    calib_features = np.stack([encoder.predict(calib_frames[:, t], verbose=0) for t in range(calib_frames.shape[1])], 1)
    inputs = {
        "full": (twin, calib_frames),
        "encoder": (encoder, calib_frames.reshape(-1, *calib_frames.shape[2:])),
        "head": (head, calib_features),
    }
    precisions = ("float32", "int8") if config.int8 else ("float32",)
    onnx_int8 = config.int8 and "onnx" in config.formats
    tune = (
        None
        if probe is None
        else feature_closeness(probe.images, encoder.predict(probe.images, verbose=0), config.int8_io)
    )
    tops: dict[str, float] | None = None

    with atomic_dir(config.bundle_dir, config.force) as tmp:
        paths: dict[tuple[str, str, str, int | None], Path] = {}
        # TFLite first: its searched tops serve ONNX too; the encoder's searched tops apply to the full model
        conversions = list(itertools.product(variants(config, precisions), ("encoder", "head", "full")))
        for (fmt, precision, bits), part in progress(conversions, "converting"):
            model, calibration = inputs[part]
            path = tmp / artifact_name(part, precision, fmt, bits, config.onnx_weight_bits)
            started = time.perf_counter()
            searched = convert_part(
                fmt,
                model,
                calibration if precision == "int8" else None,
                path,
                config.int8_io,
                config.elu_floor,
                tune if (fmt, part, precision) == ("tflite", "encoder", "int8") else None,
                tops if (fmt, part) in (("tflite", "full"), ("onnx", "encoder"), ("onnx", "full")) else None,
                log,
                bits or 7,
            )
            tops = searched if searched is not None else tops
            paths[(fmt, part, precision, bits)] = path
            log(f"  {path.name:<22} {path.stat().st_size / 1e6:7.2f} MB  {time.perf_counter() - started:5.1f} s")

        artifacts, failures = [], []
        checks = list(itertools.product(variants(config, precisions), PARTS))
        for (fmt, precision, bits), part in progress(checks, "verifying"):
            path = paths[(fmt, part, precision, bits)]
            verification: dict = {}
            if part == "full":
                verification = parity(open_model(path).run(test.frames), reference, test.labels, config.tie_margin)
            elif part == "head":
                streamed = run_streaming(paths[(fmt, "encoder", precision, bits)], path, test.frames)
                verification = {"streaming": parity(streamed, reference, test.labels, config.tie_margin)}
            check = verification.get("streaming", verification)
            if precision == "int8" and check:
                if check["agreement_beyond_ties"] < config.min_agreement:
                    failures.append(
                        f"{path.name} agrees with Keras on {check['agreement_with_keras']:.1%} "
                        f"({check['agreement_beyond_ties']:.1%} counting {check['near_tie_flips']} near-ties)"
                    )
                elif check["near_tie_flips"] and check["agreement_with_keras"] < config.min_agreement:
                    log(
                        f"  {path.name}: let through on near-ties: {check['near_tie_flips']} of its "
                        f"{round((1 - check['agreement_with_keras']) * check['sequences'])} flips were between "
                        f"classes the float model put within {config.tie_margin:g} of each other"
                    )
            if check and not check["finite"]:
                failures.append(f"{path.name} gives NaN or Inf")
            artifacts.append(describe(path, fmt, part, precision, verification, bits))
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            classes=list(run.classes),
            sequence_length=int(test.frames.shape[1]),
            frame_shape=list(test.frames.shape[2:]),
            preprocess=SPEC.to_dict() | ({MIRROR_RULE: True} if mirror else {}),
            artifacts=artifacts,
            source_model={
                "file": "model.keras",
                "sha256": run.model_sha256,
                "run": os.path.relpath(run.directory.resolve()),  # never the building machine's absolute path
                "width": run.width,
                "twin_max_difference": twin_gap,
                "prior_shift": prior,  # None: the bundle's models are model.keras as trained
            },
            split={
                "protocol": run.split.protocol,
                "seed": run.split.seed,
                "heldout": len(test),
                "fold": run.split.fold,
            },
            calibration={
                "source": "training part of split.json" + (" and training stills" if stills is not None else ""),
                "count": len(calib_frames),
                "tflite_elu_floor": config.elu_floor,
                # export.ranges.search_tops: the int8 ELU range tops lowered on the streaming encoder and applied to
                # the whole-window model's copies too, '<layer>:in' or '<layer>:out' -> factor
                "tflite_tune_stills": 0 if probe is None else len(probe),
                "tflite_range_tops": tops,
                # the same floor and tops given to the int8 ONNX files (export.ranges.onnx_elu_overrides)
                "onnx_elu_floor": config.elu_floor if onnx_int8 else None,
                "onnx_range_tops": tops if onnx_int8 else None,
                "onnx_weight_bits": list(config.onnx_weight_bits) if onnx_int8 else None,
                "ids": list(calib.ids) + (list(stills.ids) if stills is not None else []),
            },
            heldout_metrics={
                "keras_accuracy": float(np.mean(reference.argmax(1) == test.labels)),
                # What `fer-edge bench` compares every artifact with, without TensorFlow or the run folder.
                "ids": list(test.ids),
                "labels": [int(v) for v in test.labels],
                "keras_probabilities": [[round(float(p), 7) for p in row] for row in reference],
            },
            versions={**library_versions(*CONVERTER_PACKAGES), "onnx_opset": str(ONNX_OPSET)},
            notes={"int8_io": config.int8_io},
        )
        write_manifest(manifest, tmp)
        print_table(manifest, log)
        if failures:
            raise CalibrationError(
                "int8 verification failed: "
                + "; ".join(failures)
                + f" (--min-agreement {config.min_agreement}); no bundle was written"
            )
    log(f"bundle written to {config.bundle_dir}")
    return manifest


def print_table(manifest: Manifest, log: Log) -> None:
    log(f"{'artifact':<30} {'MB':>6} {'held-out acc':>12} {'agreement':>9} {'max |dp|':>8}")
    log(f"{'model.keras (source)':<30} {'':>6} {manifest.heldout_metrics['keras_accuracy']:>12.1%}")
    for a in manifest.artifacts:
        check = a.verification.get("streaming", a.verification)
        name = a.file if a.part != "head" else f"{a.file} (+encoder)"
        if check:
            log(
                f"{name:<30} {a.bytes / 1e6:>6.2f} {check['accuracy']:>12.1%} {check['agreement_with_keras']:>9.1%} "
                f"{check['max_probability_difference']:>8.3f}"
            )
        else:
            log(f"{name:<30} {a.bytes / 1e6:>6.2f} {'(see head)':>12}")
