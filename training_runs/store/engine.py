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
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

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
    """Parse the database URL to use; a malformed one (a port that is not a number...) raises
    :class:`StoreError` naming it."""
    if url is None:
        url = os.environ.get("ADVISOR_DB_URL") or None
    if url is None:
        return make_url(f"sqlite:///{default_data_dir() / DEFAULT_DB_FILE}")
    expected = (
        "expected an SQLAlchemy URL such as "
        "'sqlite:///path/to/advisor.db' or 'postgresql+psycopg://user:password@host:5432/dbname'"
    )
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"malformed database URL {_mask_password(url)!r}: {expected}") from exc
    except ValueError as exc:  # SQLAlchemy reads the port with int()
        port = _raw_port(url)
        raise StoreError(
            f"malformed database URL {_mask_password(url)!r}: the port {port!r} is not a number from 1 to 65535"
        ) from exc
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise StoreError(
            f"malformed database URL {display_url(parsed)!r}: the port {parsed.port} is not a number from 1 to 65535"
        )
    if parsed.drivername in ("postgresql", "postgres"):
        # The postgres extra installs psycopg 3; SQLAlchemy's default PostgreSQL driver is psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _mask_password(url: str) -> str:
    """``url`` with the password of ``scheme://user:password@host`` replaced by ``***`` (for messages)."""
    return re.sub(r"^([^:/]+://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _raw_port(url: str) -> str:
    """The text after the host's colon in ``url`` (what SQLAlchemy failed to read as a port)."""
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    return host.rsplit("]", 1)[-1].rpartition(":")[2]


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
        database = unquote(database[len("file:") :].split("?", 1)[0])
    return Path(database)


@dataclass(frozen=True)
class Location:
    """Where to connect: the URL to use and whether the database can only be read.

    ``url`` is the given one, or for a SQLite file that cannot be written (a read-only file, folder or
    mount) the same file opened read-only; ``read_only_reason`` then says why.
    """

    url: URL
    read_only_reason: str | None = None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None


def prepare_location(url: URL, *, create: bool = True) -> Location:
    """Check where the database lives before connecting, and pick how to open it.

    A SQLite file that exists but cannot be written is opened read-only (reading works; writing raises
    :class:`StoreError`). A missing file is created (its folder too) only when ``create`` is true; else,
    or when the location is unwritable, :class:`StoreError` names the problem. Servers and in-memory
    databases pass through.
    """
    path = sqlite_path(url)
    if path is None:
        return Location(url)
    where = display_url(url)
    if not path.exists() and (not create or url.query.get("mode") == "ro"):
        raise StoreError(
            f"no database at {where}: the file {path} does not exist "
            "(create it with `advisor db init`, or name an existing one with --url or ADVISOR_DB_URL)"
        )
    if url.query.get("mode") == "ro":
        return Location(url, "the URL asks for mode=ro")
    if path.exists():
        unwritable = next((p for p in (path, path.parent) if not os.access(p, os.W_OK)), None)
        if unwritable is None:
            return Location(url)
        what = "the file" if unwritable == path else "its folder"
        return Location(read_only_url(url, path), f"{what} {unwritable} is not writable")
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the database directory {directory}: {exc.strerror or exc} "
            "(choose a writable location with --url, ADVISOR_DB_URL or ADVISOR_DATA_DIR)"
        ) from exc
    if not os.access(directory, os.W_OK):
        raise StoreError(
            f"the database location {directory} is read-only "
            "(choose a writable location with --url, ADVISOR_DB_URL or ADVISOR_DATA_DIR)"
        )
    return Location(url)


def read_only_url(url: URL, path: Path) -> URL:
    """The SQLite URI of ``path`` opened read-only (SQLite then never writes it, nor a journal beside it)."""
    query = {**url.query, "mode": "ro", "uri": "true"}
    return url.set(database="file:" + quote(str(path.resolve())), query=query)


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
