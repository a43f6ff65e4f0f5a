"""The results database: the LoRA Land study's runs, local runs, task profiles and catalog results.

Example:
    >>> from training_runs.store import Store
    >>> with Store.open("sqlite:///:memory:") as store:
    ...     _ = store.seed_study()
    ...     stats = store.stats()
    >>> stats["base_models"], stats["tasks"], stats["runs"]
    (10, 31, {'qlora': 310, 'zero-shot': 310, 'api': 62})
"""
from __future__ import annotations

from training_runs.errors import (
    DuplicateRunError,
    RunValidationError,
    SchemaVersionError,
    SeedDataError,
    StoreError,
)
from training_runs.store.orm import CATALOG_STATUSES, RUN_KINDS, STUDY_RUN_KINDS
from training_runs.store.store import LOCAL_CATEGORY, RUN_COLUMNS, SeedReport, Store
from training_runs.store.study import STUDY_PROVENANCE

__all__ = [
    "CATALOG_STATUSES",
    "DuplicateRunError",
    "LOCAL_CATEGORY",
    "RUN_COLUMNS",
    "RUN_KINDS",
    "RunValidationError",
    "STUDY_PROVENANCE",
    "STUDY_RUN_KINDS",
    "SchemaVersionError",
    "SeedDataError",
    "SeedReport",
    "Store",
    "StoreError",
]
