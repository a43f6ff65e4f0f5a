"""The registry's current open base models: complete descriptors, the LoRA targets of each architecture,
rows checked at load time, and (for the models a package ships) facts checked against the weights."""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from models.registry import (
    REGISTRY_CSV,
    STUDY_TARGET_MODULES,
    RegistryError,
    load_registry,
    lookup,
    target_modules_for,
)

STUDY_MODELS = 10


def _current():
    return list(load_registry().values())[STUDY_MODELS:]


def test_at_least_twenty_current_open_models_follow_the_studys_ten():
    current = _current()
    assert len(current) >= 20
    names = " ".join(info.name for info in current)
    for family in ("llama-3.1", "llama-3.2", "qwen2.5", "qwen3", "gemma-2-", "gemma-3-", "phi-3.5", "phi-4",
                   "mistral-nemo", "smollm2"):
        assert family in names, family
    assert all(info.release_date > dt.date(2024, 2, 29) for info in current)  # after the study's models


def test_every_model_has_every_descriptor():
    for info in load_registry().values():
        assert info.hf_id and info.creator and info.family and info.architecture and info.license, info.name
        assert info.params_billion > 0 and info.context_length >= 2048 and info.release_date, info.name
        assert info.instruction_tuned in (True, False) and info.lora_target_modules, info.name


def test_the_lora_targets_are_the_studys_q_and_v_projections_or_the_fused_projection_holding_them():
    for info in load_registry().values():
        expected = ("qkv_proj",) if info.architecture == "phi3" else STUDY_TARGET_MODULES
        assert info.lora_target_modules == expected, info.name
    assert {i.architecture for i in _current()} >= {"llama", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi3", "mistral"}


def test_instruction_tuned_models_are_named_so_or_are_qwen3s_post_trained_releases():
    for info in load_registry().values():
        says_instruct = any(part in info.hf_id.lower() for part in ("-it", "instruct", "chat", "zephyr"))
        if info.family == "qwen" and info.architecture == "qwen3":
            says_instruct = not info.hf_id.endswith("-Base")
        if info.name == "phi-4":  # released only as the instruction-tuned model
            says_instruct = True
        assert info.instruction_tuned == says_instruct, info.name


def test_target_modules_come_from_the_registry_then_the_architecture_then_the_study():
    assert target_modules_for("phi-4") == ("qkv_proj",)
    assert target_modules_for("Qwen/Qwen2.5-7B") == ("q_proj", "v_proj")
    assert target_modules_for("a-local-phi-copy", architecture="phi3") == ("qkv_proj",)
    assert target_modules_for("unknown", architecture="unknown-arch") == STUDY_TARGET_MODULES
    assert target_modules_for(None) == STUDY_TARGET_MODULES


HEADER = REGISTRY_CSV.read_text().splitlines()[0]
GOOD = "x,org/x,Org,fam,7,true,2024-01-01,2048,llama,mit,q_proj;v_proj"


@pytest.mark.parametrize(
    "rows, message",
    [
        (["x,not-an-id,Org,fam,7,true,2024-01-01,2048,llama,mit,q_proj"], "line 2: hf_id 'not-an-id' is not a Hugging Face id"),
        (["x,org/x,Org,fam,7,true,2024-01-01,2048,llama,mit,q_proj v_proj"], "line 2: lora_target_modules 'q_proj v_proj' must be"),
        (["x,org/x,Org,fam,7,true,2024-01-01,2048,llama,mit,q_proj;q_proj"], "line 2: .* names a module twice"),
        ([GOOD, "y,ORG/X,Org,fam,7,true,2024-01-01,2048,llama,mit,q_proj"], "line 3: hf_id 'ORG/X' is also the id of 'x'"),
        ([GOOD + ",extra"], "line 2: more values than the 11 columns"),
    ],
)
def test_a_malformed_current_model_row_is_named_with_its_line(tmp_path: Path, rows, message):
    path = tmp_path / "models.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(RegistryError, match=message):
        load_registry(path)


def test_a_table_without_the_optional_columns_reads_them_as_unknown(tmp_path: Path):
    path = tmp_path / "models.csv"
    path.write_text("model,hf_id,creator,family,params_billion,instruction_tuned,release_date,max_position_embeddings\n"
                    "x,org/x,Org,fam,7,true,2024-01-01,2048\n")
    info = load_registry(path)["x"]
    assert (info.architecture, info.license, info.lora_target_modules) == (None, None, ())
    assert target_modules_for("x", registry=load_registry(path)) == STUDY_TARGET_MODULES


def _check_against_checkpoint(name: str, directory: Path) -> None:
    """The row's architecture, context, parameter count and LoRA targets, read off a converted checkpoint."""
    from safetensors import safe_open

    info = lookup(name)
    config = json.loads((directory / "config.json").read_text())
    with safe_open(str(directory / "model.safetensors"), "pt") as weights:
        n_params = sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
        modules = {key.split(".")[-2] for key in weights.keys()}
    assert info.architecture == config["model_type"]
    assert info.context_length == config["max_position_embeddings"]
    assert info.params_billion == pytest.approx(n_params / 1e9, rel=0.005)
    assert set(info.lora_target_modules) <= modules


@pytest.mark.slow
def test_the_smollm2_row_matches_the_weights_its_package_ships(smollm2_dir):
    _check_against_checkpoint("smollm2-135m-instruct", smollm2_dir)


@pytest.mark.slow
def test_the_gemma_3_270m_row_matches_the_weights_its_package_ships(gemma3_dir):
    _check_against_checkpoint("gemma-3-270m", gemma3_dir)
