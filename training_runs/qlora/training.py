"""The training loop: completion-only loss, length-grouped micro-batches, accumulation, checkpoints.

One optimizer step consumes ``gradient_accumulation_steps`` micro-batches. The loss of a step is the
mean cross-entropy over all completion tokens of those micro-batches (each token weighs the same however
the sequences are split into micro-batches). The LM head runs only on positions whose next token is a
completion token, which saves the vocabulary-sized logits of every prompt position. Each step reseeds
the RNG from ``(seed, step)`` and reads its micro-batches from a deterministic stream, so a run resumed
from a checkpoint continues exactly as the uninterrupted run would have.

Example:
    >>> StepInfo(step=3, max_steps=10, loss=1.5, learning_rate=2e-4, train_tokens=960).fraction_done
    0.3
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from training_runs.qlora.checkpoint import Checkpoint, save_checkpoint
from training_runs.qlora.config import QLoRAConfig
from training_runs.qlora.data import IGNORE_INDEX, TokenizedExample, collate_training, micro_batches


@dataclass(frozen=True)
class StepInfo:
    """What one finished optimizer step reports to ``on_step`` callbacks."""

    step: int
    max_steps: int
    loss: float
    learning_rate: float
    train_tokens: int

    @property
    def fraction_done(self) -> float:
        return self.step / self.max_steps


@dataclass
class TrainStats:
    """Figures of a training run; ``train_tokens``/``train_time_s`` include sessions before a resume."""

    start_step: int
    steps: int
    train_tokens: int
    train_time_s: float
    losses: list[float] = field(default_factory=list)
    resumed_loss: float | None = None  # the last loss before a resume (a run resumed at its end trains no step)

    @property
    def tokens_per_s(self) -> float:
        """Real (non-padding) training tokens per second of training time."""
        return self.train_tokens / self.train_time_s if self.train_time_s > 0 else 0.0

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else self.resumed_loss


def _input_device(model: Any) -> torch.device:
    return model.get_input_embeddings().weight.device


def autocast_for(config: QLoRAConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 (or the configured) autocast on CUDA; nothing on CPU, which computes in float32."""
    if device.type == "cuda" and config.compute_dtype != "float32":
        return torch.autocast("cuda", dtype=getattr(torch, config.compute_dtype))
    return contextlib.nullcontext()


def completion_loss_sum(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed next-token cross-entropy over the completion positions of ``batch`` (labels != -100).

    Runs the decoder, then the LM head only on positions that predict a completion token.
    """
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    head = base.get_output_embeddings()
    if decoder is None or head is None:  # an architecture without the usual split: full logits
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        return F.cross_entropy(logits[keep].float(), labels[keep], reduction="sum")
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = head(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), labels[keep], reduction="sum")


def _n_targets(examples: Sequence[TokenizedExample]) -> int:
    # a label at position 0 has nothing before it to predict it from, so it never counts
    return sum(sum(1 for label in ex.labels[1:] if label != IGNORE_INDEX) for ex in examples)


def build_optimizer(model: Any, config: QLoRAConfig, device: torch.device) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over the trainable (LoRA) parameters and the cosine schedule with linear warmup."""
    from transformers import get_cosine_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=config.learning_rate, weight_decay=config.weight_decay, fused=device.type == "cuda"
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    return optimizer, scheduler


def train_adapter(
    model: Any,
    examples: Sequence[TokenizedExample],
    config: QLoRAConfig,
    *,
    pad_id: int,
    output_dir: str | Path | None,
    run_id: str,
    fingerprint: str,
    resume: Checkpoint | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
) -> TrainStats:
    """Train the LoRA weights of the peft ``model`` on ``examples`` up to ``config.max_steps`` steps.

    Checkpoints go to ``output_dir`` every ``config.save_steps`` steps and at the end (none when
    ``output_dir`` is None). ``resume`` continues from a checkpoint. ``on_step`` is called after every
    optimizer step (for progress reports; an exception it raises stops training).

    Example:
        >>> stats = train_adapter(peft_model, tokenized, QLoRAConfig.plain_lora(max_steps=5),  # doctest: +SKIP
        ...                       pad_id=0, output_dir=None, run_id="r1", fingerprint="f")
    """
    if not examples:
        raise ValueError("no training examples")
    device = _input_device(model)
    optimizer, scheduler = build_optimizer(model, config, device)
    start = 0
    train_tokens = 0
    prior_tokens, prior_time = 0, 0.0
    if resume is not None:
        resume.restore(model, optimizer, scheduler)
        start, prior_tokens, prior_time = resume.step, resume.train_tokens, resume.train_time_s
    lengths = [len(ex) for ex in examples]
    stream = micro_batches(
        lengths, config.per_device_batch_size, config.seed, config.group_by_length,
        start=start * config.gradient_accumulation_steps,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses: list[float] = []
    began = time.perf_counter()
    for step in range(start, config.max_steps):
        torch.manual_seed(config.seed * 1_000_003 + step)
        chosen = [[examples[i] for i in next(stream)] for _ in range(config.gradient_accumulation_steps)]
        n_targets = max(1, sum(_n_targets(micro) for micro in chosen))
        step_loss = torch.zeros((), device=device)
        for micro in chosen:
            batch = {k: v.to(device, non_blocking=True) for k, v in collate_training(micro, pad_id).items()}
            with autocast_for(config, device):
                loss = completion_loss_sum(model, batch) / n_targets
            loss.backward()
            step_loss += loss.detach()
            train_tokens += sum(len(ex) for ex in micro)
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(step_loss))
        done = step + 1
        if output_dir is not None and (done % config.save_steps == 0 or done == config.max_steps):
            save_checkpoint(
                output_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=done, run_id=run_id,
                fingerprint=fingerprint, train_tokens=prior_tokens + train_tokens,
                train_time_s=prior_time + time.perf_counter() - began, last_loss=losses[-1],
            )
        if on_step is not None:
            on_step(StepInfo(done, config.max_steps, losses[-1], scheduler.get_last_lr()[0], train_tokens))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - began
    return TrainStats(start, config.max_steps - start, prior_tokens + train_tokens, prior_time + elapsed, losses,
                      resume.last_loss if resume is not None else None)
