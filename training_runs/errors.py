"""Errors of the results store that a user can fix; each message names the problem.

They subclass ``ValueError`` so the ``advisor`` CLI prints them as one line with a non-zero exit.
"""
from __future__ import annotations


class StoreError(ValueError):
    """The results database cannot be opened, read or written; the message says why."""


class SchemaVersionError(StoreError):
    """The database's schema revision is unknown to this version of finetune-advisor (it is newer)."""


class SeedDataError(StoreError):
    """A study CSV (or the reference-profiles file) is malformed; the message names the file and row."""


class RunValidationError(StoreError):
    """A run to record is invalid (bad kind, score outside [0, 1], missing names, non-JSON values...)."""


class DuplicateRunError(StoreError):
    """A run with the same task, model, kind and provenance is already recorded."""
