"""MediaPipe's BlazeFace face detector in numpy: SSD anchors, box decoding, weighted NMS, one interpreter.

It follows MediaPipe's face detection graphs (mediapipe/modules/face_detection/*_common.pbtxt: the
SsdAnchors, TensorsToDetections and NonMaxSuppression calculators' options). The model files, their licence
and digests are in fer_edge/models/detectors/ (NOTICE, manifest.json).

The frame is letterboxed into the square model input (scaled to fit, centred, black borders, as MediaPipe's
keep_aspect_ratio), so a face keeps its shape; boxes are mapped back to frame pixels through the same placement.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_edge.backends import TFLITE_BACKENDS, load_interpreter
from fer_edge.boxes import Box, Detection, iou
from fer_edge.errors import ModelLoadError, UsageError
from fer_edge.hashing import sha256_file
from fer_edge.modelfile import check_model_file

DETECTOR_DIR = Path(__file__).with_name("models") / "detectors"
REINSTALL = "reinstall fer-edge (pip install --force-reinstall fer-edge)"
SUPPRESSION_IOU = 0.3  # both graphs' min_suppression_threshold
SCORE_CLIP = 100.0  # both graphs' score_clipping_thresh, applied to the logits


@dataclass(frozen=True)
class Variant:
    strides: tuple[int, ...]  # one per SSD layer
    anchors_per_layer: int  # per grid cell and layer: 2 with an interpolated scale (short range), else 1
    min_score: float  # the graph's min_score_thresh


VARIANTS = {
    "blazeface": Variant((8, 16, 16, 16), 2, 0.5),  # face_detection_short_range_common.pbtxt
    "blazeface-full": Variant((4,), 1, 0.6),  # face_detection_full_range_common.pbtxt
}


@functools.cache
def anchors(input_size: int, strides: tuple[int, ...], anchors_per_layer: int) -> np.ndarray:
    """(N, 2) float32 anchor centres (x, y) in [0, 1], in the order of the model's N outputs (read-only).

    Consecutive layers with the same stride share one grid; each cell holds `anchors_per_layer` anchors per such
    layer, all centred on the cell. The graphs use fixed-size anchors, so a centre is all an anchor is."""
    groups = []
    for stride, layers in itertools.groupby(strides):
        cells = math.ceil(input_size / stride)
        centres = (np.arange(cells) + 0.5) / cells
        y, x = np.meshgrid(centres, centres, indexing="ij")  # rows outer, columns inner
        grid = np.stack([x.ravel(), y.ravel()], axis=1)
        groups.append(np.repeat(grid, anchors_per_layer * len(list(layers)), axis=0))
    result = np.concatenate(groups).astype(np.float32)
    result.flags.writeable = False
    return result


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The anchors scoring at least `min_score`, as boxes, keypoints and scores in [0, 1] input coordinates.

    raw_boxes: (N, 16) per anchor: box centre x, y (offsets from the anchor centre), width, height, then six
        keypoints x, y (offsets from the anchor centre), all in input pixels.
    raw_scores: (N,) or (N, 1) logits.
    Returns boxes (M, 4) xmin, ymin, xmax, ymax; keypoints (M, 6, 2) x, y; scores (M,) float32 in (0, 1).
    """
    logits = np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)
    scores = 1 / (1 + np.exp(-logits))
    keep = scores >= min_score
    values = raw_boxes.reshape(len(logits), -1, 2)[keep].astype(np.float32) / input_size  # (M, 8, 2)
    centre, half = values[:, 0] + anchors[keep], values[:, 1] / 2
    keypoints = values[:, 2:] + anchors[keep][:, None, :]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    valid = (half > 0).all(axis=1)
    return boxes[valid], keypoints[valid], scores[keep][valid].astype(np.float32)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = SUPPRESSION_IOU
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED suppression: the best remaining detection and every one overlapping it by more than
    `iou_threshold` become one, box and keypoints averaged with score weights, the best score kept; repeat.

    Shapes as `decode` returns them; the result has one row per merged group, best score first."""
    order = np.argsort(-scores, kind="stable")
    sized = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)  # x, y, width, height for iou
    merged_boxes, merged_points, merged_scores = [], [], []
    while order.size:
        group = iou(sized[order[0]], sized[order]) > iou_threshold
        group[0] = True
        members, weights = order[group], scores[order[group]]
        total = weights.sum()
        merged_boxes.append((boxes[members] * weights[:, None]).sum(axis=0) / total)
        merged_points.append((keypoints[members] * weights[:, None, None]).sum(axis=0) / total)
        merged_scores.append(scores[order[0]])
        order = order[~group]
    if not merged_scores:
        return np.zeros((0, 4), np.float32), np.zeros((0, *keypoints.shape[1:]), np.float32), np.zeros(0, np.float32)
    return np.stack(merged_boxes), np.stack(merged_points), np.array(merged_scores, np.float32)


@dataclass(frozen=True)
class Letterbox:
    """Where the frame lies in the square input: input pixel = frame pixel * scale + offset (per axis)."""

    size: int
    scale_x: float
    scale_y: float
    offset_x: int
    offset_y: int

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """points: (..., 2) x, y in [0, 1] input coordinates -> frame pixels (float)."""
        offset, scale = np.array([self.offset_x, self.offset_y]), np.array([self.scale_x, self.scale_y])
        return (points * self.size - offset) / scale


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """image: (H, W) or (H, W, C) uint8 -> (size, size[, C]) uint8: scaled to fit, centred, black borders."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(
        image, (new_width, new_height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    left, top = (size - new_width) // 2, (size - new_height) // 2
    square = np.zeros((size, size, *image.shape[2:]), np.uint8)
    square[top : top + new_height, left : left + new_width] = resized.reshape(new_height, new_width, *image.shape[2:])
    return square, Letterbox(size, new_width / width, new_height / height, left, top)


def input_tensor(square: np.ndarray) -> np.ndarray:
    """(S, S) grayscale or (S, S, 3) BGR uint8 -> (1, S, S, 3) RGB float32 in [-1, 1].

    Grayscale goes into all three channels: the Pi camera path keeps only the Y plane, and BlazeFace finds
    faces in it (docs: field notes on detectors)."""
    values = square.astype(np.float32) * (2 / 255) - 1
    rgb = np.repeat(values[:, :, None], 3, axis=2) if values.ndim == 2 else values[:, :, ::-1]
    return np.ascontiguousarray(rgb[None])


def to_detections(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, placement: Letterbox, frame_shape: tuple[int, ...]
) -> list[Detection]:
    """Input-coordinate results -> Detections in frame pixels, boxes clipped to the frame, largest first."""
    height, width = frame_shape[:2]
    corners = placement.to_frame(boxes.reshape(-1, 2, 2))
    points = placement.to_frame(keypoints)
    found = []
    for (low, high), face_points, score in zip(corners, points, scores, strict=True):
        x0, y0 = min(max(round(low[0]), 0), width), min(max(round(low[1]), 0), height)
        x1, y1 = min(max(round(high[0]), 0), width), min(max(round(high[1]), 0), height)
        if x1 > x0 and y1 > y0:
            box: Box = (x0, y0, x1 - x0, y1 - y0)
            keys = tuple((float(x), float(y)) for x, y in face_points)
            found.append(Detection(box, float(score), keys))
    return sorted(found, key=lambda d: (d.box[2] * d.box[3], d.score), reverse=True)


def squares(shape: tuple[int, ...], tiles: bool) -> list[tuple[int, int, int, int]]:
    """The parts (x, y, width, height) of a frame of this (height, width) that the model looks at: the whole frame,
    or with `tiles` a frame at least 1.25 times wider than tall (or taller than wide) as two overlapping squares
    at its two ends. A square shows a face 1/0.75 = 1.33 times larger (on 640x480) than the whole frame does, and
    any face no larger than the overlap lies whole in one of them."""
    height, width = shape[:2]
    side = min(height, width)
    if not tiles or max(height, width) < 1.25 * side:
        return [(0, 0, width, height)]
    if width > height:
        return [(0, 0, side, side), (width - side, 0, side, side)]
    return [(0, 0, side, side), (0, height - side, side, side)]


def merged(found: list[Detection], frame_shape: tuple[int, ...]) -> list[Detection]:
    """Detections of overlapping parts of one frame as one list: the same face found twice becomes one (weighted
    suppression in frame pixels, as within a part), largest first."""
    if len(found) < 2:
        return found
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in (d.box for d in found)], np.float32)
    points = np.array([d.keypoints for d in found], np.float32)
    scores = np.array([d.score for d in found], np.float32)
    boxes, points, scores = weighted_nms(boxes, points, scores)
    unit = Letterbox(1, 1.0, 1.0, 0, 0)  # frame pixels in, frame pixels out
    return to_detections(boxes, points, scores, unit, frame_shape)


def read_detector_manifest(models_dir: Path) -> dict[str, dict]:
    """manifest.json's rows by detector name."""
    path = models_dir / "manifest.json"
    try:
        return {row["name"]: row for row in json.loads(path.read_text())["models"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadError(f"cannot read the detector manifest {path} ({error}); {REINSTALL}") from None


def checked_detector_file(models_dir: Path, entry: dict) -> Path:
    """The model file of a manifest row, after its size and sha256 matched the manifest (before any parser)."""
    path = models_dir / entry["file"]
    if not path.is_file():
        raise ModelLoadError(f"the face detector model {path} is missing; {REINSTALL}")
    if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
        manifest = models_dir / "manifest.json"
        raise ModelLoadError(
            f"the face detector model {path} is damaged (its size or sha256 differs from {manifest}); {REINSTALL}"
        )
    check_model_file(path)
    return path


class BlazeFace:
    """BlazeFace on one interpreter kept alive: a frame in, its faces in frame pixels out."""

    def __init__(
        self,
        name: str = "blazeface",
        threads: int | None = None,
        min_score: float | None = None,
        tflite_backend: str | None = None,
        models_dir: Path = DETECTOR_DIR,
        tiles: bool = False,
    ):
        """name: blazeface (short range, 128 px input) or blazeface-full (192 px); min_score: None for the graph's;
        tflite_backend: one of fer_edge.backends.TFLITE_BACKENDS, None for the first installed; tiles: look at a
        wide frame as two squares (`squares`): smaller faces found, at twice the cost (docs/detectors.md)."""
        self.tiles = tiles
        if name not in VARIANTS:
            raise UsageError(f"BlazeFace comes as {', '.join(VARIANTS)}, not {name!r}")
        variant = VARIANTS[name]
        entry = read_detector_manifest(models_dir).get(name)
        if entry is None:
            raise ModelLoadError(f"{models_dir / 'manifest.json'} lists no {name} model; {REINSTALL}")
        path = checked_detector_file(models_dir, entry)
        self.input_size = int(entry["input_size"])
        self.anchors = anchors(self.input_size, variant.strides, variant.anchors_per_layer)
        self.min_score = variant.min_score if min_score is None else min_score
        module = TFLITE_BACKENDS.get(tflite_backend, tflite_backend)
        self.interpreter = load_interpreter(path, threads, module, hint=f"; {REINSTALL}")
        self._input, self._boxes, self._scores = self._tensor_indices(path, entry)

    def _tensor_indices(self, path: Path, entry: dict) -> tuple[int, int, int]:
        """The input's, the box regressors' (N, 16) and the scores' (N, 1) tensor indices, found by shape."""
        [given] = self.interpreter.get_input_details()
        by_width = {int(d["shape"][-1]): d for d in self.interpreter.get_output_details()}
        size, count = self.input_size, len(self.anchors)
        if (
            tuple(given["shape"]) != (1, size, size, 3)
            or set(by_width) != {16, 1}
            or any(tuple(d["shape"][1:2]) != (count,) for d in by_width.values())
            or count != entry["anchors"]
        ):
            shapes = [tuple(int(v) for v in d["shape"]) for d in self.interpreter.get_output_details()]
            raise ModelLoadError(
                f"{path} takes {tuple(given['shape'])} and gives {shapes}, not (1, {size}, {size}, 3) and "
                f"{count} anchors; {REINSTALL}"
            )
        return given["index"], by_width[16]["index"], by_width[1]["index"]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """image: (H, W) or (H, W, 1) uint8 grayscale, or (H, W, 3) BGR or (H, W, 4) BGRA uint8 -> every face,
        largest first. Give it colour where there is colour: small faces are found far more often."""
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        parts = squares(image.shape, self.tiles)
        if len(parts) == 1:
            return self._detect_part(image)
        found = []
        for x, y, width, height in parts:
            for face in self._detect_part(image[y : y + height, x : x + width]):
                (fx, fy, fw, fh), points = face.box, face.keypoints
                moved = tuple((px + x, py + y) for px, py in points)
                found.append(Detection((fx + x, fy + y, fw, fh), face.score, moved))
        return merged(found, image.shape)

    def _detect_part(self, image: np.ndarray) -> list[Detection]:
        square, placement = letterbox(image, self.input_size)
        self.interpreter.set_tensor(self._input, input_tensor(square))
        self.interpreter.invoke()
        raw_boxes = self.interpreter.get_tensor(self._boxes)[0]
        raw_scores = self.interpreter.get_tensor(self._scores)[0]
        found = weighted_nms(*decode(raw_boxes, raw_scores, self.anchors, self.input_size, self.min_score))
        return to_detections(*found, placement, image.shape)

    def largest_face(self, image: np.ndarray) -> Box | None:
        found = self.detect(image)
        return found[0].box if found else None
