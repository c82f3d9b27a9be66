import os

import pytest

from fer_edge.atomic import atomic_dir, atomic_write_text
from fer_edge.errors import UsageError


def test_a_failed_write_leaves_the_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    atomic_write_text(target, "old")

    def broken_replace(src, dst):
        assert target.read_text() == "old"  # readers see the old file while the new one is written
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["config.json"]


def test_atomic_dir_appears_only_when_complete(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "model.keras").write_text("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and os.listdir(tmp_path) == []
    with atomic_dir(target) as tmp:
        (tmp / "model.keras").write_text("whole")
    assert (target / "model.keras").read_text() == "whole"
    with pytest.raises(UsageError, match="already exists"):
        with atomic_dir(target):
            pass
    with atomic_dir(target, force=True) as tmp:
        (tmp / "new.txt").write_text("x")
    assert sorted(os.listdir(target)) == ["new.txt"] and sorted(os.listdir(tmp_path)) == ["run"]
