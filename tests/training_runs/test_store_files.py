"""Output files are written whole or not at all, with the permissions the user's umask gives a plain write."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from training_runs.store import Store
from training_runs.store.files import staged_file, write_bytes_atomically


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_a_new_file_gets_the_mode_a_plain_write_gets_under_the_umask(tmp_path: Path, umask: int) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_bytes_atomically(tmp_path / "staged.txt", b"x")
    assert mode(tmp_path / "staged.txt") == mode(plain) == 0o666 & ~umask


def test_a_replaced_file_keeps_its_own_mode(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "shared.csv"
    target.write_text("old")
    target.chmod(0o664)
    write_bytes_atomically(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o664


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), staged_file(target) as staging:
        staging.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_a_missing_folder_is_an_os_error_naming_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_bytes_atomically(tmp_path / "missing" / "x.csv", b"x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_export_follows_the_umask(tmp_path: Path, umask: int, suffix: str) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'advisor.db'}") as store:
        store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.5, metric="accuracy", provenance="r1")
        out = tmp_path / f"runs{suffix}"
        assert store.export_runs(out) == 1
    assert mode(out) == 0o666 & ~umask
