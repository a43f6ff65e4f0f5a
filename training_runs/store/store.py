"""The results store: base models, tasks, runs, task profiles and catalog results in one database.

One session per unit of work, one explicit transaction each: a method either does all of its
writes or none. Errors a user can fix are :class:`training_runs.errors.StoreError` (a ``ValueError``).

Example:
    >>> store = Store.open("sqlite:///:memory:")
    >>> report = store.seed_study()
    >>> store.stats()["runs"]
    {'qlora': 310, 'zero-shot': 310, 'api': 62}
    >>> store.close()
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.registry import BaseModelInfo, load_registry, lookup
from training_runs.errors import DuplicateRunError, RunValidationError, StoreError
from training_runs.store import engine as engines
from training_runs.store import migrate
from training_runs.store.files import staged_file
from training_runs.store.orm import (
    CATALOG_STATUSES,
    RUN_KINDS,
    STUDY_RUN_KINDS,
    BaseModelRecord,
    CatalogResultRecord,
    RunRecord,
    TaskProfileRecord,
    TaskRecord,
    utcnow,
)
from training_runs.store.study import STUDY_PROVENANCE, RunSpec, StudyData, TaskSpec, load_study

if TYPE_CHECKING:  # importing the featurizers package is slow (text libraries); the store needs it rarely
    from featurizers.profile_types import TaskProfile

_Named = TypeVar("_Named", TaskRecord, BaseModelRecord)

#: Category of tasks created on demand for user datasets.
LOCAL_CATEGORY = "local"
RUN_COLUMNS: tuple[str, ...] = (
    "run_id",
    "task",
    "model",
    "kind",
    "score",
    "metric",
    "provenance",
    "category",
    "hyperparameters",
    "wall_time_s",
    "tokens_per_s",
    "peak_memory_gb",
    "metrics",
    "created_at",
)
BASE_MODEL_COLUMNS: tuple[str, ...] = (
    "model",
    "hf_id",
    "creator",
    "family",
    "params_billion",
    "instruction_tuned",
    "release_date",
    "context_length",
)
TASK_COLUMNS: tuple[str, ...] = (
    "task",
    "category",
    "metric",
    "description",
    "dataset_link",
    "n_train",
    "n_validation",
    "n_test",
    "eval_split",
)
EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class SeedReport:
    """What :meth:`Store.seed_study` changed, per table (``base_models``, ``tasks``, ``runs``, ``task_profiles``).

    Seeding an already seeded database reports nothing added or updated.
    """

    added: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.added.values()) or any(self.updated.values())

    def summary(self) -> str:
        """One line, e.g. ``added 10 base_models, 31 tasks, 682 runs; updated nothing; already present nothing``."""
        def part(counts: dict[str, int]) -> str:
            items = [f"{n} {table}" for table, n in counts.items() if n]
            return ", ".join(items) if items else "nothing"

        return f"added {part(self.added)}; updated {part(self.updated)}; already present {part(self.unchanged)}"


class Store:
    """The results database. Open it with :meth:`Store.open`; use it as a context manager or call :meth:`close`.

    Example:
        >>> with Store.open("sqlite:///:memory:") as store:
        ...     run_id = store.record_run(task="my-task", base_model="phi-2", kind="qlora", score=0.8,
        ...                               metric="accuracy", provenance="local-run-1")
        ...     store.runs_frame()[["task", "model", "category"]].values.tolist()
        [['my-task', 'phi-2', 'local']]
    """

    def __init__(self, engine: Engine, url: URL, *, display_url: str | None = None,
                 read_only_reason: str | None = None) -> None:
        self._engine = engine
        self._url = url
        self._display_url = display_url or engines.display_url(url)
        self._read_only_reason = read_only_reason
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Writers take SQLite's write lock when they begin, so two writers wait for each other instead of
        # one failing with "database is locked" when it upgrades a read lock (no effect on other backends).
        self._write_sessions = sessionmaker(
            engine.execution_options(**{engines.SQLITE_IMMEDIATE: True}), expire_on_commit=False
        )
        self._registry: dict[str, BaseModelInfo] | None = None

    # ------------------------------------------------------------------ opening and closing
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> "Store":
        """Open the database at ``url``, upgrading its schema to the newest revision.

        ``None`` means ``ADVISOR_DB_URL``, else ``advisor.db`` in the user data directory
        (``ADVISOR_DATA_DIR`` overrides it). With ``create`` (the default) a missing database is created;
        without it (reading commands) a missing one, or one without the schema, raises :class:`StoreError`
        and nothing is created. A SQLite file that cannot be written (read-only file, folder or mount) is
        opened read-only: reading works, writing raises :class:`StoreError` (see :attr:`read_only`).
        A database made by a newer finetune-advisor raises :class:`training_runs.errors.SchemaVersionError`.
        Malformed URLs and unreachable servers raise :class:`StoreError`.

        Example:
            >>> Store.open("sqlite:////no/such/folder/advisor.db", create=False)
            Traceback (most recent call last):
            ...
            training_runs.errors.StoreError: no database at sqlite:////no/such/folder/advisor.db: ...
        """
        parsed = engines.resolve_url(url)
        where = engines.display_url(parsed)
        location = engines.prepare_location(parsed, create=create)
        engine = engines.make_engine(location.url)
        try:
            with engine.connect() as connection:
                found = migrate.current_revision(connection)
        except DBAPIError as exc:
            engine.dispose()
            if location.read_only:
                raise _translate(exc, where, "cannot read") from exc
            raise StoreError(f"cannot connect to the database at {where}: {_reason(exc)}") from exc
        try:
            _check_openable(found, where, create=create, read_only_reason=location.read_only_reason)
            migrate.upgrade(engine, where)
        except DBAPIError as exc:
            engine.dispose()
            raise _translate(exc, where, "cannot create or upgrade the schema of") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, location.url, display_url=where, read_only_reason=location.read_only_reason)

    @property
    def url(self) -> str:
        """The full database URL (including any password; use :attr:`display_url` in messages)."""
        return self._url.render_as_string(hide_password=False)

    @property
    def display_url(self) -> str:
        """The database URL as given, with any password masked."""
        return self._display_url

    @property
    def read_only(self) -> bool:
        """True when the database was opened read-only (a SQLite file that cannot be written)."""
        return self._read_only_reason is not None

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql``, ..."""
        return self._url.get_backend_name()

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        with self._engine.connect() as connection:
            return migrate.current_revision(connection)

    def close(self) -> None:
        """Release all connections."""
        self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @contextmanager
    def _unit_of_work(self, doing: str, *, write: bool = False) -> Iterator[Session]:
        """One session and one transaction; database errors become :class:`StoreError`."""
        if write and self._read_only_reason is not None:
            raise StoreError(f"the database at {self.display_url} is read-only ({self._read_only_reason}): "
                             f"cannot {doing} in it")
        sessions = self._write_sessions if write else self._sessions
        try:
            with sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            raise _translate(exc, self.display_url, f"cannot {doing} in") from exc

    # ------------------------------------------------------------------ seeding
    def seed_study(
        self, data_dir: str | Path | None = None, reference_profiles: str | Path | None = None
    ) -> SeedReport:
        """Load the LoRA Land study (10 base models, 31 tasks, 310 qlora + 310 zero-shot + 62 api runs).

        Idempotent: seeding again adds nothing. Everything is validated first and written in one
        transaction, so a bad CSV leaves the database as it was. Also loads the packaged reference
        task profiles (``training_runs/data/reference_profiles.json``) when that file exists.
        ``data_dir``/``reference_profiles`` override the packaged files (for tests and rebuilds).
        """
        study = load_study(data_dir, reference_profiles)
        report = SeedReport()
        with self._unit_of_work("seed the study", write=True) as session:
            base_ids = self._seed_base_models(session, study, report)
            task_ids = self._seed_tasks(session, study.tasks, report)
            self._seed_runs(session, study.runs, task_ids, base_ids, report)
            self._seed_profiles(session, study, task_ids, report)
        return report

    def _seed_base_models(self, session: Session, study: StudyData, report: SeedReport) -> dict[str, int]:
        values = {info.name: _base_model_values(info) for info in study.base_models}
        return _upsert_by_name(session, BaseModelRecord, values, report, "base_models")

    def _seed_tasks(self, session: Session, tasks: list[TaskSpec], report: SeedReport) -> dict[str, int]:
        values = {spec.name: asdict(spec) for spec in tasks}
        return _upsert_by_name(session, TaskRecord, values, report, "tasks")

    def _seed_runs(
        self,
        session: Session,
        runs: list[RunSpec],
        task_ids: dict[str, int],
        base_ids: dict[str, int],
        report: SeedReport,
    ) -> None:
        existing = {
            (r.task_id, r.model, r.kind): r
            for r in session.scalars(select(RunRecord).where(RunRecord.provenance == STUDY_PROVENANCE))
        }
        _count(report, "runs", 0, 0, 0)
        now = utcnow()
        new: list[RunRecord] = []
        for spec in runs:
            task_id = task_ids[spec.task]
            values = {
                "task_id": task_id,
                "model": spec.model,
                "base_model_id": None if spec.kind == "api" else base_ids[spec.model],
                "kind": spec.kind,
                "score": spec.score,
                "metric": spec.metric,
                "provenance": spec.provenance,
                "hyperparameters": spec.hyperparameters,
            }
            record = existing.get((task_id, spec.model, spec.kind))
            if record is None:
                new.append(RunRecord(**values, created_at=now))
                report.added["runs"] += 1
            elif _differs(record, values):
                _assign(record, values)
                report.updated["runs"] += 1
            else:
                report.unchanged["runs"] += 1
        session.add_all(new)
        session.flush()

    def _seed_profiles(self, session: Session, study: StudyData, task_ids: dict[str, int], report: SeedReport) -> None:
        _count(report, "task_profiles", 0, 0, 0)
        for task, profile in study.profiles.items():
            outcome = _upsert_profile(session, task_ids[task], profile)
            getattr(report, outcome)["task_profiles"] += 1

    # ------------------------------------------------------------------ reading
    def stats(self) -> dict[str, Any]:
        """Row counts: ``{"base_models": 10, "tasks": 31, "runs": {"qlora": 310, "zero-shot": 310, "api": 62}, ...}``.

        ``runs`` counts the study's kinds always and other kinds (``learning-curve``) when there are any.
        Also ``local_runs`` (runs not from the study), ``local_tasks``, ``task_profiles``,
        ``catalog_results``, ``schema_revision`` and ``backend``.
        """
        with self._unit_of_work("read statistics") as session:
            per_kind = dict(session.execute(select(RunRecord.kind, func.count()).group_by(RunRecord.kind)).all())
            counts: dict[str, Any] = {
                "base_models": session.scalar(select(func.count()).select_from(BaseModelRecord)),
                "tasks": session.scalar(select(func.count()).select_from(TaskRecord)),
                "runs": {
                    kind: int(per_kind.get(kind, 0))
                    for kind in RUN_KINDS
                    if kind in STUDY_RUN_KINDS or per_kind.get(kind)
                },
                "local_runs": session.scalar(
                    select(func.count()).select_from(RunRecord).where(RunRecord.provenance != STUDY_PROVENANCE)
                ),
                "local_tasks": session.scalar(
                    select(func.count()).select_from(TaskRecord).where(TaskRecord.category == LOCAL_CATEGORY)
                ),
                "task_profiles": session.scalar(select(func.count()).select_from(TaskProfileRecord)),
                "catalog_results": session.scalar(select(func.count()).select_from(CatalogResultRecord)),
                "schema_revision": migrate.current_revision(session.connection()),
                "backend": self.backend,
            }
        return counts

    def runs_frame(self, kinds: Iterable[str] | None = None) -> pd.DataFrame:
        """All runs (or those of ``kinds``) as a DataFrame, one row per run.

        Columns: run_id, task, model, kind, score, metric, provenance, category, hyperparameters (dict),
        wall_time_s, tokens_per_s, peak_memory_gb, metrics (dict), created_at (UTC). Sorted by task,
        kind, model, run_id.

        Example:
            >>> with Store.open("sqlite:///:memory:") as store:
            ...     _ = store.seed_study()
            ...     store.runs_frame(["api"]).groupby("model").score.mean().round(3).to_dict()
            {'gpt-3.5-turbo': 0.599, 'gpt-4': 0.661}
        """
        query = select(RunRecord, TaskRecord.name, TaskRecord.category).join(TaskRecord, RunRecord.task_id == TaskRecord.id)
        if kinds is not None:
            wanted = [kinds] if isinstance(kinds, str) else list(kinds)
            unknown = sorted(set(wanted) - set(RUN_KINDS))
            if unknown:
                raise StoreError(f"unknown run kind(s) {', '.join(unknown)}; expected some of {', '.join(RUN_KINDS)}")
            query = query.where(RunRecord.kind.in_(wanted))
        with self._unit_of_work("read runs") as session:
            rows = [
                {
                    "run_id": run.id,
                    "task": task,
                    "model": run.model,
                    "kind": run.kind,
                    "score": run.score,
                    "metric": run.metric,
                    "provenance": run.provenance,
                    "category": category,
                    "hyperparameters": dict(run.hyperparameters or {}),
                    "wall_time_s": run.wall_time_s,
                    "tokens_per_s": run.tokens_per_s,
                    "peak_memory_gb": run.peak_memory_gb,
                    "metrics": dict(run.metrics or {}),
                    "created_at": run.created_at,
                }
                for run, task, category in session.execute(query)
            ]
        frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
        frame["run_id"] = frame["run_id"].astype("int64")
        frame["score"] = frame["score"].astype("float64")
        for column in ("wall_time_s", "tokens_per_s", "peak_memory_gb"):
            frame[column] = frame[column].astype("float64")
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
        # Sorted here, not in SQL, so the order does not depend on the server's collation.
        return frame.sort_values(["task", "kind", "model", "run_id"], kind="stable", ignore_index=True)

    def base_models_frame(self) -> pd.DataFrame:
        """The base models, one row each (column ``model`` is the short name), in the order they were added."""
        with self._unit_of_work("read base models") as session:
            records = list(session.scalars(select(BaseModelRecord).order_by(BaseModelRecord.id)))
            rows = [{"model": r.name, **{c: getattr(r, c) for c in BASE_MODEL_COLUMNS[1:]}} for r in records]
        frame = pd.DataFrame(rows, columns=list(BASE_MODEL_COLUMNS))
        frame["params_billion"] = frame["params_billion"].astype("float64")
        frame["context_length"] = frame["context_length"].astype("Int64")
        frame["instruction_tuned"] = frame["instruction_tuned"].astype("boolean")
        return frame

    def tasks_frame(self) -> pd.DataFrame:
        """The tasks, one row each (column ``task`` is the name), in the order they were added."""
        with self._unit_of_work("read tasks") as session:
            records = list(session.scalars(select(TaskRecord).order_by(TaskRecord.id)))
            rows = [{"task": r.name, **{c: getattr(r, c) for c in TASK_COLUMNS[1:]}} for r in records]
        frame = pd.DataFrame(rows, columns=list(TASK_COLUMNS))
        for column in ("n_train", "n_validation", "n_test"):
            frame[column] = frame[column].astype("Int64")
        return frame

    # ------------------------------------------------------------------ task profiles
    def task_profiles(self, featurizer_version: str | None = None) -> dict[str, TaskProfile]:
        """``{task: TaskProfile}`` computed by ``featurizer_version`` (default: the current ``FEATURIZER_VERSION``)."""
        from featurizers.profile_types import FEATURIZER_VERSION

        version = FEATURIZER_VERSION if featurizer_version is None else featurizer_version
        query = (
            select(TaskProfileRecord, TaskRecord.name)
            .join(TaskRecord, TaskProfileRecord.task_id == TaskRecord.id)
            .where(TaskProfileRecord.featurizer_version == version)
            .order_by(TaskRecord.name)
        )
        with self._unit_of_work("read task profiles") as session:
            return {task: _profile_from_record(record) for record, task in session.execute(query)}

    def save_task_profile(self, task: str, profile: TaskProfile, *, category: str = LOCAL_CATEGORY) -> None:
        """Store ``profile`` as the profile of ``task`` for its featurizer version (replacing an older one).

        An unknown task is created with ``category``.
        """
        _require_name(task, "task")
        _require_name(category, "category")
        _check_profile(profile)
        with self._unit_of_work("save a task profile", write=True) as session:
            task_record = _get_or_create_task(session, task, category=category, metric=None)
            _upsert_profile(session, task_record.id, profile)

    # ------------------------------------------------------------------ recording runs
    def record_run(
        self,
        *,
        task: str,
        base_model: str,
        kind: str,
        score: float,
        metric: str,
        provenance: str,
        hyperparameters: Mapping[str, Any] | None = None,
        wall_time_s: float | None = None,
        tokens_per_s: float | None = None,
        peak_memory_gb: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        task_category: str = LOCAL_CATEGORY,
    ) -> int:
        """Record one run and return its id; everything is validated before anything is written.

        ``base_model`` is a base model's short name or Hugging Face id (ids in the registry are
        stored under their short name; unknown models are added with what is known); for ``api``
        runs it is the API model's name. An unknown ``task`` is created with ``task_category``.
        A second run with the same task, model, kind and provenance raises :class:`DuplicateRunError`.
        The one-run case of :meth:`record_runs`.
        """
        run = {
            "task": task, "base_model": base_model, "kind": kind, "score": score, "metric": metric,
            "provenance": provenance, "hyperparameters": hyperparameters, "wall_time_s": wall_time_s,
            "tokens_per_s": tokens_per_s, "peak_memory_gb": peak_memory_gb, "metrics": metrics,
            "task_category": task_category,
        }
        return self.record_runs([run])[0]

    def record_runs(self, runs: Sequence[Mapping[str, Any]]) -> list[int]:
        """Record several runs in one transaction, all or none; returns their ids in the given order.

        Each run is a mapping of :meth:`record_run`'s keyword arguments. Every run is validated before
        anything is written, and a failure while writing (a duplicate, a lost connection, a kill)
        leaves none of them recorded: e.g. a fine-tuned run and its zero-shot baseline land together.
        Errors name the run by its position (``run #2: ...``) when there are several.

        Example:
            >>> with Store.open("sqlite:///:memory:") as store:
            ...     pair = [dict(task="t", base_model="phi-2", kind=kind, score=score, metric="accuracy",
            ...                  provenance="run-1") for kind, score in (("qlora", 0.8), ("zero-shot", 0.4))]
            ...     ids = store.record_runs(pair)
            ...     store.stats()["runs"]
            {'qlora': 1, 'zero-shot': 1, 'api': 0}
        """
        if isinstance(runs, Mapping) or not isinstance(runs, Sequence):
            raise RunValidationError(f"runs must be a sequence of run mappings, got {type(runs).__name__}")
        validated = [_validated_run(run, f"run #{i + 1}: " if len(runs) > 1 else "") for i, run in enumerate(runs)]
        if not validated:
            return []
        keys = [(run.task, run.base_model, run.kind, run.provenance) for run in validated]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise DuplicateRunError(
                    f"run #{i + 1} repeats run #{keys.index(key) + 1}: the same task, model, kind and provenance"
                )
        with self._unit_of_work("record runs", write=True) as session:
            records = [self._add_run(session, run) for run in validated]
            return [record.id for record in records]

    def _add_run(self, session: Session, run: _ValidRun) -> RunRecord:
        """Insert one validated run into the open transaction (flushed, so it has its id)."""
        task_record = _get_or_create_task(session, run.task, category=run.task_category, metric=run.metric)
        base_record = None if run.kind == "api" else self._get_or_create_base_model(session, run.base_model)
        model = run.base_model if base_record is None else base_record.name
        already = (
            f"a {run.kind} run of {model} on {run.task} with provenance {run.provenance!r} is already recorded"
        )
        duplicate = session.scalar(
            select(RunRecord.id).where(
                RunRecord.task_id == task_record.id,
                RunRecord.model == model,
                RunRecord.kind == run.kind,
                RunRecord.provenance == run.provenance,
            )
        )
        if duplicate is not None:
            raise DuplicateRunError(f"{already} (id {duplicate})")
        record = RunRecord(
            task_id=task_record.id,
            model=model,
            base_model_id=None if base_record is None else base_record.id,
            created_at=utcnow(),
            **run.columns(),
        )
        session.add(record)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent writer recorded the same run first
            raise DuplicateRunError(already) from exc
        return record

    def add_base_model(self, info: BaseModelInfo) -> bool:
        """Record a base model's descriptors (insert, or update the row of that name); True when something changed.

        Runs name their base model; a model outside the registry gets a row with its name only, which the
        forecaster cannot place. This gives it the size, instruction tuning and release date it needs.

        Example:
            >>> store.add_base_model(BaseModelInfo("my-model", params_billion=1.5, instruction_tuned=True,  # doctest: +SKIP
            ...                                    release_date=dt.date(2025, 3, 1)))
        """
        _require_name(info.name, "base model name")
        report = SeedReport()
        with self._unit_of_work("record a base model", write=True) as session:
            _upsert_by_name(session, BaseModelRecord, {info.name: _base_model_values(info)}, report, "base_models")
        return bool(report.added["base_models"] or report.updated["base_models"])

    def _get_or_create_base_model(self, session: Session, name: str) -> BaseModelRecord:
        record = session.scalar(select(BaseModelRecord).where(BaseModelRecord.name == name))
        if record is not None:
            return record
        if self._registry is None:
            self._registry = load_registry()
        info = lookup(name, self._registry)
        if info is not None:
            record = session.scalar(select(BaseModelRecord).where(BaseModelRecord.name == info.name))
            if record is not None:
                return record
        else:
            record = session.scalar(select(BaseModelRecord).where(BaseModelRecord.hf_id == name))
            if record is not None:
                return record
            info = BaseModelInfo(name=name, hf_id=name if "/" in name else None)
        return _insert_unless_present(session, BaseModelRecord(**_base_model_values(info)))

    # ------------------------------------------------------------------ catalog results
    def find_catalog_result(
        self, name: str, fingerprint: str, featurizer_version: str, predictor_version: str
    ) -> dict[str, Any] | None:
        """The cached result of a catalog entry for this data fingerprint and these versions, or ``None``.

        The dict has the keys name, fingerprint, featurizer_version, predictor_version, status
        (``ok``/``error``), result (dict or None), error (str or None) and created_at.
        """
        query = select(CatalogResultRecord).where(
            CatalogResultRecord.name == name,
            CatalogResultRecord.fingerprint == fingerprint,
            CatalogResultRecord.featurizer_version == featurizer_version,
            CatalogResultRecord.predictor_version == predictor_version,
        )
        with self._unit_of_work("read a catalog result") as session:
            record = session.scalar(query)
            return None if record is None else _catalog_dict(record)

    def record_catalog_result(
        self,
        name: str,
        fingerprint: str,
        featurizer_version: str,
        predictor_version: str,
        status: str,
        result: Mapping[str, Any] | None,
        error: str | None,
        *,
        task_profile: TaskProfile | None = None,
    ) -> None:
        """Insert or replace the result of one catalog entry (keyed by name, fingerprint and both versions).

        ``task_profile``: also save it as the profile of task ``name`` (see :meth:`save_task_profile`),
        in the same transaction, so a catalog result and its profile are recorded together or not at all.
        """
        for value, what in ((name, "name"), (fingerprint, "fingerprint"), (featurizer_version, "featurizer_version"),
                            (predictor_version, "predictor_version")):
            _require_name(value, what)
        if status not in CATALOG_STATUSES:
            raise StoreError(f"status must be one of {', '.join(CATALOG_STATUSES)}, got {status!r}")
        if status == "error" and not error:
            raise StoreError("a catalog result with status 'error' needs the error text")
        if task_profile is not None:
            _check_profile(task_profile)
        result_json = _json_mapping(result, "result")
        values = {"status": status, "result": result_json, "error": error, "created_at": utcnow()}
        key = {
            "name": name,
            "fingerprint": fingerprint,
            "featurizer_version": featurizer_version,
            "predictor_version": predictor_version,
        }
        for attempt in range(2):  # a concurrent writer may insert the same key between our read and write
            try:
                with self._unit_of_work("record a catalog result", write=True) as session:
                    record = session.scalar(
                        select(CatalogResultRecord).filter_by(**key)
                    )
                    if record is None:
                        session.add(CatalogResultRecord(**key, **values))
                    else:
                        _assign(record, values)
                    if task_profile is not None:
                        task_record = _get_or_create_task(session, name, category=LOCAL_CATEGORY, metric=None)
                        _upsert_profile(session, task_record.id, task_profile)
                return
            except StoreError as exc:
                if attempt == 1 or not isinstance(exc.__cause__, IntegrityError):
                    raise

    # ------------------------------------------------------------------ export
    def export_runs(self, path: str | Path) -> int:
        """Write all runs to ``path`` as CSV or Parquet (chosen by the suffix); returns the number of rows.

        The file is written to a temporary name first and renamed, so a failure leaves no partial file;
        a new file's permissions follow the umask. ``hyperparameters`` and ``metrics`` are written as JSON text.
        """
        path = Path(path)
        fmt = export_format(path)
        frame = self.runs_frame()
        for column in ("hyperparameters", "metrics"):
            frame[column] = frame[column].map(lambda d: json.dumps(d, sort_keys=True))
        try:
            with staged_file(path) as staging:
                if fmt == "csv":
                    frame.to_csv(staging, index=False)
                else:
                    frame.to_parquet(staging, index=False)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return len(frame)


def export_format(path: str | Path) -> str:
    """``csv`` or ``parquet``, the format :meth:`Store.export_runs` writes to ``path``; a suffix it cannot
    write or a missing folder raises :class:`StoreError` (so a command can check before any work).

    Example:
        >>> export_format("/tmp/runs.parquet")
        'parquet'
    """
    path = Path(path)
    fmt = EXPORT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StoreError(
            f"cannot export to {path.name}: unknown suffix {path.suffix or '(none)'!r}; use .csv or .parquet"
        )
    if not path.parent.is_dir():
        raise StoreError(f"cannot export to {path}: the directory {path.parent} does not exist")
    if path.is_dir():
        raise StoreError(f"cannot export to {path}: it is a folder; give a file name ending in .csv or .parquet")
    return fmt


# ---------------------------------------------------------------------- helpers
def _reason(exc: DBAPIError) -> str:
    """The driver's message, first line only."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc.orig).__name__


def _check_openable(found: str | None, where: str, *, create: bool, read_only_reason: str | None) -> None:
    """Refuse, before any write, to create a schema a reader did not ask for or to upgrade a read-only one."""
    migrate.check_known(found, where)
    if found is None and not create:
        raise StoreError(
            f"no finetune-advisor database at {where}: it holds no schema (create one with `advisor db init`)"
        )
    if read_only_reason is not None and found != migrate.head_revision():
        needs = "its schema cannot be created" if found is None else (
            f"its schema (revision {found}) cannot be upgraded to {migrate.head_revision()}, which this "
            "finetune-advisor needs; upgrade it once where it is writable (`advisor db init --url ...`)"
        )
        raise StoreError(f"the database at {where} is read-only ({read_only_reason}), so {needs}")


def _translate(exc: DBAPIError, where: str, doing: str) -> StoreError:
    reason = _reason(exc)
    if "readonly" in reason.lower().replace("-", "").replace(" ", "") or "read-only" in reason.lower():
        return StoreError(f"the database at {where} is read-only: {reason}")
    return StoreError(f"{doing} the database at {where}: {reason}")


def _upsert_by_name(
    session: Session, record_type: type, values_by_name: Mapping[str, Mapping[str, Any]], report: SeedReport, table: str
) -> dict[str, int]:
    """Insert or update one record per name (records are unique by ``name``), counting what changed in
    ``report``; returns ``{name: id}`` for every record of the table."""
    existing = {r.name: r for r in session.scalars(select(record_type))}
    _count(report, table, 0, 0, 0)
    for name, values in values_by_name.items():
        record = existing.get(name)
        if record is None:
            record = record_type(**values)
            session.add(record)
            existing[name] = record
            report.added[table] += 1
        elif _differs(record, values):
            _assign(record, values)
            report.updated[table] += 1
        else:
            report.unchanged[table] += 1
    session.flush()
    return {name: r.id for name, r in existing.items()}


def _base_model_values(info: BaseModelInfo) -> dict[str, Any]:
    """The fields of ``info`` that are columns of ``base_models`` (the registry knows more than the table keeps)."""
    columns = BaseModelRecord.__table__.columns.keys()
    return {k: v for k, v in asdict(info).items() if k in columns}


def _count(report: SeedReport, table: str, added: int, updated: int, unchanged: int) -> None:
    report.added[table] = added
    report.updated[table] = updated
    report.unchanged[table] = unchanged


def _differs(record: object, values: Mapping[str, Any]) -> bool:
    return any(getattr(record, k) != v for k, v in values.items())


def _assign(record: object, values: Mapping[str, Any]) -> None:
    for k, v in values.items():
        setattr(record, k, v)


def _get_or_create_task(session: Session, name: str, *, category: str, metric: str | None) -> TaskRecord:
    record = session.scalar(select(TaskRecord).where(TaskRecord.name == name))
    if record is None:
        record = _insert_unless_present(session, TaskRecord(name=name, category=category, metric=metric))
    return record


def _insert_unless_present(session: Session, record: _Named) -> _Named:
    """Insert a task or base model; if a concurrent writer inserted the same name first, return that row.

    The insert runs in a savepoint so the unique-name violation does not abort the whole transaction.
    """
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        cls = type(record)
        existing = session.scalar(select(cls).where(cls.name == record.name))
        if existing is None:
            raise
        return existing
    return record


def _profile_values(profile: TaskProfile) -> dict[str, Any]:
    data = profile.to_dict()
    heuristics = data.pop("heuristics")
    intervals = data.pop("intervals")
    version = data.pop("featurizer_version")
    return {
        "featurizer_version": version,
        "heuristics": heuristics,
        "intervals": intervals,
        "n_examples": profile.n_examples,
        "source": profile.source,
        "details": data,
    }


def _profile_from_record(record: TaskProfileRecord) -> TaskProfile:
    data = dict(record.details)
    data.update(
        heuristics=record.heuristics,
        intervals=record.intervals,
        featurizer_version=record.featurizer_version,
        n_examples=record.n_examples,
        source=record.source,
    )
    from featurizers.profile_types import TaskProfile

    return TaskProfile.from_dict(data)


def _check_profile(profile: object) -> None:
    from featurizers.profile_types import TaskProfile

    if not isinstance(profile, TaskProfile):
        raise StoreError(f"profile must be a TaskProfile, got {type(profile).__name__}")


def _upsert_profile(session: Session, task_id: int, profile: TaskProfile) -> str:
    """Insert or update; returns which of ``added``/``updated``/``unchanged`` happened."""
    values = _profile_values(profile)
    record = session.scalar(
        select(TaskProfileRecord).where(
            TaskProfileRecord.task_id == task_id,
            TaskProfileRecord.featurizer_version == values["featurizer_version"],
        )
    )
    if record is None:
        try:
            with session.begin_nested():  # a concurrent writer may insert the same profile first
                session.add(TaskProfileRecord(task_id=task_id, created_at=utcnow(), **values))
            return "added"
        except IntegrityError:
            record = session.scalar(
                select(TaskProfileRecord).where(
                    TaskProfileRecord.task_id == task_id,
                    TaskProfileRecord.featurizer_version == values["featurizer_version"],
                )
            )
            if record is None:
                raise
    if _differs(record, values):
        _assign(record, {**values, "created_at": utcnow()})
        return "updated"
    return "unchanged"


def _catalog_dict(record: CatalogResultRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "fingerprint": record.fingerprint,
        "featurizer_version": record.featurizer_version,
        "predictor_version": record.predictor_version,
        "status": record.status,
        "result": record.result,
        "error": record.error,
        "created_at": _as_utc(record.created_at),
    }


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; the store writes UTC, so naive means UTC."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class _ValidRun:
    """A run that passed validation: names checked, numbers finite and in range, JSON values copied."""

    task: str
    base_model: str
    task_category: str
    kind: str
    score: float
    metric: str
    provenance: str
    hyperparameters: dict[str, Any] | None
    metrics: dict[str, Any] | None
    wall_time_s: float | None
    tokens_per_s: float | None
    peak_memory_gb: float | None

    def columns(self) -> dict[str, Any]:
        """The values of its ``runs`` row other than the task, model and base-model references."""
        values = asdict(self)
        for name in ("task", "base_model", "task_category"):
            del values[name]
        return values


_RUN_REQUIRED = ("task", "base_model", "kind", "score", "metric", "provenance")
_RUN_OPTIONAL = ("hyperparameters", "wall_time_s", "tokens_per_s", "peak_memory_gb", "metrics", "task_category")
_RUN_TIMINGS = ("wall_time_s", "tokens_per_s", "peak_memory_gb")


def _validated_run(run: Mapping[str, Any], label: str = "") -> _ValidRun:
    """Check one run mapping (the keyword arguments of ``Store.record_run``); ``label`` prefixes errors."""
    if not isinstance(run, Mapping):
        raise RunValidationError(f"{label}a run must be a mapping of record_run's arguments, got {type(run).__name__}")
    unknown = sorted(map(str, set(run) - set(_RUN_REQUIRED) - set(_RUN_OPTIONAL)))
    if unknown:
        raise RunValidationError(f"{label}unknown run field(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(_RUN_REQUIRED + _RUN_OPTIONAL)}")
    missing = [key for key in _RUN_REQUIRED if key not in run]
    if missing:
        raise RunValidationError(f"{label}missing run field(s) {', '.join(missing)}")
    try:
        return _check_run_values({**run, "task_category": run.get("task_category", LOCAL_CATEGORY)})
    except RunValidationError as exc:
        if not label:
            raise
        raise RunValidationError(f"{label}{exc}") from exc


def _check_run_values(run: Mapping[str, Any]) -> _ValidRun:
    for key in ("task", "base_model", "metric", "provenance", "task_category"):
        _require_name(run[key], key)
    kind, score = run["kind"], run["score"]
    if kind not in RUN_KINDS:
        raise RunValidationError(f"kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")
    if isinstance(score, bool) or not isinstance(score, Real) or not math.isfinite(score) or not 0 <= score <= 1:
        raise RunValidationError(f"score must be a number in [0, 1], got {score!r}")
    for name in _RUN_TIMINGS:
        value = run.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0
        ):
            raise RunValidationError(f"{name} must be a non-negative number or None, got {value!r}")
    return _ValidRun(
        task=run["task"], base_model=run["base_model"], task_category=run["task_category"], kind=kind,
        score=float(score), metric=run["metric"], provenance=run["provenance"],
        hyperparameters=_json_mapping(run.get("hyperparameters"), "hyperparameters"),
        metrics=_json_mapping(run.get("metrics"), "metrics"),
        **{name: _optional_float(run.get(name)) for name in _RUN_TIMINGS},
    )


def _require_name(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RunValidationError(f"{what} must be a non-empty string, got {value!r}")


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _json_mapping(value: Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    """A JSON round-tripped copy of ``value``; non-JSON values (NaN, objects) are an error naming the key."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RunValidationError(f"{what} must be a dict, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise RunValidationError(f"{what} keys must be strings, got {key!r}")
        try:
            json.dumps(item, allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise RunValidationError(f"{what}[{key!r}] cannot be stored as JSON: {exc}") from exc
    return json.loads(json.dumps(dict(value), allow_nan=False, default=_json_default))


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays become plain numbers and lists; anything else is an error."""
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
