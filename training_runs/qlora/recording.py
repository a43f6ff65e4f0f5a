"""Recording a finished run in the results database: the fine-tuned score and the zero-shot base score.

Both rows carry the same provenance (the local run id), so the pair can be joined back up. The
fine-tuned row is written first and carries the base score and lift in its ``metrics`` too, so it stands
on its own should the database fail between the two writes.

Example:
    >>> from training_runs.store import Store                                  # doctest: +SKIP
    >>> ids = record_result(Store.open("sqlite:///runs.db"), result)           # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, Protocol


class RunStore(Protocol):
    """What the runner needs of ``training_runs.store.Store``."""

    def record_run(self, **kwargs: Any) -> int: ...


def record_result(store: RunStore, result: Any, *, task_category: str = "local") -> tuple[int, int]:
    """Record ``result`` (a :class:`~training_runs.qlora.runner.RunResult`) as a ``qlora`` and a
    ``zero-shot`` run; return their row ids (fine-tuned, zero-shot)."""
    common = {
        "task": result.task,
        "base_model": result.base_model,
        "metric": result.metric_name,
        "provenance": result.run_id,
        "hyperparameters": result.config,
        "task_category": task_category,
    }
    metrics = {
        "base_score": result.base_score,
        "finetuned_score": result.finetuned_score,
        "lift": result.lift,
        "metric": result.metric,
        "n_train": result.n_train,
        "n_eval": result.n_eval,
        "n_truncated_train": result.n_truncated_train,
        "n_truncated_eval": result.n_truncated_eval,
        "steps": result.steps,
        "train_tokens": result.train_tokens,
        "final_loss": result.final_loss,
        "adapter_dir": str(result.adapter_dir) if result.adapter_dir else None,
        "device": result.device,
        "quantized": result.quantized,
    }
    finetuned_id = store.record_run(
        kind="qlora", score=result.finetuned_score, wall_time_s=result.wall_time_s,
        tokens_per_s=result.train_tokens_per_s, peak_memory_gb=result.peak_gpu_memory_gb, metrics=metrics, **common,
    )
    zero_shot_id = store.record_run(
        kind="zero-shot", score=result.base_score, metrics={"metric": result.metric, "n_eval": result.n_eval},
        **common,
    )
    return finetuned_id, zero_shot_id
