"""``advisor db init | stats | export``, on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from advisor.cli import main
from testsupport import REPO_ROOT
from store_backends import db_url  # noqa: F401  (fixture)

EXPECTED_STATS = {"base_models": 10, "tasks": 31, "runs": {"qlora": 310, "zero-shot": 310, "api": 62}}


def test_db_init_then_stats_json_prints_the_study_counts(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["db", "init", "--url", db_url]) == 0
    assert "added 10 base_models, 31 tasks, 682 runs" in capsys.readouterr().out
    assert main(["db", "stats", "--url", db_url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {k: stats[k] for k in EXPECTED_STATS} == EXPECTED_STATS
    # The exact output comes first, in this order.
    assert list(stats)[:3] == ["base_models", "tasks", "runs"]


def test_db_init_twice_changes_nothing(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["db", "init", "--url", db_url]) == 0
    assert main(["db", "init", "--url", db_url]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert "added nothing; updated nothing; already present 10 base_models, 31 tasks, 682 runs" in out
    assert main(["db", "stats", "--url", db_url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {k: stats[k] for k in EXPECTED_STATS} == EXPECTED_STATS


def test_db_stats_without_json_is_readable_text(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    main(["db", "init", "--url", db_url])
    capsys.readouterr()
    assert main(["db", "stats", "--url", db_url]) == 0
    out = capsys.readouterr().out
    assert "base models: 10" in out and "runs: qlora 310, zero-shot 310, api 62 (0 local)" in out


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_db_export_writes_all_runs(db_url: str, tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    main(["db", "init", "--url", db_url])
    out = tmp_path / f"runs.{suffix}"
    assert main(["db", "export", "--url", db_url, "--out", str(out)]) == 0
    assert f"wrote 682 runs to {out}" in capsys.readouterr().out
    frame = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert frame.groupby("kind").size().to_dict() == {"api": 62, "qlora": 310, "zero-shot": 310}


def test_without_url_the_commands_use_advisor_db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "env" / "advisor.db"
    monkeypatch.setenv("ADVISOR_DB_URL", f"sqlite:///{path}")
    assert main(["db", "init"]) == 0
    assert path.is_file()
    assert f"sqlite:///{path}" in capsys.readouterr().out


def test_without_any_url_the_database_lives_in_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADVISOR_DB_URL")
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "data"))
    assert main(["db", "init"]) == 0
    assert (tmp_path / "data" / "advisor.db").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["db", "stats", "--url", "no-such-url"], "advisor db: error: malformed database URL 'no-such-url'"),
        (["db", "init", "--url", "postgresql+psycopg://u@127.0.0.1:1/x"],
         "advisor db: error: cannot connect to the database at postgresql+psycopg://u@127.0.0.1:1/x"),
        (["db", "export", "--url", "sqlite://", "--out", "runs.xlsx"], "advisor db: error: cannot export to runs.xlsx"),
        (["db", "stats", "--url", "postgresql://u@localhost:abc/x"],
         "advisor db: error: malformed database URL 'postgresql://u@localhost:abc/x': the port 'abc' is not a number"),
    ],
)
def test_bad_input_prints_one_error_line_and_returns_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), captured.err


def test_the_advisor_process_exits_with_status_2_on_bad_input(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "advisor.cli", "db", "stats", "--url", "no-such-url"], cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "ADVISOR_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "advisor db: error: malformed database URL 'no-such-url': expected an SQLAlchemy URL such as "
        "'sqlite:///path/to/advisor.db' or 'postgresql+psycopg://user:password@host:5432/dbname'"
    ]
