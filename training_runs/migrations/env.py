"""Alembic environment, driven programmatically by ``training_runs.store.migrate``.

The caller passes an open connection in ``config.attributes["connection"]``, so no ``alembic.ini`` and
no URL handling are needed here. For ad-hoc use (``alembic -c training_runs/migrations/alembic.ini``)
the URL comes from the ``sqlalchemy.url`` option or ``ADVISOR_DB_URL``.
"""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from training_runs.store.migrate import VERSION_TABLE
from training_runs.store.orm import Base

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("ADVISOR_DB_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url in the Alembic config or ADVISOR_DB_URL")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
