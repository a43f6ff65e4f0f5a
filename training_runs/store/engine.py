"""Where the results database lives and how to connect to it.

Resolution order of the URL: an explicit argument, then ``ADVISOR_DB_URL``, then a SQLite file
``advisor.db`` in the user's data directory (``ADVISOR_DATA_DIR`` overrides that directory).

Example:
    >>> url = resolve_url("sqlite:///:memory:")
    >>> url.get_backend_name()
    'sqlite'
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from training_runs.errors import StoreError

APP_NAME = "finetune-advisor"
DEFAULT_DB_FILE = "advisor.db"
#: Seconds to wait for a database server before giving up with a clear error.
CONNECT_TIMEOUT_S = 10


def default_data_dir() -> Path:
    """The directory of the embedded database: ``ADVISOR_DATA_DIR`` or the platform's user data dir."""
    override = os.environ.get("ADVISOR_DATA_DIR")
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))


def resolve_url(url: str | None = None) -> URL:
    """Parse the database URL to use; a malformed one raises :class:`StoreError` naming it."""
    if url is None:
        url = os.environ.get("ADVISOR_DB_URL") or None
    if url is None:
        return make_url(f"sqlite:///{default_data_dir() / DEFAULT_DB_FILE}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"malformed database URL {url!r}: expected an SQLAlchemy URL such as "
            "'sqlite:///path/to/advisor.db' or 'postgresql+psycopg://user:password@host:5432/dbname'"
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        # The postgres extra installs psycopg 3; SQLAlchemy's default PostgreSQL driver is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def display_url(url: URL) -> str:
    """The URL as text with any password masked, for messages."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a file-backed SQLite URL, else ``None`` (in-memory or not SQLite)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    if database.startswith("file:"):  # URI form: sqlite:///file:path?mode=ro&uri=true
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


def prepare_location(url: URL) -> None:
    """Create the directory of a SQLite file; an unwritable location raises :class:`StoreError`."""
    path = sqlite_path(url)
    if path is None or url.query.get("mode") == "ro":
        return
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the database directory {directory}: {exc.strerror or exc} "
            "(choose a writable location with --url, ADVISOR_DB_URL or ADVISOR_DATA_DIR)"
        ) from exc
    target = path if path.exists() else directory
    if not os.access(target, os.W_OK):
        raise StoreError(
            f"the database location {target} is read-only "
            "(choose a writable location with --url, ADVISOR_DB_URL or ADVISOR_DATA_DIR)"
        )


def make_engine(url: URL) -> Engine:
    """An engine for ``url``: foreign keys enforced on SQLite, a connect timeout on servers."""
    connect_args: dict[str, object] = {}
    backend = url.get_backend_name()
    if backend == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    elif backend == "sqlite":
        connect_args["timeout"] = 30  # wait for another writer instead of failing at once
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=backend != "sqlite")
    except NoSuchModuleError as exc:
        raise StoreError(
            f"unsupported database URL {display_url(url)!r}: SQLAlchemy has no dialect {url.drivername!r}"
        ) from exc
    except ImportError as exc:
        hint = " (install it with: pip install 'finetune-advisor[postgres]')" if backend == "postgresql" else ""
        raise StoreError(
            f"the database driver for {url.drivername!r} is not installed: {exc}{hint}"
        ) from exc
    if backend == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


#: Execution option: begin the SQLite transaction with ``BEGIN IMMEDIATE`` (take the write lock at once).
SQLITE_IMMEDIATE = "advisor_sqlite_immediate"


def _configure_sqlite_connection(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # The sqlite3 module does not begin a transaction before DDL, so a schema migration would be
    # committed statement by statement. Taking over BEGIN (SQLAlchemy's documented recipe) makes
    # every transaction, DDL included, all-or-nothing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_sqlite_transaction(connection) -> None:  # type: ignore[no-untyped-def]
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
