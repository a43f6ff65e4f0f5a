"""Bad input gives one clear error naming the problem, and a failed load leaves the database as it was."""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurizers.profile_types import FEATURIZER_VERSION
from store_backends import db_url  # noqa: F401  (fixture)
from training_runs.store import SeedDataError, Store, StoreError
from training_runs.store.study import STUDY_DIR


@pytest.fixture
def study_copy(tmp_path: Path) -> Path:
    """A writable copy of the study's CSVs, to break on purpose."""
    target = tmp_path / "study"
    shutil.copytree(STUDY_DIR, target)
    return target


def _rewrite(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def _totals(store: Store) -> tuple[int, int, int]:
    stats = store.stats()
    return stats["base_models"], stats["tasks"], sum(stats["runs"].values())


@pytest.fixture
def local_only_store(db_url: str) -> Iterator[Store]:  # noqa: F811
    """A store holding one local run and nothing of the study yet."""
    with Store.open(db_url) as store:
        store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.4, metric="accuracy", provenance="r1")
        yield store


def test_a_malformed_url_is_named_in_the_error() -> None:
    with pytest.raises(StoreError, match="malformed database URL 'not a url'"):
        Store.open("not a url")


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql://u@localhost:abc/advisor", "the port 'abc' is not a number from 1 to 65535"),
        ("postgresql://u@localhost:/advisor", "the port '' is not a number from 1 to 65535"),
        ("postgresql://u@[::1]:5x/advisor", "the port '5x' is not a number from 1 to 65535"),
        ("postgresql://u@localhost:99999/advisor", "the port 99999 is not a number from 1 to 65535"),
    ],
)
def test_a_port_that_is_not_a_port_number_is_named_in_the_error(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=f"^malformed database URL '.*': {re.escape(message)}$"):
        Store.open(url)


def test_a_malformed_url_does_not_show_its_password() -> None:
    with pytest.raises(StoreError) as excinfo:
        Store.open("postgresql://u:s3cret@localhost:abc/advisor")
    assert "s3cret" not in str(excinfo.value) and "u:***@localhost:abc" in str(excinfo.value)


def test_an_unknown_database_dialect_is_named_in_the_error() -> None:
    with pytest.raises(StoreError, match="has no dialect 'nosuchdb'"):
        Store.open("nosuchdb://user@localhost/x")


def test_an_unreachable_server_gives_a_connection_error_naming_it() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to the database at postgresql\+psycopg://u@127.0.0.1:1/x: .*refused"):
        Store.open("postgresql+psycopg://u@127.0.0.1:1/x")


def test_the_password_of_an_unreachable_server_is_not_shown() -> None:
    with pytest.raises(StoreError) as excinfo:
        Store.open("postgresql+psycopg://u:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(excinfo.value) and "***" in str(excinfo.value)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory the current user cannot write into.

    Permission bits do not bind root (CI runs as root), so root gets a directory on sysfs, which
    refuses new files even to root.
    """
    if os.geteuid() == 0:
        yield Path("/sys/finetune-advisor-test")
        return
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        yield directory
    finally:
        directory.chmod(0o755)


def test_a_read_only_location_gives_a_clear_error(read_only_dir: Path) -> None:
    url = f"sqlite:///{read_only_dir / 'sub' / 'advisor.db'}"
    with pytest.raises(StoreError, match=f"cannot create the database directory {read_only_dir / 'sub'}"):
        Store.open(url)


def test_a_read_only_sqlite_database_can_be_read_but_not_written(tmp_path: Path) -> None:
    path = tmp_path / "advisor.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.seed_study()
    with Store.open(f"sqlite:///file:{path}?mode=ro&uri=true") as store:
        assert store.stats()["tasks"] == 31
        with pytest.raises(StoreError, match="is read-only"):
            store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.4, metric="accuracy", provenance="r1")


def test_a_read_only_empty_database_cannot_be_created(tmp_path: Path) -> None:
    path = tmp_path / "advisor.db"
    path.touch()
    with pytest.raises(StoreError, match="is read-only"):
        Store.open(f"sqlite:///file:{path}?mode=ro&uri=true")


def test_a_csv_missing_a_column_names_file_and_column_and_changes_nothing(
    local_only_store: Store, study_copy: Path
) -> None:
    _rewrite(study_copy / "results.csv", ",lift_over_base,", ",lift,")
    before = _totals(local_only_store)
    with pytest.raises(SeedDataError, match="results.csv is missing column\\(s\\) lift_over_base"):
        local_only_store.seed_study(data_dir=study_copy)
    assert _totals(local_only_store) == before == (1, 1, 1)


def test_a_score_above_one_names_file_line_and_value_and_changes_nothing(local_only_store: Store, study_copy: Path) -> None:
    # line 2 is the first data row: bc5cdr x phi-2
    _rewrite(study_copy / "results.csv", "bc5cdr,Classic NLP,rouge,phi-2,0.950,0.778,0.172",
             "bc5cdr,Classic NLP,rouge,phi-2,1.950,1.778,0.172")
    with pytest.raises(SeedDataError, match=r"results.csv line 2: finetuned_score 1.950 is outside \[0, 1\]"):
        local_only_store.seed_study(data_dir=study_copy)
    assert _totals(local_only_store) == (1, 1, 1)


def test_a_negative_api_score_is_refused(local_only_store: Store, study_copy: Path) -> None:
    _rewrite(study_copy / "api_references.csv", "bc5cdr,Classic NLP,rouge,gpt-4,0.890", "bc5cdr,Classic NLP,rouge,gpt-4,-0.890")
    with pytest.raises(SeedDataError, match=r"api_references.csv line 3: score -0.890 is outside \[0, 1\]"):
        local_only_store.seed_study(data_dir=study_copy)
    assert _totals(local_only_store) == (1, 1, 1)


@pytest.mark.parametrize(
    "file, old, new, message",
    [
        ("results.csv", ",phi-2,0.950,0.778,0.172", ",phi-2,0.950,0.778,0.272", "results.csv line 2: base_score 0.272 is not"),
        ("results.csv", "bc5cdr,Classic NLP,rouge,phi-2", "bc5cdx,Classic NLP,rouge,phi-2", "task 'bc5cdx' is not in tasks.csv"),
        ("results.csv", "rouge,phi-2,0.950", "rouge,phi-3,0.950", "model 'phi-3' is not in base_models.csv"),
        ("results.csv", "phi-2,0.950,0.778", "phi-2,high,0.778", "finetuned_score 'high' is not a number"),
        ("tasks.csv", "hf://tner/bc5cdr,rouge,5228", "hf://tner/bc5cdr,rouge,many", "tasks.csv line 2: n_train 'many' is not a whole number"),
        ("base_models.csv", "phi-2,microsoft/phi-2,Microsoft,phi,2.78,false", "phi-2,microsoft/phi-2,Microsoft,phi,2.78,maybe",
         "base_models.csv line 2: instruction_tuned must be true or false"),
    ],
)
def test_other_malformed_rows_are_named_and_change_nothing(
    local_only_store: Store, study_copy: Path, file: str, old: str, new: str, message: str
) -> None:
    _rewrite(study_copy / file, old, new)
    with pytest.raises(SeedDataError, match=message):
        local_only_store.seed_study(data_dir=study_copy)
    assert _totals(local_only_store) == (1, 1, 1)


def test_a_failure_in_the_middle_of_seeding_rolls_everything_back(
    local_only_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    # Base models, tasks and runs are written (flushed) before profiles; the failure must undo them.
    monkeypatch.setattr(Store, "_seed_profiles", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        local_only_store.seed_study()
    assert _totals(local_only_store) == (1, 1, 1)


def test_a_missing_study_file_is_named(local_only_store: Store, study_copy: Path) -> None:
    (study_copy / "api_references.csv").unlink()
    with pytest.raises(SeedDataError, match="api_references.csv does not exist"):
        local_only_store.seed_study(data_dir=study_copy)


def test_malformed_reference_profiles_are_named(local_only_store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "reference_profiles.json"
    version = json.dumps(FEATURIZER_VERSION)
    bad.write_text('{"featurizer_version": %s, "profiles": {"boolq": {"heuristics": {}, "n_examples": 3, "colour": 1}}}' % version)
    with pytest.raises(SeedDataError, match="the profile of task 'boolq' is malformed: unknown TaskProfile fields"):
        local_only_store.seed_study(reference_profiles=bad)
    bad.write_text('{"featurizer_version": %s, "profiles": {"no_such_task": {"heuristics": {}, "n_examples": 3, "n_profiled": 3}}}' % version)
    with pytest.raises(SeedDataError, match="not in tasks.csv: no_such_task"):
        local_only_store.seed_study(reference_profiles=bad)
    assert _totals(local_only_store) == (1, 1, 1)


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "advisor.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=f"the database at sqlite:///{path}: file is not a database"):
        Store.open(f"sqlite:///{path}")
