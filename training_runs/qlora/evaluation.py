"""Evaluation: greedy decoding in length-sorted, left-padded batches, scored with the task metric.

The metric comes from the task (``TaskData.metric``) or, failing that, from
:func:`tasks.metrics.infer_metric`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tasks.metrics import get_metric
from training_runs.qlora.data import collate_prompts

@dataclass(frozen=True)
class Evaluation:
    """A model's score on the held-out examples, with its predictions (in the examples' order)."""

    metric: str
    score: float
    predictions: tuple[str, ...]


@torch.inference_mode()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    *,
    batch_size: int,
    max_new_tokens: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> list[str]:
    """Greedy completions of tokenized ``prompts`` (returned in the given order), in left-padded batches.

    Prompts are sorted by length first so each batch pads little.
    """
    device = model.get_input_embeddings().weight.device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: dict[int, str] = {}
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = collate_prompts([prompts[i] for i in chosen], tokenizer.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast() if autocast else contextlib.nullcontext():
                generated = model.generate(
                    **batch,
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    use_cache=True,
                )
            new_tokens = generated[:, batch["input_ids"].shape[1] :]
            for row, index in enumerate(chosen):
                outputs[index] = tokenizer.decode(new_tokens[row], skip_special_tokens=True).strip()
    finally:
        model.train(was_training)
    return [outputs[i] for i in range(len(prompts))]


def evaluate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[int]],
    references: Sequence[str],
    metric: str,
    *,
    batch_size: int,
    max_new_tokens: int,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> Evaluation:
    """Generate greedily for each prompt and score the completions against ``references`` with ``metric``."""
    scorer = get_metric(metric)
    predictions = generate(model, tokenizer, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                           autocast=autocast)
    return Evaluation(scorer.name, scorer(predictions, references), tuple(predictions))
