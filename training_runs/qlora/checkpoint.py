"""Resumable training checkpoints: adapter weights, optimizer, scheduler and step, written atomically.

Layout: ``<output_dir>/checkpoint/`` holding ``adapter.safetensors`` (the trainable LoRA weights),
``optimizer.pt``, ``scheduler.pt`` and ``state.json`` (step, run id, run fingerprint, training tokens and
seconds so far, the last step's loss). A new checkpoint is written to a temporary sibling and renamed over
the old one, so an interruption at any moment leaves either the previous or the new checkpoint, never a
mixture; removing one renames it away first, so a kill mid-removal never leaves half a checkpoint.
Hidden siblings that killed writes or removals leave behind (``.checkpoint-*``, ``.retired-*``,
``.removed-*``) are cleared by :func:`clear_leftovers`.

Example:
    >>> load_checkpoint("/nonexistent/run") is None
    True
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training_runs.qlora.errors import CheckpointMismatchError
from training_runs.staging import staged_directory

CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A saved training state: where it lies and what ``state.json`` says."""

    path: Path
    step: int
    run_id: str
    fingerprint: str
    train_tokens: int
    train_time_s: float = 0.0
    last_loss: float | None = None

    def check_matches(self, fingerprint: str) -> None:
        """Raise :class:`CheckpointMismatchError` unless the checkpoint belongs to the run ``fingerprint``."""
        if fingerprint != self.fingerprint:
            raise CheckpointMismatchError(
                f"{self.path.parent} holds a checkpoint of another run (different data, base model or "
                f"training settings; run {self.run_id} at step {self.step}); use another output directory "
                "or delete that checkpoint to start over"
            )

    def restore(self, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        """Load the adapter weights, optimizer and scheduler states into the given objects."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        device = next(p.device for p in model.parameters() if p.requires_grad)
        set_peft_model_state_dict(model, load_file(str(self.path / "adapter.safetensors"), device=str(device)))
        optimizer.load_state_dict(torch.load(self.path / "optimizer.pt", map_location=device, weights_only=True))
        scheduler.load_state_dict(torch.load(self.path / "scheduler.pt", weights_only=True))


def load_checkpoint(output_dir: str | os.PathLike[str]) -> Checkpoint | None:
    """The checkpoint in ``output_dir``, or None if there is none."""
    path = Path(output_dir) / CHECKPOINT_DIR
    state_file = path / "state.json"
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text())
    last_loss = state.get("last_loss")
    return Checkpoint(path, int(state["step"]), str(state["run_id"]), str(state["fingerprint"]),
                      int(state.get("train_tokens", 0)), float(state.get("train_time_s", 0.0)),
                      None if last_loss is None else float(last_loss))


def save_checkpoint(
    output_dir: str | os.PathLike[str],
    *,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    run_id: str,
    fingerprint: str,
    train_tokens: int,
    train_time_s: float = 0.0,
    last_loss: float | None = None,
) -> Checkpoint:
    """Write the training state atomically to ``<output_dir>/checkpoint`` and return it."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    target = Path(output_dir) / CHECKPOINT_DIR
    with staged_directory(target, prefix=".checkpoint-") as staging:
        weights = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(model).items()}
        save_file(weights, str(staging / "adapter.safetensors"))
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        state = {"step": step, "run_id": run_id, "fingerprint": fingerprint, "train_tokens": train_tokens,
                 "train_time_s": train_time_s, "last_loss": last_loss}
        (staging / "state.json").write_text(json.dumps(state, indent=2))
    return Checkpoint(target, step, run_id, fingerprint, train_tokens, train_time_s, last_loss)


def remove_checkpoint(output_dir: str | os.PathLike[str]) -> None:
    """Delete the checkpoint of a finished run (a rerun then starts a new run).

    The directory is renamed away before it is deleted, so an interruption leaves the whole checkpoint
    or none of it.
    """
    path = Path(output_dir) / CHECKPOINT_DIR
    if path.exists():
        os.replace(path, path.parent / f".removed-{CHECKPOINT_DIR}-{os.getpid()}")
    clear_leftovers(output_dir)


def clear_leftovers(output_dir: str | os.PathLike[str]) -> None:
    """Delete the hidden directories that killed checkpoint writes and removals leave in ``output_dir``."""
    directory = Path(output_dir)
    if not directory.is_dir():
        return
    for pattern in (".checkpoint-*", ".retired-*", f".removed-{CHECKPOINT_DIR}-*"):
        for leftover in directory.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)
