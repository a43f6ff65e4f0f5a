"""The tiny model: a random Llama-architecture model and tokenizer that load offline."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.tiny_model import write_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_written_directory_loads_offline_with_the_auto_classes(tmp_path):
    path = write_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id is not None
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert {"q_proj", "v_proj"} <= names


def test_the_tokenizer_round_trips_any_text_byte_for_byte(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(write_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1))
    text = 'Answer: yes #### 72 {"name": "Zoë"} \u4e2d\u6587'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(tmp_path):
    load = lambda p: AutoModelForCausalLM.from_pretrained(p).model.embed_tokens.weight  # noqa: E731
    a = load(write_tiny_model(tmp_path / "a", hidden_size=32, layers=1, seed=3))
    b = load(write_tiny_model(tmp_path / "b", hidden_size=32, layers=1, seed=3))
    c = load(write_tiny_model(tmp_path / "c", hidden_size=32, layers=1, seed=4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_impossible_shapes_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="multiple of heads"):
        write_tiny_model(tmp_path / "x", hidden_size=30, layers=1)
    with pytest.raises(ValueError, match="vocab_size must be at least"):
        write_tiny_model(tmp_path / "x", vocab_size=100)
    assert not (tmp_path / "x").exists()


def test_the_module_runs_as_a_command_and_prints_the_directory(tmp_path):
    target = tmp_path / "cli-tiny"
    done = subprocess.run(
        [sys.executable, "-m", "training_runs.tiny_model", str(target), "--hidden-size", "32", "--layers", "1"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )
    assert done.stdout.strip() == str(target)
    assert (target / "config.json").is_file() and (target / "tokenizer.json").is_file()
