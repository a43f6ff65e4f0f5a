"""Database back-ends for the store's tests: a fresh SQLite file, and a fresh PostgreSQL database.

The PostgreSQL server comes from ``ADVISOR_TEST_POSTGRES_URL`` (``.ci/run`` always sets it); each test
gets its own schema, created and dropped around it, so tests never see each other's rows.
Locally, without the variable, PostgreSQL cases are skipped (in CI they fail instead).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from testsupport import require_service

POSTGRES_ENV = "ADVISOR_TEST_POSTGRES_URL"
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'advisor.db'}"


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        require_service(f"PostgreSQL (set {POSTGRES_ENV})")
    return url  # type: ignore[return-value]


def fresh_postgres_database() -> Iterator[str]:
    """Create an empty schema on the test server, yield a URL whose connections use only it, drop it afterwards.

    A schema per test isolates as well as a database per test here (everything the store creates,
    Alembic's version table included, lands in the first schema of the search path) and is much cheaper.
    """
    server = make_url(postgres_server_url())
    name = f"advisor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        url = server.update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database, once per back-end."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from fresh_postgres_database()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty database shared by one module's tests, once per back-end (for read-only tests)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path_factory.mktemp("store"))
    else:
        yield from fresh_postgres_database()
