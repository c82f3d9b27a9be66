"""`fer-edge bench`: every artifact of every bundle measured the same way, in one run, without TensorFlow.

Per artifact and mode (whole window / streaming): held-out accuracy against the run's split, agreement with the
Keras model (its probabilities are in the manifest), latency per thread count, start-up cost and peak memory
in a fresh process, size, MACs and achieved MAC/s against the measured int8 ceiling of the same runtime.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from fer_edge.bench.ceiling import measure_ceiling
from fer_edge.bench.clip import write_face_clip
from fer_edge.bench.detectors import compare_detectors
from fer_edge.bench.macs import count_macs
from fer_edge.bench.timing import time_calls
from fer_edge.cpu import cpu_flags
from fer_edge.dataset import Sequences, load_sequences
from fer_edge.errors import DatasetError, FerEdgeError, UsageError
from fer_edge.hashing import sha256_file
from fer_edge.manifest import Manifest, read_manifest
from fer_edge.metrics import parity, per_class
from fer_edge.model import EmotionModel
from fer_edge.progress import progress
from fer_edge.versions import library_versions

Log = Callable[[str], None]
ONNX_HINT = "pip install 'fer-edge[onnx]'"
RUNTIME_PACKAGES = ("fer-edge", "ai-edge-litert", "tflite-runtime", "onnxruntime", "numpy", "opencv-python-headless")
SIMD_FLAGS = ("avx", "fma", "sse4", "amx", "asimd", "dotprod", "i8mm")  # what decides int8 and float speed
VARIANTS = (  # (format, precision): each is measured whole-window and streaming
    ("tflite", "float32"),
    ("tflite", "int8"),
    ("onnx", "float32"),
    ("onnx", "int8"),
)


@dataclass(frozen=True)
class BenchConfig:
    bundles: tuple[str, ...]
    data: str | None = None  # the CK+48 folder the bundles were trained on; None: latency only, no accuracy
    threads: tuple[int, ...] = (1,)
    runs: int = 100
    warmup: int = 10
    video: str | None = None  # None: a clip made from the first bundle's held-out sequences
    end_to_end: bool = True
    detectors: bool = True  # every face detector on the first bundle's held-out faces pasted on 640x480 frames
    keras: bool = True  # also time the source model.keras where TensorFlow is installed
    reference: str | None = None  # the `fer` package's TFLite model: a row on the first bundle's held-out faces
    out: str = "reports/bench"

    def validate(self) -> None:
        if not self.bundles:
            raise UsageError("give at least one bundle folder")
        if self.runs < 1 or self.warmup < 0:
            raise UsageError(f"--runs must be at least 1 and --warmup at least 0, got {self.runs}, {self.warmup}")
        if not self.threads or min(self.threads) < 1:
            raise UsageError(f"--threads takes a comma list of counts of at least 1, got {self.threads}")
        if self.reference and not Path(self.reference).is_file():
            raise UsageError(f"--reference {self.reference} does not exist; pass the fer package's .tflite file")


@dataclass
class Row:
    """One artifact in one mode: what bench.md shows, with the details bench.json keeps."""

    bundle: str
    width: float | None
    format: str
    precision: str
    mode: str  # "window": the whole model per window; "streaming": encoder per new frame + head
    status: str = "ok"  # "ok" or "failed: <reason>"
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    accuracy: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)  # by thread count: window, new_frame, encoder, head
    startup: dict = field(default_factory=dict)
    macs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision} {self.mode}"


def frame_key(mode: str) -> str:
    """What one new camera frame costs: the whole window again, or one encoder pass + the head."""
    return "new_frame" if mode == "streaming" else "window"


def frame_ms(row: dict, threads: int) -> float | None:
    """Median ms per new frame of a row (as in bench.json) at this thread count; None if not measured."""
    timing = row["latency"].get(str(threads), {})
    key = frame_key(row["mode"])
    return timing[key]["p50_ms"] if key in timing else None


def machine_info() -> dict:
    model = platform.processor()
    try:
        names = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        model = model or (names[0].split(":", 1)[1].strip() if names else "")
    except OSError:
        pass
    flags = sorted(f for f in cpu_flags() if f.startswith(SIMD_FLAGS))
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "cpu_flags": flags,
        "python": platform.python_version(),
    }


def heldout(manifest: Manifest, bundle: Path, data: str) -> tuple[Sequences, np.ndarray]:
    """The held-out sequences of the bundle's run and the Keras model's probabilities for them."""
    metrics = manifest.heldout_metrics
    if "ids" not in metrics:
        raise UsageError(f"{bundle} was exported by an older fer-edge without held-out ids; export it again")
    # A model may predict classes no sequence has (neutral, learnt from stills); they come after the sequence classes.
    present = tuple(c for c in manifest.classes if (Path(data) / c).is_dir())
    if manifest.classes[: len(present)] != list(present):
        raise DatasetError(f"{data} has folders for {', '.join(present)} but not for every class before them")
    sequences = load_sequences(Path(data), present).select(metrics["ids"])
    if list(sequences.labels) != metrics["labels"]:
        raise DatasetError(f"the labels in {data} differ from those {bundle} was verified on; wrong dataset?")
    return sequences, np.asarray(metrics["keras_probabilities"], dtype=np.float32)


def accuracy(probabilities: np.ndarray, reference: np.ndarray, test: Sequences) -> dict:
    return {**parity(probabilities, reference, test.labels), **per_class(probabilities, test.labels, test.classes)}


def probe(paths: list[Path], threads: int, runs: int = 0, warmup: int = 10) -> dict:
    """Start-up numbers (and with runs > 0 latency) of a fresh process that only loads and runs each model file."""
    results = {}
    for path in paths:
        command = [sys.executable, "-m", "fer_edge.bench.probe", str(path), "--threads", str(threads)]
        command += ["--runs", str(runs), "--warmup", str(warmup)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise FerEdgeError(f"start-up probe of {path} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
        results[path.name] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def measure_row(
    row: Row,
    bundle: Path,
    test: Sequences | None,
    reference: np.ndarray | None,
    config: BenchConfig,
    probed: dict,
) -> None:
    """Accuracy on the held-out sequences (none without data) and latency of one artifact in one mode.

    probed: earlier start-up numbers by file sha256 (the model was loaded, so each file matches its manifest), so
    that a file several bundles hold (a copy, the shipped subset of a bundle) starts one fresh process, not one each."""
    streaming = row.mode == "streaming"
    model = EmotionModel(bundle, row.format, row.precision, streaming=streaming, threads=config.threads[0])
    manifest = model.manifest
    parts = ("encoder", "head") if streaming else ("full",)
    artifacts = [manifest.artifact(row.format, part, row.precision) for part in parts]
    row.files = [a.file for a in artifacts]
    row.bytes = sum(a.bytes for a in artifacts)
    if test is not None:
        probabilities = np.stack([model.predict_window(window) for window in test.frames])
        row.accuracy = accuracy(probabilities, reference, test)
        window = test.frames[0]
    else:  # latency does not depend on the pixels
        window = np.random.default_rng(0).random((manifest.sequence_length, *manifest.frame_shape), dtype=np.float32)
    frame = window[0]
    for threads in config.threads:
        if threads != config.threads[0]:
            model = EmotionModel(bundle, row.format, row.precision, streaming=streaming, threads=threads, verify=False)
        timings = {"window": time_calls(lambda m=model: m.predict_window(window), config.runs, config.warmup)}
        if streaming:
            features = np.stack([model.encode(f) for f in window])
            # frame 1 of a stream: mirrored first where the bundle says so, the dearer of a stream's two frames
            timings["encoder"] = time_calls(lambda m=model: m.encode(frame, 1), config.runs, config.warmup)
            timings["head"] = time_calls(lambda m=model, f=features: m.head(f), config.runs, config.warmup)
            timings["new_frame"] = time_calls(
                lambda m=model, f=features: m.head(np.stack([*f[1:], m.encode(frame, 1)])), config.runs, config.warmup
            )
        row.latency[str(threads)] = timings
    for artifact in artifacts:
        if artifact.sha256 not in probed:
            probed[artifact.sha256] = probe([bundle / artifact.file], config.threads[0])[artifact.file]
        row.startup[artifact.file] = copy.deepcopy(probed[artifact.sha256])


def measure_keras(
    row: Row, manifest: Manifest, test: Sequences, reference: np.ndarray, config: BenchConfig, timed: dict
) -> None:
    """The source model.keras, timed in a fresh process per thread count (TensorFlow's threads are set at start).

    timed: earlier timings by the model file's sha256, so that bundles exported from one run time it once."""
    source = Path(manifest.source_model.get("run", "")) / manifest.source_model["file"]
    if not source.is_file():
        raise FerEdgeError(f"the bundle's source model {source} is not on this machine")
    digest = manifest.source_model["sha256"]
    if sha256_file(source) != digest:
        raise FerEdgeError(f"{source} is not the model this bundle was exported from (sha256 differs)")
    row.files, row.bytes = [str(source)], source.stat().st_size
    row.accuracy = accuracy(reference, reference, test)
    if digest not in timed:
        latency, startup = {}, {}
        for threads in config.threads:
            result = probe([source], threads, config.runs, config.warmup)[source.name]
            latency[str(threads)] = {"window": result.pop("latency")}
            startup = startup or {source.name: result}
        timed[digest] = (latency, startup)
    latency, startup = copy.deepcopy(timed[digest])
    row.latency, row.startup = latency, startup


def measure_reference(path: Path, test: Sequences, config: BenchConfig) -> Row:
    """The `fer` package's model on the same held-out faces (each sequence's last frame), argmax over its classes."""
    from fer_edge.evaluate import Faces, reference_scorer, score

    scorer = reference_scorer(path, config.threads[0])
    names = [test.classes[i] for i in test.labels]
    crops = [np.round(w[-1, :, :, 0] * 255).astype(np.uint8) for w in test.frames]
    faces = Faces(test.frames, crops, names, list(test.ids), "sequences")
    scored = score(scorer.predict(faces), names, scorer.classes, list(test.classes))
    row = Row(f"fer reference ({path.name})", None, "fer", "int8", "window", files=[path.name])
    row.bytes = path.stat().st_size
    row.accuracy = {"accuracy": scored["accuracy"], "macro_f1": scored["macro_f1"], "recall": scored["recall"]}
    one = Faces(test.frames[:1], crops[:1], [], [], "sequences")
    for threads in config.threads:
        timed = reference_scorer(path, threads)
        row.latency[str(threads)] = {"window": time_calls(lambda s=timed: s.predict(one), config.runs, config.warmup)}
    return row


def bundle_macs(bundle: Path, manifest: Manifest) -> dict:
    """Counted on the float TFLite graphs (the int8 ones hold the same convolutions and matrix products)."""
    counts = {}
    for part in ("full", "encoder", "head"):
        artifact = manifest.artifact("tflite", part, "float32") or manifest.artifact("tflite", part, "int8")
        if artifact is not None:
            counts[part] = count_macs(bundle / artifact.file)
    return counts


def attach_rates(row: Row, macs: dict, ceilings: dict) -> None:
    if not macs or row.status != "ok":
        return
    per_frame = macs.get("encoder", 0) + macs.get("head", 0) if row.mode == "streaming" else macs.get("full", 0)
    row.macs = {"per_frame": macs.get("encoder"), "per_window": macs.get("full"), "per_new_frame": per_frame}
    for threads, timings in row.latency.items():
        ms = timings[frame_key(row.mode)]["p50_ms"]
        rate = per_frame / (ms / 1e3)
        ceiling = ceilings.get(f"{row.format} {threads}", {}).get("macs_per_second")
        timings["macs_per_second"] = rate
        timings["share_of_int8_ceiling"] = rate / ceiling if ceiling else None


def end_to_end(bundle: Path, test: Sequences | None, config: BenchConfig, log: Log) -> dict:
    """Decode, detect, preprocess and infer on a 640x480 video, the default runtime choice, one thread."""
    from fer_edge.run import RunConfig, RunStats, predictions

    with tempfile.TemporaryDirectory() as scratch:
        segments = None
        video = config.video
        if video is None:
            video = str(Path(scratch) / "heldout_faces.avi")
            segments = write_face_clip(test.frames, Path(video))
            log(f"end to end: {len(segments)} held-out sequences on 640x480 frames ({video}, removed afterwards)")
        stats = RunStats()
        run = RunConfig(source=video, bundle=str(bundle), threads=1)
        found = list(predictions(run, stats))
    summary = stats.summary()
    total = sum(float(np.sum(v)) for v in stats.stage_ms.values())
    result = {
        "video": config.video or "made from the held-out sequences (faces 140-240 px, 8 empty frames between)",
        "runtime": "tflite int8 streaming, 1 thread, detection every frame",
        "crop": {"detector": run.detector, **run.crop_rule.to_dict()},
        "summary": summary,
        "stage_share": {k: float(np.sum(v)) / total for k, v in stats.stage_ms.items() if total},
    }
    if segments is not None:
        correct = 0
        for segment in segments:
            inside = [p for p in found if segment.first <= p.frame < segment.first + segment.length]
            if inside and inside[-1].label == test.classes[test.labels[segment.sequence]]:
                correct += 1
        result["sequences"] = len(segments)
        result["sequences_predicted"] = sum(
            any(s.first <= p.frame < s.first + s.length for p in found) for s in segments
        )
        result["accuracy"] = correct / len(segments)
    return result


def fold_summary(results: dict) -> list[dict]:
    """Mean and spread of held-out accuracy over the folds of --cv runs: bundles whose manifests name the same
    source run and a fold, grouped with each artifact and mode."""
    groups: dict[tuple, list[float]] = {}
    for row in results["rows"]:
        info = results["bundles"].get(row["bundle"])  # the reference model's row belongs to no bundle
        if info is None or info["split"].get("fold") is None or row["status"] != "ok":
            continue
        key = (info["cv_run"], row["format"], row["precision"], row["mode"])
        groups.setdefault(key, []).append(row["accuracy"]["accuracy"])
    return [
        {
            "run": run,
            "format": fmt,
            "precision": precision,
            "mode": mode,
            "folds": len(values),
            "mean_accuracy": float(np.mean(values)),
            "std_accuracy": float(np.std(values)),
        }
        for (run, fmt, precision, mode), values in groups.items()
    ]


def run_bench(config: BenchConfig, log: Log = print) -> dict:
    """Measure everything; the caller writes the report (see fer_edge.bench.report)."""
    config.validate()
    if config.keras and importlib.util.find_spec("tensorflow") is None:
        log("TensorFlow is not installed: no Keras row (pip install 'fer-edge[train]' to add it)")
        config = replace(config, keras=False)
    results: dict = {
        "config": asdict(config),
        "machine": machine_info(),
        "versions": library_versions(*RUNTIME_PACKAGES),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "ceilings": {},
        "bundles": {},
        "rows": [],
    }
    formats = ("tflite", "onnx") if importlib.util.find_spec("onnxruntime") else ("tflite",)
    if "onnx" not in formats:
        log(f"onnxruntime is not installed: no ONNX rows ({ONNX_HINT} adds them)")
    if config.data is None:
        log("no --data: latency only; accuracy, the detector rows and the end-to-end clip need the CK+48 folder")
    for fmt in formats:
        for threads in config.threads:
            results["ceilings"][f"{fmt} {threads}"] = measure_ceiling(fmt, threads, config.runs, config.warmup)
            rate = results["ceilings"][f"{fmt} {threads}"]["macs_per_second"]
            log(f"int8 ceiling ({fmt}, {threads} thread(s)): {rate / 1e9:.1f} G MAC/s (best single int8 3x3 conv)")
    first_test = None
    keras_timed: dict = {}
    probed: dict = {}
    for name in config.bundles:
        bundle = Path(name)
        manifest = read_manifest(bundle)
        test, reference = heldout(manifest, bundle, config.data) if config.data else (None, None)
        if test is not None:
            first_test = first_test or (bundle, test)
        macs = bundle_macs(bundle, manifest)
        width = manifest.source_model.get("width")
        results["bundles"][name] = {
            "width": width,
            "split": manifest.split,
            # a --cv run's folds are run folders fold_1, fold_2, ... inside one run folder
            "cv_run": str(Path(manifest.source_model.get("run", name)).parent),
            "keras": accuracy(reference, reference, test) if test is not None else {},
            "macs": macs,
        }
        rows = [
            Row(name, width, fmt, precision, mode)
            for fmt, precision in VARIANTS
            if manifest.artifact(fmt, "full", precision) is not None
            for mode in ("window", "streaming")
        ]
        if config.keras and test is not None:
            rows.insert(0, Row(name, width, "keras", "float32", "window"))
        for row in progress(rows, f"measuring {Path(name).name}"):
            try:
                if row.format not in formats and row.format != "keras":
                    row.status = f"not measured: {ONNX_HINT}"
                elif row.format == "keras":
                    measure_keras(row, manifest, test, reference, config, keras_timed)
                else:
                    measure_row(row, bundle, test, reference, config, probed)
            except (FerEdgeError, RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                row.status = f"failed: {str(error).splitlines()[0]}"
            attach_rates(row, macs, results["ceilings"])
            results["rows"].append(row)
            ms = frame_ms(asdict(row), config.threads[0])
            measured = f"acc {row.accuracy['accuracy']:.1%}  " if row.accuracy else ""
            outcome = f"{measured}{ms:.2f} ms/frame" if row.status == "ok" else row.status
            log(f"{Path(name).name} {row.label:<26} {outcome}")
    if config.reference and first_test is not None:
        row = measure_reference(Path(config.reference), first_test[1], config)
        results["rows"].append(row)
        log(f"{row.bundle} acc {row.accuracy['accuracy']:.1%}  {frame_ms(asdict(row), config.threads[0]):.2f} ms/face")
    if config.detectors and first_test is not None:
        faces = np.round(first_test[1].frames[..., 0] * 255).astype(np.uint8)
        results["detectors"] = compare_detectors(list(faces.reshape(-1, *faces.shape[2:])), config.threads[0], log=log)
    if config.end_to_end and (first_test is not None or config.video):
        bundle, test = first_test or (Path(config.bundles[0]), None)
        results["end_to_end"] = end_to_end(bundle, test, config, log)
    results["rows"] = [asdict(row) for row in results["rows"]]
    results["folds"] = fold_summary(results)
    return results
