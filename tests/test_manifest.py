"""A bundle whose frames need preprocessing this fer-edge does not do is refused in one line, not misread."""

import json

import pytest

from fer_edge.default_model import DEFAULT_BUNDLE
from fer_edge.errors import ModelLoadError
from fer_edge.manifest import read_manifest


def with_preprocess(tmp_path, **changes):
    raw = json.loads((DEFAULT_BUNDLE / "manifest.json").read_text())
    raw["preprocess"] |= changes
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    return tmp_path


def test_the_preprocessing_this_fer_edge_does_reads():
    assert read_manifest(DEFAULT_BUNDLE).preprocess["size"] == 48


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"equalize_histogram": True}, "does not do ('equalize_histogram'); upgrade fer-edge"),
        ({"color": "rgb"}, "wants frames with color 'rgb'; this fer-edge makes 'grayscale'"),
        ({"value_range": [-1.0, 1.0]}, "value_range [-1.0, 1.0]"),
        ({"size": 64}, "size 64; this fer-edge makes 48"),
    ],
)
def test_preprocessing_this_fer_edge_does_not_do_is_named(tmp_path, changes, fragment):
    with pytest.raises(ModelLoadError) as error:
        read_manifest(with_preprocess(tmp_path, **changes))
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_preprocess_that_is_not_an_object_is_named(tmp_path):
    raw = json.loads((DEFAULT_BUNDLE / "manifest.json").read_text()) | {"preprocess": "grayscale"}
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelLoadError, match="'preprocess' must be an object"):
        read_manifest(tmp_path)
