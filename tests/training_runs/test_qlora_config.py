"""QLoRAConfig: the study's recipe by default, every field overridable, bad values refused."""
from __future__ import annotations

import pytest

from training_runs.qlora import ConfigError, QLoRAConfig


def test_the_defaults_are_the_study_recipe():
    config = QLoRAConfig()
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.compute_dtype == "bfloat16"
    assert (config.lora_r, config.target_modules) == (8, ("q_proj", "v_proj"))
    assert config.learning_rate == 2e-4 and config.warmup_ratio == 0.03
    assert config.effective_batch_size == 16


def test_warmup_is_three_percent_of_the_steps_and_at_least_one():
    assert QLoRAConfig(max_steps=1000).warmup_steps == 30
    assert QLoRAConfig(max_steps=10).warmup_steps == 1
    assert QLoRAConfig(max_steps=10, warmup_ratio=0.0).warmup_steps == 0


def test_plain_lora_turns_quantization_off_and_keeps_the_rest():
    config = QLoRAConfig.plain_lora(max_steps=7)
    assert not config.load_in_4bit and config.max_steps == 7 and config.lora_r == 8


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lora_r", 0, "lora_r must be a positive integer"),
        ("max_steps", -1, "max_steps must be a positive integer"),
        ("truncation", "chop", "truncation must be 'truncate' or 'refuse'"),
        ("lora_dropout", 1.5, "lora_dropout must be in"),
        ("compute_dtype", "int8", "compute_dtype must be one of"),
        ("target_modules", (), "target_modules must name"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        QLoRAConfig(**{field: value})


def test_the_training_fingerprint_ignores_paths_but_not_the_recipe():
    base = QLoRAConfig()
    assert base.training_fingerprint() == base.replace(output_dir="/elsewhere", device="cpu").training_fingerprint()
    assert base.training_fingerprint() != base.replace(learning_rate=1e-4).training_fingerprint()
