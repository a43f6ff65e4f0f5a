"""Shared pieces of the QLoRA runner tests: a tiny task, the tiny model, one CPU thread."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from training_runs.qlora import QLoRAConfig
from training_runs.tiny_model import write_tiny_model


def parity_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """A tiny binary task: is the number even?"""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        a = rng.randint(0, 99)
        pairs.append((f"Is {a} even? Answer:", " yes" if a % 2 == 0 else " no"))
    return pairs


def fast_config(tmp_path: Path, **overrides: object) -> QLoRAConfig:
    """Plain LoRA on CPU with a handful of steps, writing under ``tmp_path``."""
    settings: dict[str, object] = {
        "max_steps": 4, "eval_size": 8, "per_device_batch_size": 4, "gradient_accumulation_steps": 2,
        "learning_rate": 2e-2, "lora_dropout": 0.0, "max_new_tokens": 4, "device": "cpu",
        "output_dir": str(tmp_path / "run"), "adapters_dir": str(tmp_path / "adapters"),
    }
    settings.update(overrides)
    return QLoRAConfig.plain_lora(**settings)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", hidden_size=32, layers=2)


