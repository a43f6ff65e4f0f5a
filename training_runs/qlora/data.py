"""Examples in, token batches out: the split, tokenization with completion-only labels, length grouping.

A training sequence is ``prompt tokens + completion tokens + EOS``; its labels are ``-100`` (ignored by
the loss) on every prompt position, so the loss covers the completion (and the EOS that teaches the model
to stop) only. Prompt and completion are tokenized separately, so the prompt tokens are exactly the ones
the model sees at evaluation time.

Batches are length-grouped (as ``transformers``' ``group_by_length``): indices are shuffled, cut into
mega-batches of 64 micro-batches, sorted by length inside each, and the micro-batches shuffled again. Rows
of one micro-batch then have nearly equal lengths, so right-padding them wastes almost no compute.

Example:
    >>> train, held_out = split_examples([("2+2=", "4"), ("3+3=", "6"), ("1+1=", "2")], eval_size=1, seed=0)
    >>> len(train), len(held_out)
    (2, 1)
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from training_runs.qlora.errors import DatasetTooSmallError, PromptTooLongError, QLoRAError

Example = tuple[str, str]
IGNORE_INDEX = -100
_MEGA_BATCH_FACTOR = 64


def examples_from(task_data: Any) -> list[Example]:
    """(prompt, completion) pairs from a ``featurizers.TaskData`` or any plain container of pairs.

    Accepted: a ``TaskData`` (anything with ``iter_batches()`` yielding batches with ``prompts`` and
    ``completions``); a sequence of ``(prompt, completion)`` pairs, of ``{"prompt", "completion"}`` dicts or
    of objects with ``prompt`` and ``completion`` attributes; an object with ``prompts`` and ``completions``
    sequences; or an iterable of ``(prompts, completions)`` batches.

    Example:
        >>> examples_from([("Q: hi", " A: hello")])
        [('Q: hi', ' A: hello')]
        >>> examples_from([(["a", "b"], ["1", "2"])])
        [('a', '1'), ('b', '2')]
    """
    if callable(getattr(task_data, "iter_batches", None)):
        examples: list[Any] = []
        for batch in task_data.iter_batches():
            examples.extend(zip(batch.prompts, batch.completions, strict=True))
        return _checked(examples)
    prompts = getattr(task_data, "prompts", None)
    completions = getattr(task_data, "completions", None)
    if prompts is not None and completions is not None and not callable(prompts):
        return _checked(list(zip(prompts, completions, strict=True)))
    examples = []
    for item in task_data:
        if isinstance(item, dict):
            examples.append((item["prompt"], item["completion"]))
        elif hasattr(item, "prompt") and hasattr(item, "completion"):
            examples.append((item.prompt, item.completion))
        elif hasattr(item, "prompts") and hasattr(item, "completions"):
            examples.extend(zip(item.prompts, item.completions, strict=True))
        elif isinstance(item, Sequence) and len(item) == 2 and not isinstance(item[0], str):
            examples.extend(zip(item[0], item[1], strict=True))  # a (prompts, completions) batch
        elif isinstance(item, Sequence) and len(item) == 2:
            examples.append((item[0], item[1]))
        else:
            raise QLoRAError(f"cannot read examples from {type(task_data).__name__}: item {item!r:.80} "
                             "is neither a (prompt, completion) pair nor a batch of them")
    return _checked(examples)


def _checked(examples: list[Any]) -> list[Example]:
    for i, (prompt, completion) in enumerate(examples):
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise QLoRAError(f"example {i}: prompt and completion must be text, got "
                             f"{type(prompt).__name__} and {type(completion).__name__}")
    return [(p, c) for p, c in examples]


def split_examples(examples: Sequence[Example], eval_size: int, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded random split into (train, held-out eval of ``eval_size`` examples).

    Raises :class:`DatasetTooSmallError` unless at least one example is left to train on.
    """
    if len(examples) <= eval_size:
        raise DatasetTooSmallError(
            f"the dataset has {len(examples)} examples, too few for an evaluation split of eval_size={eval_size} "
            "plus a training split; lower the evaluation size (--eval-size) or add examples"
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held_out = [examples[i] for i in order[:eval_size]]
    train = [examples[i] for i in order[eval_size:]]
    return train, held_out


def fingerprint_examples(examples: Iterable[Example]) -> str:
    """A hash of the examples' text, in order (identifies the dataset of a checkpoint)."""
    digest = hashlib.sha256()
    for prompt, completion in examples:
        for text in (prompt, completion):
            data = text.encode("utf-8")
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenizedExample:
    """One training sequence: token ids, labels (``-100`` on prompt positions) and whether it was cut."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    truncated: bool

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_completion_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def _prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def _cut_prompt_left(ids: list[int], keep: int, bos_id: int | None) -> list[int]:
    """Keep the last ``keep`` tokens (and a leading BOS), so the prompt's end stays next to the answer."""
    if keep <= 0:
        return ids[:1] if bos_id is not None and ids[:1] == [bos_id] else []
    if bos_id is not None and ids[:1] == [bos_id] and keep >= 2:
        return [bos_id] + ids[len(ids) - keep + 1 :]
    return ids[len(ids) - keep :]


def _too_long(what: str, index: int, n_tokens: int, limit: int) -> PromptTooLongError:
    return PromptTooLongError(
        f"example {index}: {what} has {n_tokens} tokens, more than the {limit} that fit max_seq_length; "
        "raise max_seq_length (--max-seq-length, up to the model's context) or let the runner cut the "
        "prompt from the left (truncation='truncate', --truncation truncate)"
    )


def tokenize_for_training(
    examples: Sequence[Example], tokenizer: Any, max_length: int, truncation: str
) -> tuple[list[TokenizedExample], int]:
    """Tokenize pairs into training sequences of at most ``max_length`` tokens; return them and the cut count.

    Over-long sequences lose prompt tokens from the left first; a completion that alone leaves fewer
    than ``max_length // 4`` prompt tokens is cut at the right too. ``truncation="refuse"`` raises
    :class:`PromptTooLongError` instead.
    """
    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise QLoRAError("the tokenizer has no EOS token; the runner needs one to teach the model to stop")
    bos_id = tokenizer.bos_token_id
    out: list[TokenizedExample] = []
    n_truncated = 0
    for index, (prompt, completion) in enumerate(examples):
        prompt_ids = _prompt_ids(tokenizer, prompt)
        completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"]) + [eos_id]
        cut = len(prompt_ids) + len(completion_ids) > max_length
        if cut:
            if truncation == "refuse":
                raise _too_long("prompt + completion", index, len(prompt_ids) + len(completion_ids), max_length)
            min_prompt = min(len(prompt_ids), max(1, max_length // 4))
            completion_ids = completion_ids[: max_length - min_prompt]
            prompt_ids = _cut_prompt_left(prompt_ids, max_length - len(completion_ids), bos_id)
            n_truncated += 1
        labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
        out.append(TokenizedExample(tuple(prompt_ids + completion_ids), tuple(labels), cut))
    return out, n_truncated


def tokenize_prompts(
    prompts: Sequence[str], tokenizer: Any, max_length: int, truncation: str
) -> tuple[list[list[int]], int]:
    """Tokenize evaluation prompts to at most ``max_length`` tokens each; return them and the cut count."""
    bos_id = tokenizer.bos_token_id
    out: list[list[int]] = []
    n_truncated = 0
    for index, prompt in enumerate(prompts):
        ids = _prompt_ids(tokenizer, prompt)
        if len(ids) > max_length:
            if truncation == "refuse":
                raise _too_long("the evaluation prompt", index, len(ids), max_length)
            ids = _cut_prompt_left(ids, max_length, bos_id)
            n_truncated += 1
        if not ids:  # generation needs at least one token to condition on
            ids = [bos_id if bos_id is not None else tokenizer.eos_token_id]
        out.append(ids)
    return out, n_truncated


def plan_epoch(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool) -> list[list[int]]:
    """The micro-batches (lists of example indices) of one epoch, deterministic in (seed, epoch).

    Example:
        >>> plan_epoch([5, 1, 4, 2], batch_size=2, seed=0, epoch=0, group_by_length=True)
        [[0, 2], [3, 1]]
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * _MEGA_BATCH_FACTOR
        grouped: list[int] = []
        for start in range(0, len(order), mega):
            grouped.extend(sorted(order[start : start + mega], key=lambda i: -lengths[i]))
        order = grouped
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def micro_batches(
    lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool, start: int = 0
) -> Iterator[list[int]]:
    """An endless stream of micro-batches over as many epochs as needed, skipping the first ``start``.

    Resuming at micro-batch ``start`` yields exactly what an uninterrupted stream would from there.
    """
    per_epoch = -(-len(lengths) // batch_size)
    epoch, offset = divmod(start, per_epoch)
    while True:
        yield from plan_epoch(lengths, batch_size, seed, epoch, group_by_length)[offset:]
        epoch, offset = epoch + 1, 0


def collate_training(batch: Sequence[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch: ``input_ids``, ``attention_mask`` and ``labels`` (``-100`` on padding)."""
    width = max(len(example) for example in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate_prompts(prompts: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts for batched generation (new tokens then line up at the right edge)."""
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        if ids:
            input_ids[row, width - len(ids) :] = torch.tensor(list(ids))
            attention_mask[row, width - len(ids) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
