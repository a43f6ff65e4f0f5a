"""Schema versioning: older databases are upgraded on open, newer ones are refused, migrations match the ORM."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from store_backends import db_url  # noqa: F401  (fixture)
from training_runs.store import SchemaVersionError, Store
from training_runs.store import migrate
from training_runs.store.orm import Base


def test_the_packaged_migrations_form_one_line_ending_at_the_newest_revision() -> None:
    revisions = [script.revision for script in migrate.script_directory().walk_revisions()]
    assert revisions == ["0003", "0002", "0001"]
    assert migrate.head_revision() == "0003"


def test_a_database_at_an_older_revision_is_upgraded_on_open_and_keeps_its_rows(db_url: str) -> None:  # noqa: F811
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine, "test", revision="0001")
        with engine.begin() as connection:
            assert migrate.current_revision(connection) == "0001"
            assert "catalog_results" not in inspect(connection).get_table_names()
            connection.execute(text("INSERT INTO tasks (name, category, metric) VALUES ('old-task', 'local', 'accuracy')"))
            connection.execute(
                text(
                    "INSERT INTO runs (task_id, model, kind, score, metric, provenance, created_at) "
                    "SELECT id, 'gpt-4', 'api', 0.75, 'accuracy', 'r-old', :now FROM tasks WHERE name = 'old-task'"
                ),
                {"now": dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)},
            )
    finally:
        engine.dispose()

    with Store.open(db_url) as store:
        assert store.schema_revision() == "0003"
        runs = store.runs_frame()
        assert runs[["task", "model", "kind", "score", "provenance"]].values.tolist() == [
            ["old-task", "gpt-4", "api", 0.75, "r-old"]
        ]
        assert runs["created_at"].iloc[0] == dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
        store.record_catalog_result("entry", "fp", "1.0", "p1", "ok", {"x": 1}, None)  # the table added by 0002
        assert store.find_catalog_result("entry", "fp", "1.0", "p1")["result"] == {"x": 1}


def test_a_database_from_a_newer_version_is_refused_with_a_clear_message(db_url: str) -> None:  # noqa: F811
    with Store.open(db_url) as store:
        store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.5, metric="accuracy", provenance="r1")
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '0099_future'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError, match="schema revision '0099_future'.*newest known: '0003'.*newer finetune-advisor"):
        Store.open(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:  # refused without touching anything
            assert migrate.current_revision(connection) == "0099_future"
            assert connection.execute(text("SELECT COUNT(*) FROM runs")).scalar() == 1
    finally:
        engine.dispose()


def test_the_migrations_create_exactly_the_schema_the_orm_describes(db_url: str) -> None:  # noqa: F811
    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_migrations_downgrade_to_nothing_and_upgrade_again(db_url: str) -> None:  # noqa: F811
    Store.open(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection), "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {migrate.VERSION_TABLE}
    finally:
        engine.dispose()
    with Store.open(db_url) as store:
        store.seed_study()
        assert store.stats()["runs"]["api"] == 62


def test_several_processes_opening_a_new_database_at_once_all_succeed(db_url: str) -> None:  # noqa: F811
    # Threads with separate engines behave like separate processes here: each has its own connections.
    def open_and_count(_: int) -> str | None:
        with Store.open(db_url) as store:
            return store.schema_revision()

    with ThreadPoolExecutor(max_workers=4) as pool:
        revisions = list(pool.map(open_and_count, range(4)))
    assert revisions == ["0003"] * 4
