"""Evaluation: greedy decoding in length-sorted, left-padded batches, scored with the task metric.

Example:
    >>> infer_metric(["yes", "no", "yes"]), infer_metric(["#### 72", "#### 5"])
    ('binary_flex', 'first_number')
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from training_runs.metrics import first_json_value, get_metric, truth_value
from training_runs.qlora.data import collate_prompts

_MAX_LABELS = 20


def infer_metric(references: Sequence[str]) -> str:
    """A metric for a task whose metric was not given, from what its reference completions look like.

    All binary words (yes/no, true/false, 1/0, positive/negative) -> ``binary_flex``; all GSM8K-style
    (``#### n``) -> ``first_number``; all JSON objects or lists -> ``json_match``; at most 20 distinct short
    labels -> ``exact_match``; anything else (free text) -> ``rouge_l``.
    """
    refs = [r.strip() for r in references]
    if not refs:
        raise ValueError("cannot infer a metric from no references")
    if all(truth_value(r) is not None and len(r.split()) == 1 for r in refs):
        return "binary_flex"
    if all("####" in r for r in refs):
        return "first_number"
    if all(r[:1] in "{[" and first_json_value(r) is not None for r in refs):
        return "json_match"
    if len(set(refs)) <= _MAX_LABELS and all(len(r.split()) <= 3 for r in refs) and len(refs) > len(set(refs)):
        return "exact_match"
    return "rouge_l"


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
