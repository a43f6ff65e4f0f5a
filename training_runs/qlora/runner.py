"""``run_qlora``: fine-tune a base model on a task, evaluate base and fine-tuned, save and record the run.

Steps: read the (prompt, completion) pairs; split off ``eval_size`` held-out examples; load the base
model (4-bit NF4 on CUDA, or plain LoRA with ``load_in_4bit=False``); score the base model zero-shot on the
held-out prompts; train the LoRA adapter (resuming from ``output_dir``'s checkpoint when one exists for the
same run); score the fine-tuned model on the same prompts; save the adapter (see
:mod:`training_runs.qlora.adapters` for the layout); record both scores in the store in one
transaction; delete the checkpoint. Nothing is recorded and no adapter is left behind if a step fails;
the checkpoint stays, so rerunning the same call resumes. A run killed at any point resumes or starts
cleanly when rerun: killed while training, it resumes from its last checkpoint; killed after saving its
adapter, the adapter of the same run is replaced; killed after recording, before deleting its checkpoint,
the rerun finds the run recorded and returns it (``already_recorded``) without training or evaluating.
Where the adapters and checkpoints go is checked before the model is loaded.

Example:
    >>> from training_runs.tiny_model import write_tiny_model                 # doctest: +SKIP
    >>> pairs = [(f"{a}+{a}=", str(2 * a)) for a in range(200)]               # doctest: +SKIP
    >>> result = run_qlora(pairs, write_tiny_model("/tmp/tiny"),              # doctest: +SKIP
    ...                    QLoRAConfig.plain_lora(max_steps=20, eval_size=20), task="doubling")
    >>> result.base_score, result.finetuned_score, result.lift                # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from models.registry import load_registry, lookup, target_modules_for
from tasks.metrics import get_metric, infer_metric
from training_runs.qlora import adapters as adapter_layout
from training_runs.qlora.checkpoint import clear_leftovers, load_checkpoint, remove_checkpoint
from training_runs.qlora.config import QLoRAConfig
from training_runs.qlora.data import (
    examples_from,
    fingerprint_examples,
    split_examples,
    tokenize_for_training,
    tokenize_prompts,
)
from training_runs.qlora.errors import QLoRAError, TrainingOutOfMemoryError
from training_runs.qlora.evaluation import evaluate
from training_runs.qlora.modeling import base_model_name as default_model_name
from training_runs.qlora.modeling import check_quantization, load_model, prepare_for_training, resolve_device
from training_runs.qlora.paths import check_writable_dir, default_runs_root
from training_runs.qlora.recording import RunStore, record_result, recorded_rows
from training_runs.qlora.training import StepInfo, autocast_for, train_adapter


@dataclass(frozen=True)
class RunResult:
    """What one fine-tuning run measured.

    ``metric`` is the registered metric that scored it; ``metric_name`` the name it is recorded under
    (the study's name when one was given, e.g. ``accuracy``). Scores are on the held-out split;
    ``lift = finetuned_score - base_score``. ``train_tokens_per_s`` counts real (non-padding) training
    tokens per second of training time (sessions before a resume included); ``peak_gpu_memory_gb`` is
    None on CPU. ``record_ids`` are the store's row ids (fine-tuned, zero-shot), None without a store.
    """

    run_id: str
    task: str
    base_model: str
    metric: str
    metric_name: str
    base_score: float
    finetuned_score: float
    lift: float
    wall_time_s: float
    train_time_s: float
    train_tokens: int
    train_tokens_per_s: float
    peak_gpu_memory_gb: float | None
    adapter_dir: Path | None
    output_dir: Path
    n_train: int
    n_eval: int
    n_truncated_train: int
    n_truncated_eval: int
    steps: int
    resumed_from_step: int
    final_loss: float | None
    device: str
    quantized: bool
    config: dict[str, Any]
    base_predictions: tuple[str, ...] = ()
    finetuned_predictions: tuple[str, ...] = ()
    record_ids: tuple[int, int] | None = None
    already_recorded: bool = False

    @property
    def n_truncated(self) -> int:
        """Examples cut to fit ``max_seq_length`` (training sequences plus evaluation prompts)."""
        return self.n_truncated_train + self.n_truncated_eval

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (paths as strings, predictions left out)."""
        data = asdict(self)
        data.pop("base_predictions")
        data.pop("finetuned_predictions")
        data["adapter_dir"] = str(self.adapter_dir) if self.adapter_dir else None
        data["output_dir"] = str(self.output_dir)
        data["n_truncated"] = self.n_truncated
        return data


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return "-".join(part for part in out.split("-") if part)[:40] or "x"


def _new_run_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _oom_error(config: QLoRAConfig, exc: BaseException) -> TrainingOutOfMemoryError:
    hints = [f"per_device_batch_size={config.per_device_batch_size} (--batch-size; raise "
             "gradient_accumulation_steps to keep the effective batch)",
             f"max_seq_length={config.max_seq_length} (--max-seq-length)",
             f"eval_batch_size={config.eval_batch_size}"]
    if not config.gradient_checkpointing:
        hints.append("turn on gradient checkpointing (--gradient-checkpointing)")
    if not config.load_in_4bit:
        hints.append("load the model in 4-bit (drop --no-quantize)")
    return TrainingOutOfMemoryError(
        f"the GPU ran out of memory ({str(exc).splitlines()[0][:160]}); lower " + "; ".join(hints)
    )


def _peak_gb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def run_qlora(
    task_data: Any,
    base_model: str | os.PathLike[str],
    config: QLoRAConfig | None = None,
    *,
    task: str | None = None,
    metric: str | None = None,
    base_model_name: str | None = None,
    store: RunStore | None = None,
    progress: bool = False,
    on_step: Callable[[StepInfo], None] | None = None,
) -> RunResult:
    """Fine-tune ``base_model`` on ``task_data`` with ``config`` (default: the study's recipe); see the module doc.

    ``task_data``: a ``featurizers.TaskData`` or plain (prompt, completion) pairs. ``base_model``: a local
    model directory or a Hugging Face id available offline. ``task``: the name recorded (default: the
    TaskData's name, else ``local-<data hash>``). ``metric``: a registered or study metric name (default:
    the TaskData's ``metric``, else inferred from the completions, see :func:`~tasks.metrics.infer_metric`).
    ``base_model_name``: the name the base model is recorded under (default: the Hugging Face id, or the
    local directory's name; give the registry name, e.g. ``mistral-7b``, for a local copy; it also picks
    the registry's LoRA targets when ``config.target_modules`` is None). ``store``: a
    ``training_runs.store.Store`` to record in (None: not recorded). ``progress``: print a progress line per
    step to stderr. ``on_step``: called after every optimizer step.
    """
    config = config or QLoRAConfig()
    began = time.perf_counter()
    examples = examples_from(task_data)
    data_hash = fingerprint_examples(examples)
    task = task or getattr(task_data, "name", None) or f"local-{data_hash[:10]}"
    metric_name = metric or getattr(task_data, "metric", None) or infer_metric([c for _, c in examples])
    scorer = get_metric(metric_name)  # unknown or unsupported metrics fail before any work
    train_pairs, eval_pairs = split_examples(examples, config.eval_size, config.seed)
    device = resolve_device(config)
    check_quantization(config, device)

    model_name = base_model_name or default_model_name(base_model)
    if config.target_modules is None:
        config = config.replace(target_modules=default_target_modules(base_model, model_name))
    adapters_root = adapter_layout.check_adapters_root(
        config.adapters_dir if config.adapters_dir else adapter_layout.default_adapters_root()
    )
    fingerprint = hashlib.sha256(
        json.dumps([config.training_fingerprint(), data_hash, os.fspath(base_model)]).encode()
    ).hexdigest()
    output_dir = Path(config.output_dir) if config.output_dir else (
        default_runs_root() / f"{_slug(task)}-{_slug(model_name)}-{fingerprint[:12]}"
    )
    check_writable_dir(output_dir, "the output directory", "--output-dir")
    resume = load_checkpoint(output_dir)
    if resume is not None:
        resume.check_matches(fingerprint)
    run_id = resume.run_id if resume is not None else _new_run_id()
    if resume is not None and store is not None:
        done = recorded_result(store, run_id, task, output_dir)
        if done is not None:  # killed after recording, before the checkpoint was deleted
            remove_checkpoint(output_dir)
            return done
    clear_leftovers(output_dir)
    name = config.adapter_name or adapter_layout.default_adapter_name(task, model_name, run_id)
    adapter_layout.check_name_free(adapters_root, name, run_id)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        loaded = load_model(base_model, config, device)
        tokenizer = loaded.tokenizer
        max_length = min(config.max_seq_length, loaded.context_length or config.max_seq_length)
        train_set, n_cut_train = tokenize_for_training(train_pairs, tokenizer, max_length, config.truncation)
        longest_completion = max(ex.n_completion_tokens for ex in train_set)
        max_new_tokens = max(1, min(config.max_new_tokens, longest_completion))
        if max_new_tokens >= max_length:
            raise QLoRAError(f"max_seq_length={max_length} leaves no room for prompts after {max_new_tokens} "
                             "generated tokens; raise max_seq_length or lower max_new_tokens")
        eval_prompts, n_cut_eval = tokenize_prompts(
            [p for p, _ in eval_pairs], tokenizer, max_length - max_new_tokens, config.truncation
        )
        references = [c for _, c in eval_pairs]
        model = prepare_for_training(loaded.model, config, quantized=loaded.quantized)

        def autocast() -> Any:
            return autocast_for(config, device)

        with model.disable_adapter():
            base = evaluate(model, tokenizer, eval_prompts, references, scorer.name,
                            batch_size=config.eval_batch_size, max_new_tokens=max_new_tokens, autocast=autocast)

        def report(info: StepInfo) -> None:
            if progress:
                print(f"step {info.step}/{info.max_steps} loss {info.loss:.4f} lr {info.learning_rate:.2e}",
                      file=sys.stderr, flush=True)
            if on_step is not None:
                on_step(info)

        stats = train_adapter(
            model, train_set, config, pad_id=tokenizer.pad_token_id, output_dir=output_dir, run_id=run_id,
            fingerprint=fingerprint, resume=resume, on_step=report,
        )
        tuned = evaluate(model, tokenizer, eval_prompts, references, scorer.name,
                         batch_size=config.eval_batch_size, max_new_tokens=max_new_tokens, autocast=autocast)
    except torch.OutOfMemoryError as exc:
        raise _oom_error(config, exc) from exc

    result = RunResult(
        run_id=run_id, task=task, base_model=model_name, metric=scorer.name, metric_name=metric_name,
        base_score=base.score, finetuned_score=tuned.score, lift=tuned.score - base.score,
        wall_time_s=time.perf_counter() - began, train_time_s=stats.train_time_s, train_tokens=stats.train_tokens,
        train_tokens_per_s=stats.tokens_per_s, peak_gpu_memory_gb=_peak_gb(device), adapter_dir=None,
        output_dir=output_dir, n_train=len(train_set), n_eval=len(eval_pairs), n_truncated_train=n_cut_train,
        n_truncated_eval=n_cut_eval, steps=config.max_steps, resumed_from_step=stats.start_step,
        final_loss=stats.final_loss, device=str(device), quantized=loaded.quantized,
        config={**config.to_dict(), "max_seq_length_used": max_length, "max_new_tokens_used": max_new_tokens},
        base_predictions=base.predictions, finetuned_predictions=tuned.predictions,
    )
    adapter_dir = adapter_layout.save_adapter(model, adapters_root, name, {
        "run_id": run_id, "base_model": model_name, "base_model_path": os.fspath(base_model), "task": task,
        "metric": scorer.name, "metric_name": metric_name, "base_score": base.score,
        "finetuned_score": tuned.score, "lift": tuned.score - base.score,
    })
    result = _replace(result, adapter_dir=adapter_dir)
    if store is not None:
        try:
            result = _replace(result, record_ids=record_result(store, result))
        except BaseException:
            adapter_layout.remove_adapter(adapter_dir)
            raise
    remove_checkpoint(output_dir)
    return result


def default_target_modules(base_model: str | os.PathLike[str], model_name: str) -> tuple[str, ...]:
    """The LoRA targets when the config names none: the registry's for ``model_name`` or the Hugging Face id
    ``base_model``, else the registry's for the architecture in a local model's ``config.json``, else the
    study's ``q_proj``/``v_proj``.

    Example:
        >>> default_target_modules("microsoft/phi-4", "phi-4")
        ('qkv_proj',)
    """
    registry = load_registry()
    for name in (model_name, os.fspath(base_model)):
        info = lookup(name, registry)
        if info is not None and info.lora_target_modules:
            return info.lora_target_modules
    config_file = Path(os.fspath(base_model)).expanduser() / "config.json"
    try:
        architecture = json.loads(config_file.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        architecture = None
    return target_modules_for(None, architecture=architecture, registry=registry)


def recorded_result(store: RunStore, run_id: str, task: str, output_dir: Path) -> RunResult | None:
    """The run ``run_id`` on ``task`` as recorded in ``store`` (both rows present), else None."""
    rows = recorded_rows(store, run_id, task)
    if set(rows) != {"qlora", "zero-shot"}:
        return None
    tuned, base = rows["qlora"], rows["zero-shot"]
    figures = tuned["metrics"]
    adapter = figures.get("adapter_dir")
    return RunResult(
        run_id=run_id, task=task, base_model=str(tuned["model"]), metric=str(figures.get("metric", tuned["metric"])),
        metric_name=str(tuned["metric"]), base_score=float(base["score"]), finetuned_score=float(tuned["score"]),
        lift=float(tuned["score"]) - float(base["score"]), wall_time_s=_number(tuned["wall_time_s"]),
        train_time_s=_number(figures.get("train_time_s")), train_tokens=int(figures.get("train_tokens") or 0),
        train_tokens_per_s=_number(tuned["tokens_per_s"]), peak_gpu_memory_gb=_optional(tuned["peak_memory_gb"]),
        adapter_dir=Path(adapter) if adapter else None, output_dir=output_dir,
        n_train=int(figures.get("n_train") or 0), n_eval=int(figures.get("n_eval") or 0),
        n_truncated_train=int(figures.get("n_truncated_train") or 0),
        n_truncated_eval=int(figures.get("n_truncated_eval") or 0), steps=int(figures.get("steps") or 0),
        resumed_from_step=int(figures.get("resumed_from_step") or 0), final_loss=_optional(figures.get("final_loss")),
        device=str(figures.get("device", "")), quantized=bool(figures.get("quantized", False)),
        config=dict(tuned["hyperparameters"]), record_ids=(int(tuned["run_id"]), int(base["run_id"])),
        already_recorded=True,
    )


def _optional(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: a missing figure


def _number(value: Any) -> float:
    return _optional(value) or 0.0


def _replace(result: RunResult, **changes: Any) -> RunResult:
    import dataclasses

    return dataclasses.replace(result, **changes)
