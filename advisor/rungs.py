"""One measurement of a base model on a task: zero-shot, or after LoRA fine-tuning on a training subset.

A *rung* is what a learning-curve probe measures at one training-set size: the base model is loaded, a
fresh LoRA adapter is trained on ``train_pairs`` (none for the zero-shot rung), and the model is measured on
the held-out ``eval_pairs``: the held-out loss (mean cross-entropy per completion token, the quantity the
scaling law describes) and the task score (greedy decoding, scored with the task's metric). Everything is
composed from ``training_runs.qlora``'s public pieces, so a rung trains and decodes exactly as
``advisor finetune`` does. A rung is self-contained (its spec holds the data), so it can run as a Ray task.

Example:
    >>> spec = RungSpec(base_model="tiny", source="/tmp/tiny", rung=0, fraction=0.0, train_pairs=(),  # doctest: +SKIP
    ...                 eval_pairs=(("2+2=", "4"),), metric="exact_match", config=QLoRAConfig.plain_lora())
    >>> measure_rung(spec).score                                                                      # doctest: +SKIP
"""
from __future__ import annotations

import gc
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

#: Completion tokens are scored in batches of this many sequences when measuring the held-out loss.
LOSS_BATCH_SIZE = 8


@dataclass(frozen=True)
class RungSpec:
    """What to measure: ``base_model`` (the name recorded) loaded from ``source`` (a local directory or a
    Hugging Face id in the local cache), trained ``config.max_steps`` steps on ``train_pairs`` (empty: the
    zero-shot rung), measured on ``eval_pairs`` with ``metric``. ``max_new_tokens`` caps greedy decoding
    (None: the longest training completion, as the runner does). ``measure_loss=False`` skips the held-out
    loss (the zero-shot probe needs the score only). ``chat_template``: wrap each evaluation prompt as one user
    turn of the model's chat template (an instruction-tuned model's own format; models without a template
    read the plain prompt), which is how such a model is used zero-shot. ``answer_room``: extra new tokens
    beyond the longest completion, so a model that answers in a sentence ("The answer is 42.") is not cut
    off before its answer."""

    base_model: str
    source: str
    rung: int
    fraction: float
    train_pairs: tuple[tuple[str, str], ...]
    eval_pairs: tuple[tuple[str, str], ...]
    metric: str
    config: Any
    max_new_tokens: int | None = None
    measure_loss: bool = True
    chat_template: bool = False
    answer_room: int = 0


@dataclass(frozen=True)
class RungMeasurement:
    """What one rung measured. ``eval_loss`` is None when the spec did not ask for it; ``train_loss`` is the
    last step's loss (None at the zero-shot rung); ``worker_pid`` is the process that measured it (a Ray
    worker's, with the ray engine)."""

    base_model: str
    rung: int
    fraction: float
    n_train: int
    n_eval: int
    steps: int
    eval_loss: float | None
    score: float
    metric: str
    train_loss: float | None
    seconds: float
    device: str
    quantized: bool
    n_truncated: int
    max_new_tokens: int
    worker_pid: int = 0
    predictions: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (predictions left out)."""
        data = asdict(self)
        data.pop("predictions")
        return data


def measure_rung(spec: RungSpec) -> RungMeasurement:
    """Load the base model, fine-tune a fresh LoRA adapter on the spec's subset (if any) and measure it.

    Raises the runner's errors (``training_runs.qlora.QLoRAError`` subclasses, ``ValueError``s) for a model
    that cannot be loaded, prompts that do not fit, or a GPU out of memory.
    """
    import torch

    from tasks.metrics import get_metric
    from training_runs.qlora.data import tokenize_for_training, tokenize_prompts
    from training_runs.qlora.evaluation import evaluate
    from training_runs.qlora.modeling import load_model, prepare_for_training, resolve_device
    from training_runs.qlora.training import autocast_for, train_adapter

    began = time.perf_counter()
    config = with_lora_targets(spec.config, spec.source, spec.base_model)
    scorer = get_metric(spec.metric)
    device = resolve_device(config)
    loaded = load_model(spec.source, config, device)
    try:
        tokenizer = loaded.tokenizer
        max_length = min(config.max_seq_length, loaded.context_length or config.max_seq_length)
        max_new_tokens = spec.max_new_tokens or _longest_completion(spec.train_pairs or spec.eval_pairs, tokenizer)
        max_new_tokens = max(1, min(max_new_tokens + max(0, spec.answer_room), config.max_new_tokens, max_length - 1))
        prompts = [p for p, _ in spec.eval_pairs]
        if spec.chat_template:
            prompts = [as_chat_prompt(tokenizer, p) for p in prompts]
        eval_prompts, n_cut = tokenize_prompts(prompts, tokenizer, max_length - max_new_tokens, config.truncation)
        references = [c for _, c in spec.eval_pairs]
        eval_sequences = None
        if spec.measure_loss:
            eval_sequences, n_cut_loss = tokenize_for_training(list(spec.eval_pairs), tokenizer, max_length,
                                                               config.truncation)
            n_cut += n_cut_loss

        def autocast() -> Any:
            return autocast_for(config, device)

        model = loaded.model
        steps, train_loss = 0, None
        if spec.train_pairs:
            train_set, n_cut_train = tokenize_for_training(list(spec.train_pairs), tokenizer, max_length,
                                                           config.truncation)
            n_cut += n_cut_train
            model = prepare_for_training(model, config, quantized=loaded.quantized)
            stats = train_adapter(model, train_set, config, pad_id=tokenizer.pad_token_id, output_dir=None,
                                  run_id=f"rung-{spec.rung}", fingerprint="", on_step=None)
            steps, train_loss = stats.steps, stats.final_loss
        evaluation = evaluate(model, tokenizer, eval_prompts, references, scorer.name,
                              batch_size=config.eval_batch_size, max_new_tokens=max_new_tokens, autocast=autocast)
        eval_loss = held_out_loss(model, eval_sequences, tokenizer.pad_token_id, autocast) \
            if eval_sequences is not None else None
    except torch.OutOfMemoryError as exc:
        from training_runs.qlora.errors import TrainingOutOfMemoryError

        raise TrainingOutOfMemoryError(
            f"the GPU ran out of memory measuring {spec.base_model} on {len(spec.train_pairs)} examples; lower "
            "the batch size (--batch-size), the sequence length (--max-seq-length) or use --gradient-checkpointing"
        ) from exc
    finally:
        del loaded
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return RungMeasurement(
        base_model=spec.base_model, rung=spec.rung, fraction=spec.fraction, n_train=len(spec.train_pairs),
        n_eval=len(spec.eval_pairs), steps=steps, eval_loss=eval_loss, score=float(evaluation.score),
        metric=scorer.name, train_loss=train_loss, seconds=time.perf_counter() - began, device=str(device),
        quantized=bool(config.load_in_4bit), n_truncated=n_cut, max_new_tokens=max_new_tokens,
        worker_pid=os.getpid(), predictions=evaluation.predictions,
    )


def held_out_loss(model: Any, sequences: Any, pad_id: int, autocast: Any = None) -> float:
    """Mean next-token cross-entropy over the completion tokens (and EOS) of tokenized held-out sequences.

    Every completion token weighs the same, however the sequences are batched.
    """
    import contextlib

    import torch

    from training_runs.qlora.data import IGNORE_INDEX, collate_training
    from training_runs.qlora.training import completion_loss_sum

    device = model.get_input_embeddings().weight.device
    total, n_tokens = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            ordered = sorted(sequences, key=len)
            for start in range(0, len(ordered), LOSS_BATCH_SIZE):
                batch = collate_training(ordered[start : start + LOSS_BATCH_SIZE], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                with autocast() if autocast else contextlib.nullcontext():
                    total += float(completion_loss_sum(model, batch))
                n_tokens += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    finally:
        model.train(was_training)
    if n_tokens == 0:
        raise ValueError("the held-out examples have no completion tokens to measure a loss on")
    return total / n_tokens


def as_chat_prompt(tokenizer: Any, prompt: str) -> str:
    """``prompt`` as one user turn of the tokenizer's chat template, ready for the assistant's answer; the
    plain prompt when the tokenizer has no template.

    Example:
        >>> class NoTemplate: chat_template = None
        >>> as_chat_prompt(NoTemplate(), "2+2=")
        '2+2='
    """
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)


def with_lora_targets(config: Any, source: str, name: str) -> Any:
    """``config`` with its LoRA target modules set: its own, else the runner's default for the model (the
    registry's, by name or by the architecture in a local ``config.json``)."""
    if getattr(config, "target_modules", None):
        return config
    from training_runs.qlora.runner import default_target_modules

    return config.replace(target_modules=default_target_modules(source, name))


def _longest_completion(pairs: Any, tokenizer: Any) -> int:
    """Tokens of the longest completion plus its EOS (what the runner lets the model generate)."""
    longest = 0
    for _, completion in list(pairs)[:5000]:
        longest = max(longest, len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1)
    return max(1, longest)
