"""The zero-shot probe: measure each base model's zero-shot score on a seeded sample of the user's task.

The advisor forecasts a fine-tuned score best when it knows each base model's zero-shot score on the task
(leave-one-task-out: lift error 0.112 with measured base scores, against 0.201 without; see the README).
:func:`probe_zero_shot` measures them the way the study did: greedy decoding of ``n`` held-out-style prompts
(a seeded sample), batched and left-padded as the QLoRA runner evaluates, scored with the task's metric, and
records each as a ``zero-shot`` run whose provenance names the probe. Feed the scores to the advisor with
``Advisor.rank(data, base_scores=scores_by_model(results))``.

Example:
    >>> results = probe_zero_shot(task, {"smollm2-135m-instruct": "/models/smollm2"}, n=200)  # doctest: +SKIP
    >>> results[0].base_model, round(results[0].score, 3), results[0].metric                 # doctest: +SKIP
    ('smollm2-135m-instruct', 0.415, 'exact_match')
"""
from __future__ import annotations

import datetime as dt
import os
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Provenance prefix of the runs the probe records.
PROBE_PROVENANCE = "probe-zero-shot"


@dataclass(frozen=True)
class ProbeResult:
    """One base model's measured zero-shot score on ``n`` sampled examples of ``task``.

    ``metric`` is the registered metric that scored it, ``metric_name`` the name recorded (the task's, e.g.
    ``accuracy``); ``run_id`` is the store row (None when not recorded); ``provenance`` is shared by every
    model of one probe call.
    """

    base_model: str
    source: str
    task: str
    score: float
    metric: str
    metric_name: str
    n: int
    seconds: float
    device: str
    quantized: bool
    max_new_tokens: int
    n_truncated: int
    seed: int
    provenance: str
    run_id: int | None = None
    predictions: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (predictions left out)."""
        data = asdict(self)
        data.pop("predictions")
        return data


def probe_zero_shot(
    task_data: Any,
    models: Mapping[str, str | os.PathLike[str]],
    *,
    n: int = 200,
    seed: int = 0,
    store: Any = None,
    device: str | None = None,
    quantize: bool = False,
    batch_size: int = 8,
    max_seq_length: int = 1024,
    max_new_tokens: int | None = None,
    task: str | None = None,
    metric: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ProbeResult]:
    """Measure the zero-shot score of each ``{name: path_or_hf_id}`` model on ``n`` sampled examples.

    ``task_data``: a ``tasks.TaskData`` or (prompt, completion) pairs. The sample is seeded (``seed``) and the
    same for every model; ``n`` larger than the data takes all of it. ``metric``: default the TaskData's,
    else inferred from the completions. ``store``: a ``training_runs.store.Store`` to record ``zero-shot``
    runs in (all models of the call in one transaction, after every model is measured); None records nothing.
    ``device``: ``cpu``/``cuda`` (default: CUDA when available); ``quantize`` loads in 4-bit (CUDA only).
    ``max_new_tokens``: default the longest completion of the data plus EOS (as the runner). ``progress`` is
    called with a line per model.

    Raises ``ValueError`` subclasses for bad arguments, an unknown metric, a model that cannot be found
    offline (checked for every model before any is loaded) or data too small.
    """
    from advisor.model_sources import resolve_model_sources
    from advisor.rungs import RungSpec, measure_rung
    from tasks.metrics import get_metric, infer_metric
    from training_runs.qlora import QLoRAConfig
    from training_runs.qlora.data import examples_from, fingerprint_examples

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of examples, got {n!r}")
    if not models:
        raise ValueError("no base models to probe: give at least one NAME=PATH")
    examples = examples_from(task_data)
    if not examples:
        raise ValueError("the dataset has no examples to probe on")
    metric_name = metric or getattr(task_data, "metric", None) or infer_metric([c for _, c in examples])
    scorer = get_metric(metric_name)
    task_name = task or getattr(task_data, "name", None) or f"local-{fingerprint_examples(examples)[:10]}"
    sources = resolve_model_sources(list(models), {k: os.fspath(v) for k, v in models.items()}, option="--base-model")
    picked = sorted(random.Random(seed).sample(range(len(examples)), min(n, len(examples))))
    sample = tuple(examples[i] for i in picked)
    config = QLoRAConfig(load_in_4bit=quantize, device=device, eval_batch_size=batch_size,
                         max_seq_length=max_seq_length, **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}))
    longest = max_new_tokens or None
    provenance = f"{PROBE_PROVENANCE}-{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    results: list[ProbeResult] = []
    for name, source in sources.items():
        spec = RungSpec(base_model=name, source=source, rung=0, fraction=0.0, train_pairs=(), eval_pairs=sample,
                        metric=scorer.name, config=config, max_new_tokens=longest or _longest(examples, source),
                        measure_loss=False)
        measured = measure_rung(spec)
        results.append(ProbeResult(
            base_model=name, source=source, task=task_name, score=measured.score, metric=measured.metric,
            metric_name=metric_name, n=measured.n_eval, seconds=measured.seconds, device=measured.device,
            quantized=measured.quantized, max_new_tokens=measured.max_new_tokens, n_truncated=measured.n_truncated,
            seed=seed, provenance=provenance, predictions=measured.predictions,
        ))
        if progress is not None:
            progress(f"{name}: zero-shot {measured.metric} {measured.score:.3f} on {measured.n_eval} examples "
                     f"({measured.seconds:.1f}s)")
    if store is not None:
        ids = store.record_runs([_run_row(r, config) for r in results])
        results = [_with_run_id(r, run_id) for r, run_id in zip(results, ids, strict=True)]
    return results


def scores_by_model(results: list[ProbeResult]) -> dict[str, float]:
    """``{base_model: score}``, the form ``Advisor.rank(..., base_scores=...)`` takes.

    Example:
        >>> scores_by_model([])
        {}
    """
    return {r.base_model: r.score for r in results}


def _longest(examples: list[tuple[str, str]], source: str) -> int:
    """Tokens of the longest completion (plus EOS), with the model's own tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    return max(len(tokenizer(c, add_special_tokens=False)["input_ids"]) + 1 for _, c in examples[:5000])


def _run_row(result: ProbeResult, config: Any) -> dict[str, Any]:
    return {
        "task": result.task, "base_model": result.base_model, "kind": "zero-shot", "score": result.score,
        "metric": result.metric_name, "provenance": result.provenance, "wall_time_s": result.seconds,
        "hyperparameters": {"probe": "advisor.probes.probe_zero_shot", "n": result.n, "seed": result.seed,
                            "source": result.source, "max_new_tokens": result.max_new_tokens,
                            "max_seq_length": config.max_seq_length, "quantized": result.quantized,
                            "decoding": "greedy"},
        "metrics": {"metric": result.metric, "n_eval": result.n, "n_truncated": result.n_truncated,
                    "device": result.device},
    }


def _with_run_id(result: ProbeResult, run_id: int) -> ProbeResult:
    from dataclasses import replace

    return replace(result, run_id=int(run_id))
