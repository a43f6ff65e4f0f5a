"""Reading never creates a database, and a database that cannot be written can still be read."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from advisor.cli import main
from training_runs.store import Store, StoreError
from training_runs.store import migrate


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite database, copied by the tests that need their own."""
    path = tmp_path_factory.mktemp("seeded") / "advisor.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.seed_study()
        store.record_run(task="tickets", base_model="phi-2", kind="qlora", score=0.7, metric="accuracy",
                         provenance="local-1")
    return path


def _read_only_folder(source: Path, mount_point: Path) -> Iterator[Path]:
    """``source``'s folder made read-only for this process: a read-only bind mount for root (permission
    bits do not bind root), permission bits otherwise."""
    if os.geteuid() != 0:
        for path in (*source.iterdir(), source):
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield source
        finally:
            for path in (source, *source.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)
        return
    mount_point.mkdir()
    try:
        mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(mount_point)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command here, and permission bits do not bind root")
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.decode().strip()}")
    try:
        # Older mount(8) ignores "ro" on the bind itself; the remount makes it read-only.
        subprocess.run(["mount", "-o", "remount,ro,bind", str(mount_point)], check=True, capture_output=True)
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, capture_output=True)


@pytest.fixture
def read_only_db(seeded_file: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the seeded database in a folder (or on a mount) this process cannot write."""
    folder = tmp_path / "db"
    folder.mkdir()
    shutil.copy(seeded_file, folder / "advisor.db")
    for path in _read_only_folder(folder, tmp_path / "ro"):
        target = path / "advisor.db"
        with pytest.raises(OSError):  # really read-only, even for root
            target.open("ab").close()
        yield target


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# ------------------------------------------------------------------ reading never creates

def test_opening_a_missing_database_for_reading_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'a.db'}"
    with pytest.raises(StoreError, match=f"no database at {url}: the file .* does not exist .*advisor db init"):
        Store.open(url, create=False)
    assert _tree(tmp_path) == []


def test_db_stats_of_a_missing_database_is_one_error_line_and_creates_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'nonexistent' / 'dir' / 'a.db'}"
    assert main(["db", "stats", "--url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"advisor db: error: no database at {url}")
    assert main(["db", "export", "--url", url, "--out", str(tmp_path / "runs.csv")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert _tree(tmp_path) == []


@pytest.mark.parametrize("content", ["empty file", "another application's database"])
def test_reading_a_file_without_the_schema_is_refused_and_leaves_the_file_as_it_was(tmp_path: Path, content: str) -> None:
    path = tmp_path / "a.db"
    if content == "empty file":
        path.touch()
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE notes (body TEXT)")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="no finetune-advisor database at .*holds no schema"):
        Store.open(f"sqlite:///{path}", create=False)
    assert path.read_bytes() == before
    assert _tree(tmp_path) == ["a.db"]


def test_writing_commands_still_create_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "new" / "a.db"
    with Store.open(f"sqlite:///{path}") as store:
        assert not store.read_only and store.schema_revision() == migrate.head_revision()
    assert path.is_file()


# ------------------------------------------------------------------ read-only databases

def test_a_database_that_cannot_be_written_is_opened_read_only_and_reads_work(read_only_db: Path) -> None:
    with Store.open(f"sqlite:///{read_only_db}", create=False) as store:
        assert store.read_only
        assert store.display_url == f"sqlite:///{read_only_db}"
        stats = store.stats()
        assert (stats["base_models"], stats["tasks"], stats["local_runs"]) == (10, 32, 1)
        assert len(store.runs_frame()) == 683 and len(store.task_profiles()) > 0
        assert len(store.base_models_frame()) == 10


def test_writing_to_a_read_only_database_names_why_and_changes_nothing(read_only_db: Path) -> None:
    before = read_only_db.read_bytes()
    with Store.open(f"sqlite:///{read_only_db}") as store:  # a writing command opens it too, for its reads
        with pytest.raises(StoreError, match=r"is read-only \((the file|its folder) .* is not writable\): cannot "
                                             "record runs in it"):
            store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.4, metric="accuracy",
                             provenance="r2")
        with pytest.raises(StoreError, match="is read-only"):
            store.seed_study()
    assert read_only_db.read_bytes() == before
    assert _tree(read_only_db.parent) == ["advisor.db"]  # no journal or temporary file beside it


def test_db_stats_and_export_work_on_a_read_only_database(read_only_db: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{read_only_db}"
    assert main(["db", "stats", "--url", url]) == 0
    assert "runs: qlora 311, zero-shot 310, api 62 (1 local)" in capsys.readouterr().out
    out = tmp_path / "runs.parquet"
    assert main(["db", "export", "--url", url, "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 683


def test_the_predictors_training_reads_work_on_a_read_only_database(read_only_db: Path) -> None:
    from advisor.training_data import training_table_from_store

    with Store.open(f"sqlite:///{read_only_db}") as store:
        table = training_table_from_store(store)
    assert len(table.models) == 10 and len(table.tasks) > 20


def test_a_read_only_database_at_an_older_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    engine = create_engine(f"sqlite:///{folder / 'advisor.db'}")
    try:
        migrate.upgrade(engine, "test", revision="0002")
    finally:
        engine.dispose()
    for path in _read_only_folder(folder, tmp_path / "ro"):
        with pytest.raises(StoreError, match=r"is read-only .*schema \(revision 0002\) cannot be upgraded to "
                                             f"{migrate.head_revision()}.*where it is writable"):
            Store.open(f"sqlite:///{path / 'advisor.db'}")
