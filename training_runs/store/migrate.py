"""Schema versioning with Alembic, run programmatically (no ``alembic.ini`` needed at run time).

Opening a database upgrades an older schema to the newest revision this code knows; a database
stamped with a revision the code does not know (made by a newer finetune-advisor) is refused.

Example:
    >>> head_revision()
    '0003'
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from training_runs.errors import SchemaVersionError
from training_runs.store.engine import SQLITE_IMMEDIATE

#: Alembic's bookkeeping table (named so it cannot clash with another application's in a shared database).
VERSION_TABLE = "advisor_schema_version"
#: Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
MIGRATION_LOCK_KEY = 7_304_112_024
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = script_directory().get_current_head()
    assert head is not None, "the packaged migrations have no revisions"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is stamped with (``None`` for an empty database)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def check_known(revision: str | None, where: str) -> None:
    """Raise :class:`SchemaVersionError` if ``revision`` is not one of the packaged migrations."""
    if revision is None:
        return
    known = {script.revision for script in script_directory().walk_revisions()}
    if revision not in known:
        raise SchemaVersionError(
            f"the database at {where} has schema revision {revision!r}, which this version of "
            f"finetune-advisor does not know (newest known: {head_revision()!r}); it was probably created "
            "by a newer finetune-advisor: upgrade finetune-advisor or use another database"
        )


def upgrade(engine: Engine, where: str, revision: str = "head") -> None:
    """Bring the database's schema to ``revision`` (default: the newest) in one transaction.

    A database already at the target is only read (so a read-only copy can still be opened).
    Concurrent openers are serialized: PostgreSQL by an advisory lock, SQLite by its write lock.
    """
    target = head_revision() if revision == "head" else revision
    with engine.connect() as connection:
        found = current_revision(connection)
    check_known(found, where)
    if found == target:
        return
    with engine.connect() as connection:
        connection = connection.execution_options(**{SQLITE_IMMEDIATE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            check_known(current_revision(connection), where)  # another process may have migrated meanwhile
            command.upgrade(alembic_config(connection), revision)
