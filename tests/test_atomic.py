"""genoattn.atomic: a write replaces the file whole or leaves it as it was, and never a temporary file behind."""

from __future__ import annotations

import pytest

from genoattn.atomic import atomic_target, atomic_write_bytes, atomic_write_text


def test_write_replaces_the_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(OSError, match="disk full"), atomic_target(path) as tmp:
        tmp.write_text("half")
        raise OSError("disk full")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
