"""Batch scoring of task catalogs: profile and rank many task datasets, resumably, in parallel.

``score_catalog`` reads a catalog (see :mod:`advisor.catalog_spec`), and for each entry loads the
data, profiles it and asks the advisor for a recommendation. It writes one row per task (best base
model, predicted score and interval, lift, P(beat GPT-4), key heuristics, status, error) and records
each entry's profile and recommendation in the results database.

- Resumable: an entry whose fingerprint (data + column options + base scores) was already scored with
  the same featurizer and predictor versions is read back from the database, not recomputed.
- Robust: an entry that fails is recorded with its error and the batch goes on. Entries are read,
  profiled and ranked in supervised worker processes (:mod:`advisor.catalog_workers`), so even an
  entry that crashes its process (a segfault in a native reader, an abort, the OOM killer) only fails
  itself: its row says how the worker died, and a re-run tries it again.
- Interruptible: rows are written (atomically) as entries finish, so Ctrl-C leaves finished rows intact;
  it stops the workers at once rather than waiting for their entries. Workers die with the parent,
  even after ``kill -9``.
- Parallel: ``workers`` processes on this machine; ``engine="ray"`` runs the profiling as Ray tasks on an
  existing cluster (``ray_address``) or a local Ray instance.

Example:
    >>> from advisor.catalog import score_catalog
    >>> report = score_catalog("catalog.yaml", out="scores.csv", workers=2)   # doctest: +SKIP
    >>> report.to_frame()[["name", "status", "best_model", "predicted_score"]]  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import pandas as pd

from advisor.catalog_spec import CatalogEntry, parse_entries, read_catalog
from advisor.catalog_workers import CallFailure, WorkerPool, default_context
from advisor.ray_cluster import RAY_INSTALL_HINT, RayUnavailable, import_ray, join_ray
from advisor.report import KEY_HEURISTICS, atomic_write_bytes
from featurizers.profile_types import TaskProfile

if TYPE_CHECKING:  # pragma: no cover
    from advisor.api import Advisor
    from training_runs.store import Store

ENGINES = ("local", "ray")

#: Columns of the output table, in order (key heuristics follow ``key_heuristics``).
ROW_COLUMNS = (
    "name", "status", "dataset", "metric", "best_model", "predicted_score", "interval_low", "interval_high",
    "predicted_base_score", "predicted_lift", "p_beat_gpt4", "p_best", "gpt4_forecast", "expected_regret",
    "verdict", "confidence", "models_to_validate", "runner_up", "task_type", "n_examples", "unique_examples",
    "n_profiled", "warnings",
)
TAIL_COLUMNS = ("reused", "seconds", "fingerprint", "featurizer_version", "predictor_version", "error")


class CatalogEngineError(ValueError):
    """An engine option that cannot work here (unknown engine, Ray missing or unreachable)."""


@dataclass
class CatalogReport:
    """What a catalog run produced: one row per entry that finished (ok or error), in catalog order.

    ``n_scored`` entries were computed now, ``n_reused`` read back from the database (same fingerprint
    and versions), ``n_failed`` failed (recorded with their error).
    """

    rows: list[dict[str, Any]]
    out: Path | None
    n_scored: int
    n_reused: int
    n_failed: int
    elapsed_s: float
    engine: str
    workers: int

    def to_frame(self) -> pd.DataFrame:
        return rows_frame(self.rows)


@dataclass(frozen=True)
class _Job:
    """What a worker needs to score one entry (picklable: goes to processes and Ray tasks)."""

    index: int
    entry: CatalogEntry
    fingerprint: str
    embeddings: bool = False
    #: Threads the featurizer may use; 1 when entries already run in parallel processes.
    profile_workers: int | None = None


@dataclass
class _Outcome:
    index: int
    ok: bool
    row: dict[str, Any]
    profile: dict[str, Any] | None = None
    recommendation: dict[str, Any] | None = None
    error: str | None = None
    traceback: str | None = None


# ----------------------------------------------------------------------------- per-entry work

def load_entry(entry: CatalogEntry) -> Any:
    """The entry's data as a ``featurizers.TaskData`` (lazy: nothing is profiled yet)."""
    import featurizers

    if entry.task_dir:
        return featurizers.load_task_dir(entry.task_dir, metric=entry.metric)
    return featurizers.load_task(entry.dataset, **entry.load_kwargs())


def entry_fingerprint(entry: CatalogEntry, *, embeddings: bool = False) -> str:
    """A hash of the entry's data and of every option that changes its result."""
    data = load_entry(entry)
    spec = {
        "embeddings": embeddings,
        "data": data.fingerprint(),
        "columns": entry.load_kwargs() if not entry.task_dir else {"task_dir": True},
        "sample": entry.sample,
        "base_scores": dict(sorted(entry.base_scores.items())),
        "base_models": list(entry.base_models) if entry.base_models else None,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _shipped_advisor(path: str | None) -> "Advisor":
    """The advisor at ``path``, else ``ADVISOR_MODEL_DIR``, else the artifact shipped in ``models/``."""
    return _load_advisor(path or os.environ.get("ADVISOR_MODEL_DIR") or None)


@lru_cache(maxsize=4)
def _load_advisor(path: str | None) -> "Advisor":
    # One load per process: score_catalog loads it once and hands it to its workers.
    from advisor.api import Advisor

    return Advisor.load(path)


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _result_row(entry: CatalogEntry, profile: Any, rec: Any, key_heuristics: Sequence[str]) -> dict[str, Any]:
    best = rec.best
    row: dict[str, Any] = {
        "name": entry.name, "status": "ok", "dataset": entry.describe(), "metric": rec.metric,
        "best_model": best.base_model, "predicted_score": best.predicted_score,
        "interval_low": best.interval_low, "interval_high": best.interval_high,
        "predicted_base_score": best.predicted_base_score, "predicted_lift": best.predicted_lift,
        "p_beat_gpt4": best.p_beat_gpt4, "p_best": best.p_best, "gpt4_forecast": rec.gpt4.score,
        "expected_regret": rec.expected_regret, "verdict": rec.verdict, "confidence": rec.confidence,
        "models_to_validate": ",".join(rec.models_to_validate),
        "runner_up": rec.forecasts[1].base_model if len(rec.forecasts) > 1 else None,
        "task_type": profile.task_type, "n_examples": profile.n_examples,
        "unique_examples": getattr(profile, "n_unique", None), "n_profiled": profile.n_profiled,
        "warnings": " | ".join(rec.warnings),
    }
    for name in key_heuristics:
        row[name] = _finite(profile.heuristics.get(name))
    return row


def _score_job(job: _Job, advisor: "Advisor", key_heuristics: Sequence[str]) -> _Outcome:
    """Profile and rank one entry; never raises for a bad entry (the error goes into the outcome)."""
    import featurizers

    start = time.perf_counter()
    entry = job.entry
    try:
        data = load_entry(entry)
        profile = featurizers.profile(data, sample=entry.sample, embeddings=job.embeddings,
                                      workers=job.profile_workers)
        rec = advisor.rank(profile, base_models=list(entry.base_models) if entry.base_models else None,
                           base_scores=entry.base_scores or None)
        row = _result_row(entry, profile, rec, key_heuristics)
        row["seconds"] = round(time.perf_counter() - start, 3)
        return _Outcome(job.index, True, row, profile=profile.to_dict(), recommendation=rec.to_dict())
    except Exception as exc:  # noqa: BLE001 - a failing entry is recorded and the batch goes on
        return _failed(job.index, entry, _error_text(exc), trace=traceback.format_exc(),
                       seconds=round(time.perf_counter() - start, 3))


def _failed(index: int, entry: CatalogEntry, error: str, *, trace: str | None = None,
            seconds: float | None = None) -> _Outcome:
    """The outcome of an entry that could not be scored (``trace``: the traceback, kept in the database)."""
    row: dict[str, Any] = {"name": entry.name, "status": "error", "dataset": entry.describe(), "error": error}
    if seconds is not None:
        row["seconds"] = seconds
    return _Outcome(index, False, row, error=error, traceback=trace)


@dataclass(frozen=True)
class _Fingerprint:
    """What fingerprinting an entry gave: its fingerprint, or why its data cannot be read."""

    fingerprint: str | None
    error: str | None = None


def _fingerprint_entry(entry: CatalogEntry, embeddings: bool) -> _Fingerprint:
    try:
        return _Fingerprint(entry_fingerprint(entry, embeddings=embeddings))
    except Exception as exc:  # noqa: BLE001 - unreadable entry: recorded, the batch goes on
        return _Fingerprint(None, _error_text(exc))


def _unreadable_fingerprint(entry: CatalogEntry) -> str:
    """The key under which an entry whose data could not be read is recorded."""
    return "unreadable-" + hashlib.sha256(repr(entry).encode()).hexdigest()[:20]


def _crash_text(failure: CallFailure, doing: str) -> str:
    if failure.crashed:
        return f"crashed while {doing}: {failure.message} (the other entries are not affected)"
    return failure.message


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (ValueError, OSError)):
        text = f"{type(exc).__name__}: {text}"
    return text


# ----------------------------------------------------------------------------- worker-process plumbing

_WORKER_ADVISOR: dict[str, Any] = {}


def _init_pool_worker(advisor: "Advisor | None") -> None:
    # Runs once in each worker process: keeps the (unpickled) advisor for every entry it scores.
    _WORKER_ADVISOR["advisor"] = advisor


def _pool_job(job: _Job, key_heuristics: Sequence[str]) -> _Outcome:
    return _score_job(job, _WORKER_ADVISOR["advisor"], key_heuristics)


# ----------------------------------------------------------------------------- output

def rows_frame(rows: Iterable[dict[str, Any]], key_heuristics: Sequence[str] = KEY_HEURISTICS) -> pd.DataFrame:
    """Rows as a DataFrame with the documented column order (missing values are empty)."""
    columns = list(ROW_COLUMNS) + [h for h in key_heuristics if h not in ROW_COLUMNS] + list(TAIL_COLUMNS)
    frame = pd.DataFrame(list(rows))
    for col in columns:
        if col not in frame.columns:
            frame[col] = None
    extra = [c for c in frame.columns if c not in columns]
    return frame[columns + extra]


def write_rows(rows: Iterable[dict[str, Any]], out: Path, key_heuristics: Sequence[str] = KEY_HEURISTICS) -> None:
    """Write rows to ``out`` as CSV or Parquet (by suffix), atomically (temp file + rename)."""
    frame = rows_frame(rows, key_heuristics)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        data = frame.to_csv(index=False).encode("utf-8")
    elif suffix in (".parquet", ".pq"):
        import io

        buf = io.BytesIO()
        # Mixed None/str columns: store the free-text ones as strings so every run has one schema.
        for col in ("error", "runner_up", "task_type", "best_model", "verdict", "confidence", "dataset"):
            frame[col] = frame[col].astype("string")
        frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        raise ValueError(f"cannot tell the output format from {out.name!r}: use a .csv or .parquet suffix")
    atomic_write_bytes(out, data)


def _check_out(out: str | os.PathLike[str] | None) -> Path | None:
    if out is None:
        return None
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"cannot tell the output format from {out.name!r}: use a .csv or .parquet suffix")
    if out.is_dir():
        raise IsADirectoryError(f"output {out} is a folder; give a file name ending in .csv or .parquet")
    return out


# ----------------------------------------------------------------------------- the batch

def _reused_row(found: dict[str, Any]) -> dict[str, Any] | None:
    result = found.get("result") or {}
    row = result.get("row") if isinstance(result, dict) else None
    if found.get("status") != "ok" or not isinstance(row, dict):
        return None
    return {**row, "reused": True}


def score_catalog(
    catalog_path_or_entries: str | os.PathLike[str] | Sequence[CatalogEntry] | Sequence[dict[str, Any]],
    *,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    store: "Store | None" = None,
    advisor: "Advisor | None" = None,
    advisor_path: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    progress: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    key_heuristics: Sequence[str] = KEY_HEURISTICS,
    embeddings: bool = False,
) -> CatalogReport:
    """Score every task of a catalog; see the module docstring for what it guarantees.

    Args:
        catalog_path_or_entries: a .yaml/.yml/.csv catalog, or entries (CatalogEntry or raw dicts,
            whose relative paths are taken relative to the current folder).
        out: a .csv or .parquet file, rewritten atomically after each finished entry.
        workers: processes for ``engine="local"`` (1 runs in this process).
        store: the results database (default: ``Store.open()``, i.e. ``ADVISOR_DB_URL`` or the embedded file).
        advisor: an Advisor to use (default: the shipped artifact, or ``advisor_path``).
        engine: ``"local"`` or ``"ray"``; ``ray_address`` names an existing cluster (else a local one).
        progress: show a tqdm progress bar on stderr.
        on_row: called with each row as it finishes (the app uses it for live progress).
        embeddings: also compute the embedding-based heuristics (slower; the predictor does not need them).

    Example:
        >>> report = score_catalog("tasks.csv", out="out.parquet", workers=2)  # doctest: +SKIP
        >>> report.n_scored, report.n_reused, report.n_failed                # doctest: +SKIP
        (12, 0, 1)
    """
    start = time.perf_counter()
    if engine not in ENGINES:
        raise CatalogEngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    workers = int(workers)
    if engine == "ray":
        try:
            import_ray()  # fail before any work when Ray is missing
        except RayUnavailable as exc:
            raise CatalogEngineError(str(exc)) from exc
    out_path = _check_out(out)
    if isinstance(catalog_path_or_entries, (str, os.PathLike)):
        entries = read_catalog(catalog_path_or_entries)
    else:
        items = list(catalog_path_or_entries)
        entries = items if all(isinstance(e, CatalogEntry) for e in items) else parse_entries(items, Path.cwd())
    if store is None:
        from training_runs.store import Store

        store = Store.open()
    if getattr(store, "read_only", False):
        from training_runs.errors import StoreError

        raise StoreError(f"the database at {store.display_url} is read-only: scoring a catalog records every "
                         "entry's result; choose a writable database with --url or ADVISOR_DB_URL")
    # Loaded once here and handed to the workers (unpickling it is far quicker than loading it in each).
    adv = advisor if advisor is not None else _shipped_advisor(advisor_path)
    featurizer_version, predictor_version = adv.featurizer_version, adv.predictor_version
    protected_tasks = _study_tasks(store)

    rows: dict[int, dict[str, Any]] = {}
    counts = {"scored": 0, "reused": 0, "failed": 0}
    bar = _progress_bar(len(entries), progress)

    def finish(index: int, row: dict[str, Any]) -> None:
        rows[index] = row
        if out_path is not None:
            write_rows([rows[i] for i in sorted(rows)], out_path, key_heuristics)
        if bar is not None:
            bar.set_postfix_str(f"{row['name']}: {row['status']}", refresh=False)
            bar.update(1)
        if on_row is not None:
            on_row(row)

    def record(job: _Job, outcome: _Outcome) -> None:
        outcome.row.update(fingerprint=job.fingerprint, featurizer_version=featurizer_version,
                           predictor_version=predictor_version, reused=False)
        result = {"row": outcome.row, "profile": outcome.profile, "recommendation": outcome.recommendation,
                  "traceback": outcome.traceback}
        # Kept under the entry's name, so local fine-tuning runs of that task later join their profile.
        keep_profile = outcome.ok and outcome.profile and job.entry.name not in protected_tasks
        store.record_catalog_result(job.entry.name, job.fingerprint, featurizer_version, predictor_version,
                                    "ok" if outcome.ok else "error", _json_safe(result), outcome.error,
                                    task_profile=TaskProfile.from_dict(outcome.profile) if keep_profile else None)
        counts["scored" if outcome.ok else "failed"] += 1
        finish(job.index, outcome.row)

    parallel = engine == "ray" or workers > 1
    jobs: dict[int, _Job] = {}
    # Every entry's data is read in worker processes (reading alone can crash a native parser); entries
    # already scored with the same fingerprint and versions are read back from the database.
    pool = WorkerPool(max(1, min(workers, len(entries))), context=_pool_context(), initializer=_init_pool_worker,
                      initargs=(adv if engine == "local" else None,))
    try:
        with pool:
            for index, entry in enumerate(entries):
                pool.submit(("fingerprint", index), _fingerprint_entry, entry, embeddings)
            for (stage, index), result in pool.completed():
                entry = entries[index]
                if stage == "score":
                    if isinstance(result, CallFailure):
                        result = _failed(index, entry, _crash_text(result, "profiling and ranking it"))
                    record(jobs[index], result)
                    continue
                if isinstance(result, CallFailure) or result.fingerprint is None:
                    error = (_crash_text(result, "reading its data") if isinstance(result, CallFailure)
                             else result.error or "unreadable")
                    record(_Job(index, entry, _unreadable_fingerprint(entry)), _failed(index, entry, error))
                    continue
                found = store.find_catalog_result(entry.name, result.fingerprint, featurizer_version,
                                                  predictor_version)
                reused = _reused_row(found) if found else None
                if reused is not None:
                    counts["reused"] += 1
                    finish(index, reused)
                    continue
                jobs[index] = _Job(index, entry, result.fingerprint, embeddings, 1 if parallel else None)
                if engine == "local":  # scored before the next entry is read, so rows come out early
                    pool.submit(("score", index), _pool_job, jobs[index], tuple(key_heuristics), first=True)
        if engine == "ray":
            _run_ray([jobs[i] for i in sorted(jobs)], adv, key_heuristics, ray_address, record)
    finally:
        if bar is not None:
            bar.close()

    return CatalogReport(
        rows=[rows[i] for i in sorted(rows)], out=out_path, n_scored=counts["scored"], n_reused=counts["reused"],
        n_failed=counts["failed"], elapsed_s=time.perf_counter() - start, engine=engine, workers=workers,
    )


def _study_tasks(store: "Store") -> set[str]:
    """Tasks whose profiles a catalog must not overwrite (the study's reference tasks)."""
    from training_runs.store import LOCAL_CATEGORY

    tasks = store.tasks_frame()
    return set(tasks.loc[tasks["category"] != LOCAL_CATEGORY, "task"])


def _json_safe(value: Any) -> Any:
    """Plain JSON types only: numpy scalars become Python numbers, NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="task", desc="scoring catalog")


#: Modules a fresh worker needs; the fork server imports them once, so each worker starts in milliseconds.
_WORKER_PRELOAD = ["advisor.catalog", "advisor.api", "featurizers"]


def _pool_context() -> multiprocessing.context.BaseContext:
    return default_context(_WORKER_PRELOAD)


def _ray_score(job: _Job, advisor: "Advisor", key_heuristics: Sequence[str]) -> _Outcome:
    return _score_job(job, advisor, key_heuristics)


def _run_ray(jobs: list[_Job], advisor: "Advisor", key_heuristics: Sequence[str], ray_address: str | None,
             record: Callable[[_Job, _Outcome], None]) -> None:
    try:
        ray, started_here = join_ray(ray_address)
    except RayUnavailable as exc:
        raise CatalogEngineError(str(exc)) from exc
    try:
        if not jobs:
            return
        remote = ray.remote(_ray_score)
        advisor_ref = ray.put(advisor)
        pending = {remote.remote(job, advisor_ref, tuple(key_heuristics)): job for job in jobs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a task or worker crashed
                        outcome = _failed(job.index, job.entry, _error_text(exc))
                    record(job, outcome)
        finally:
            for ref in pending:
                ray.cancel(ref)
    finally:
        if started_here:
            ray.shutdown()


def row_dicts(report: CatalogReport) -> list[dict[str, Any]]:
    """The report's rows as plain dicts (JSON-safe), e.g. for ``--json`` output."""
    return [_json_safe(r) for r in report.rows]


__all__ = [
    "CatalogEngineError", "CatalogEntry", "CatalogReport", "ENGINES", "RAY_INSTALL_HINT", "entry_fingerprint",
    "read_catalog", "rows_frame", "row_dicts", "score_catalog", "write_rows",
]
