"""QLoRAConfig: the study's recipe by default, every field overridable, bad values refused."""
from __future__ import annotations

import pytest

from training_runs.qlora import ConfigError, QLoRAConfig


def test_the_defaults_are_the_study_recipe():
    config = QLoRAConfig()
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.compute_dtype == "bfloat16"
    assert config.lora_r == 8
    assert config.target_modules is None  # the study's q_proj/v_proj as the base model's architecture names them
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
        ("target_modules", "q_proj", "target_modules must be a sequence of module names"),
        ("device", "tpu9", "device 'tpu9' is not one the runner trains on; use cpu, cuda or cuda:N"),
        ("device", "cuda:x", "device 'cuda:x' is not one"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        QLoRAConfig(**{field: value})


def test_the_training_fingerprint_ignores_paths_but_not_the_recipe():
    base = QLoRAConfig()
    assert base.training_fingerprint() == base.replace(output_dir="/elsewhere", device="cpu").training_fingerprint()
    assert base.training_fingerprint() != base.replace(learning_rate=1e-4).training_fingerprint()


def test_target_modules_none_means_the_registrys_for_the_base_model():
    from training_runs.qlora.runner import default_target_modules

    assert default_target_modules("microsoft/Phi-3.5-mini-instruct", "Phi-3.5-mini-instruct") == ("qkv_proj",)
    assert default_target_modules("/models/my-copy", "mistral-7b") == ("q_proj", "v_proj")
    assert default_target_modules("/models/unknown", "unknown") == ("q_proj", "v_proj")


def test_a_local_model_outside_the_registry_gets_its_architectures_targets(tmp_path):
    from training_runs.qlora.runner import default_target_modules

    (tmp_path / "config.json").write_text('{"model_type": "phi3"}')
    assert default_target_modules(tmp_path, "my-phi") == ("qkv_proj",)
