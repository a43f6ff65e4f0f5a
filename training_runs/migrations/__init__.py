"""Alembic migrations of the results database; run by :func:`training_runs.store.migrate.upgrade`."""
