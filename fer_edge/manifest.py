"""The bundle's manifest.json: everything the runtime needs to know about a model, and proof of what it is."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fer_edge.atomic import atomic_write_text
from fer_edge.cpu import onnx_weight_bits
from fer_edge.errors import ModelLoadError
from fer_edge.preprocess import SPEC

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
# what this fer-edge does to a frame before the model: SPEC, and the stream's rules a bundle may switch on
MIRROR_RULE = "mirror_odd_frames"  # every other frame of a stream mirrored before the encoder
PREPROCESS_RULES = (MIRROR_RULE,)


@dataclass(frozen=True)
class Artifact:
    """One model file: which part of the model it is, in which format and precision."""

    file: str
    format: str  # "tflite" | "onnx"
    part: str  # "full": 3 frames -> probabilities; "encoder": 1 frame -> features; "head": 3 features -> probabilities
    precision: str  # "float32" | "int8"
    sha256: str
    bytes: int
    inputs: list[dict]
    outputs: list[dict]
    verification: dict = field(default_factory=dict)
    weight_bits: int | None = None  # int8 ONNX: 7 or 8 bits per weight (a bundle may hold both); None elsewhere


OPTIONAL_ARTIFACT_FIELDS = ("verification", "weight_bits")


@dataclass(frozen=True)
class Manifest:
    format_version: int
    classes: list[str]
    sequence_length: int
    frame_shape: list[int]  # [48, 48, 1]
    preprocess: dict
    artifacts: list[Artifact]
    source_model: dict  # file name and sha256 of the model.keras it came from
    split: dict  # protocol, seed, held-out count
    calibration: dict  # ids and count, all from the training part of the split
    heldout_metrics: dict
    versions: dict
    notes: dict = field(default_factory=dict)

    def artifact(self, format: str, part: str, precision: str, weight_bits: int | None = None) -> Artifact | None:
        """The file for this format, part and precision. Where int8 ONNX comes with 7- and 8-bit weights, the one
        for `weight_bits`, by default the one this CPU runs closest to float (fer_edge.cpu.onnx_weight_bits)."""
        matches = [a for a in self.artifacts if (a.format, a.part, a.precision) == (format, part, precision)]
        if len(matches) > 1 or weight_bits is not None:
            wanted = onnx_weight_bits() if weight_bits is None else weight_bits
            matches = [a for a in matches if a.weight_bits == wanted] or (matches if weight_bits is None else [])
        return matches[0] if matches else None


def write_manifest(manifest: Manifest, directory: Path) -> None:
    atomic_write_text(Path(directory) / MANIFEST_NAME, json.dumps(asdict(manifest), indent=2) + "\n")


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST_NAME
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{path} not found: is {directory} a fer-edge bundle (made by fer-edge export)?") from None
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error}); export the bundle again") from None
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path} holds {type(raw).__name__}, expected a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(f"{path} has format_version {version!r}; this fer-edge reads version {FORMAT_VERSION}")
    for name in Manifest.__dataclass_fields__:
        if name not in raw and name != "notes":
            raise ModelLoadError(f"{path} lacks the field {name!r}; export the bundle again")
    if not isinstance(raw["artifacts"], list) or not all(isinstance(entry, dict) for entry in raw["artifacts"]):
        raise ModelLoadError(f"{path}: 'artifacts' must be a list of objects; export the bundle again")
    artifacts = []
    for i, entry in enumerate(raw["artifacts"]):
        missing = [n for n in Artifact.__dataclass_fields__ if n not in entry and n not in OPTIONAL_ARTIFACT_FIELDS]
        if missing:
            raise ModelLoadError(f"{path}: artifacts[{i}] lacks the field {missing[0]!r}")
        artifacts.append(Artifact(**_known(entry, Artifact)))
    check_preprocess(raw["preprocess"], path)
    # fields this version does not know are left out: a later fer-edge adds fields within a format version, and
    # raises the version when old readers would misread a bundle
    return Manifest(**{**_known(raw, Manifest), "artifacts": artifacts})


def check_preprocess(preprocess: object, path: Path) -> None:
    """Refuse a bundle whose frames need preprocessing this fer-edge does not do: it would run and misread faces."""
    if not isinstance(preprocess, dict):
        raise ModelLoadError(f"{path}: 'preprocess' must be an object; export the bundle again")
    expected = SPEC.to_dict()
    for key, value in preprocess.items():
        if key in PREPROCESS_RULES:
            continue
        if key not in expected:
            raise ModelLoadError(
                f"{path} asks for preprocessing this fer-edge does not do ({key!r}); upgrade fer-edge to run it"
            )
        wanted = list(expected[key]) if isinstance(expected[key], tuple) else expected[key]
        if value != wanted:
            raise ModelLoadError(
                f"{path} wants frames with {key} {value!r}; this fer-edge makes {wanted!r} (fer_edge.preprocess)"
            )


def _known(entry: dict, kind: type) -> dict:
    return {name: value for name, value in entry.items() if name in kind.__dataclass_fields__}
