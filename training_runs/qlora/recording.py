"""Recording a finished run in the results database: the fine-tuned score and the zero-shot base score.

Both rows carry the same provenance (the local run id), so the pair can be joined back up, and they are
written in one transaction (``Store.record_runs``): a failure or a kill while recording leaves neither.
The fine-tuned row carries the base score, the lift and the run's figures in its ``metrics`` too.
Recording is idempotent per run id: kinds already recorded under it are not written again, so a re-run
after an interruption between recording and clean-up never duplicates nor fails.

Example:
    >>> from training_runs.store import Store                                  # doctest: +SKIP
    >>> ids = record_result(Store.open("sqlite:///runs.db"), result)           # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

#: The kinds of the two rows a fine-tuning run records.
RECORDED_KINDS = ("qlora", "zero-shot")


class RunStore(Protocol):
    """What the runner needs of ``training_runs.store.Store``."""

    def record_runs(self, runs: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def runs_frame(self, kinds: Any = None) -> Any: ...


def recorded_rows(store: RunStore, run_id: str, task: str) -> dict[str, dict[str, Any]]:
    """The rows already recorded for run ``run_id`` on ``task``, by kind (``qlora``, ``zero-shot``)."""
    runs = store.runs_frame(kinds=list(RECORDED_KINDS))
    mine = runs[(runs["provenance"] == run_id) & (runs["task"] == task)]
    return {row["kind"]: row for row in mine.to_dict("records")}


def result_metrics(result: Any) -> dict[str, Any]:
    """The figures of a :class:`~training_runs.qlora.runner.RunResult` kept in its ``qlora`` row's ``metrics``."""
    return {
        "base_score": result.base_score,
        "finetuned_score": result.finetuned_score,
        "lift": result.lift,
        "metric": result.metric,
        "n_train": result.n_train,
        "n_eval": result.n_eval,
        "n_truncated_train": result.n_truncated_train,
        "n_truncated_eval": result.n_truncated_eval,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "train_tokens": result.train_tokens,
        "train_time_s": result.train_time_s,
        "final_loss": result.final_loss,
        "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
        "output_dir": str(result.output_dir),
        "device": result.device,
        "quantized": result.quantized,
    }


def record_result(store: RunStore, result: Any, *, task_category: str = "local") -> tuple[int, int]:
    """Record ``result`` (a :class:`~training_runs.qlora.runner.RunResult`) as a ``qlora`` and a
    ``zero-shot`` run in one transaction; return their row ids (fine-tuned, zero-shot).

    A kind already recorded under the run's id (by an interrupted earlier attempt) keeps its row.
    """
    common = {
        "task": result.task,
        "base_model": result.base_model,
        "metric": result.metric_name,
        "provenance": result.run_id,
        "hyperparameters": result.config,
        "task_category": task_category,
    }
    rows = {
        "qlora": dict(kind="qlora", score=result.finetuned_score, wall_time_s=result.wall_time_s,
                      tokens_per_s=result.train_tokens_per_s, peak_memory_gb=result.peak_gpu_memory_gb,
                      metrics=result_metrics(result), **common),
        "zero-shot": dict(kind="zero-shot", score=result.base_score,
                          metrics={"metric": result.metric, "n_eval": result.n_eval}, **common),
    }
    already = recorded_rows(store, result.run_id, result.task)
    missing = [kind for kind in RECORDED_KINDS if kind not in already]
    ids = dict(zip(missing, store.record_runs([rows[kind] for kind in missing])))
    ids.update({kind: int(row["run_id"]) for kind, row in already.items()})
    return ids["qlora"], ids["zero-shot"]
