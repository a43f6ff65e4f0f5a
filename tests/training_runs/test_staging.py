"""training_runs.staging: a directory appears whole or not at all."""
from __future__ import annotations

import stat

import pytest

from training_runs.staging import staged_directory


def test_a_finished_block_replaces_the_old_directory_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with staged_directory(target) as staging:
        (staging / "new.txt").write_text("new")
        assert (target / "old.txt").read_text() == "old"  # readers still see the old one meanwhile
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_failing_block_leaves_the_old_directory_untouched_and_no_staging(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with staged_directory(target) as staging:
            (staging / "half.txt").write_text("half")
            raise RuntimeError("disk full")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_the_directory_gets_the_mode_asked_for_and_missing_parents_are_made(tmp_path):
    target = tmp_path / "a" / "b" / "model"
    with staged_directory(target, mode=0o755) as staging:
        (staging / "x").write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
