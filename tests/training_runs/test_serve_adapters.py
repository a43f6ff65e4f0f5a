"""Adapter names, the adapters directory, reading peft adapters, and the LRU cache policy."""
from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from training_runs.serve.adapters import AdapterDirectory, inspect_adapter, read_adapter, validate_adapter_name
from training_runs.serve.cache import AdapterCache
from training_runs.serve.errors import (
    AdapterFormatError,
    AdapterNotFoundError,
    AdapterTooLargeError,
    InvalidAdapterNameError,
)

PREFIX = "base_model.model.model.layers.0.self_attn.q_proj"


def write_adapter(path, config=None, tensors=None):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4, **(config or {})}))
    save_file(tensors or {f"{PREFIX}.lora_A.weight": torch.ones(2, 8), f"{PREFIX}.lora_B.weight": torch.ones(6, 2)},
              str(path / "adapter_model.safetensors"))
    return path


@pytest.mark.parametrize("name", ["../secret", "a/b", "..", ".hidden", "", "a" * 129, "x\\y", "name with space", "é"])
def test_names_that_could_leave_the_adapters_directory_or_look_odd_are_refused(name):
    with pytest.raises(InvalidAdapterNameError, match="invalid model name"):
        validate_adapter_name(name)


def test_plain_names_with_dots_dashes_and_underscores_are_accepted():
    assert validate_adapter_name("boolq_llama-2.r8") == "boolq_llama-2.r8"


def test_the_directory_lists_only_complete_adapters(tmp_path):
    write_adapter(tmp_path / "good")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "adapter_config.json").write_text("{}")
    write_adapter(tmp_path / ".tmp-staging")
    assert AdapterDirectory(tmp_path).names() == ["good"]


def test_a_symlink_pointing_outside_the_adapters_directory_is_refused(tmp_path):
    outside = write_adapter(tmp_path / "outside" / "evil")
    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidAdapterNameError, match="outside the adapters directory"):
        AdapterDirectory(tmp_path / "adapters").resolve("evil")


def test_an_unknown_adapter_is_reported_as_not_found_with_a_hint(tmp_path):
    with pytest.raises(AdapterNotFoundError, match="GET /v1/models"):
        AdapterDirectory(tmp_path).resolve("nothing-here")


def test_an_adapter_can_be_addressed_by_the_run_id_in_its_run_json(tmp_path):
    path = write_adapter(tmp_path / "boolq-tiny")
    (path / "run.json").write_text(json.dumps({"run_id": "20260101-ab12cd"}))
    assert AdapterDirectory(tmp_path).resolve("20260101-ab12cd") == path.resolve()


def test_pickled_adapter_weights_are_refused_because_loading_them_can_run_code(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "adapter_config.json").write_text("{}")
    (tmp_path / "old" / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(AdapterFormatError, match="safetensors"):
        AdapterDirectory(tmp_path).resolve("old")


def test_reading_folds_the_lora_scaling_into_b_and_reports_rank_and_bytes(tmp_path):
    weights = read_adapter(write_adapter(tmp_path / "a"))
    a, b = weights.modules["model.layers.0.self_attn.q_proj"]
    assert a.shape == (2, 8) and b.shape == (6, 2)
    assert torch.allclose(b, torch.full((6, 2), 2.0))  # alpha / r = 4 / 2
    assert weights.rank == 2 and weights.nbytes == (16 + 12) * 4


def test_rslora_and_per_module_alpha_patterns_follow_peft(tmp_path):
    weights = read_adapter(write_adapter(tmp_path / "a", {"use_rslora": True, "alpha_pattern": {"q_proj": 8}}))
    _, b = weights.modules["model.layers.0.self_attn.q_proj"]
    assert torch.allclose(b, torch.full((6, 2), 8 / math.sqrt(2)))


@pytest.mark.parametrize(
    ("config", "message"),
    [({"peft_type": "IA3"}, "LoRA adapters only"), ({"use_dora": True}, "DoRA"),
     ({"modules_to_save": ["lm_head"]}, "modules_to_save"), ({"bias": "all"}, "biases"), ({"r": 4}, "rank 2")],
)
def test_adapter_features_the_server_cannot_apply_are_refused_by_name(tmp_path, config, message):
    with pytest.raises(AdapterFormatError, match=message):
        read_adapter(write_adapter(tmp_path / "a", config))


def test_weights_that_do_not_pair_up_are_refused(tmp_path):
    with pytest.raises(AdapterFormatError, match="not both"):
        read_adapter(write_adapter(tmp_path / "a", tensors={f"{PREFIX}.lora_A.weight": torch.ones(2, 8)}))
    with pytest.raises(AdapterFormatError, match="unexpected tensor"):
        read_adapter(write_adapter(tmp_path / "b", tensors={"lm_head.weight": torch.ones(2, 2)}))


def test_the_cache_evicts_least_recently_used_first_and_reuses_the_slot():
    cache = AdapterCache(max_adapters=2, max_bytes=10_000)
    assert cache.add("a", 10) == (1, [])
    assert cache.add("b", 10) == (2, [])
    cache.slot("a")  # a is now the most recently used
    assert cache.add("c", 10) == (2, ["b"])
    assert cache.names() == ["a", "c"] and cache.evictions == 1


def test_the_cache_never_evicts_adapters_in_use_and_waits_instead():
    cache = AdapterCache(max_adapters=1, max_bytes=10_000)
    cache.add("a", 10)
    cache.pin("a")
    assert cache.add("b", 10) is None
    cache.unpin("a")
    assert cache.add("b", 10) == (1, ["a"])


def test_the_cache_evicts_as_many_as_the_byte_budget_needs():
    cache = AdapterCache(max_adapters=5, max_bytes=100)
    for name in "abc":
        cache.add(name, 30)
    assert cache.add("d", 60)[1] == ["a", "b"]
    assert cache.bytes_used == 90
    with pytest.raises(AdapterTooLargeError, match="budget"):
        cache.add("huge", 101)


def test_weights_holding_nan_or_infinity_are_refused_when_read(tmp_path):
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        tensors = {f"{PREFIX}.lora_A.weight": torch.ones(2, 8), f"{PREFIX}.lora_B.weight": torch.full((6, 2), value)}
        with pytest.raises(AdapterFormatError, match="holds NaN or infinite values"):
            read_adapter(write_adapter(tmp_path / name, tensors=tensors))


def test_weights_that_overflow_the_serving_dtype_once_scaled_are_refused(tmp_path):
    tensors = {f"{PREFIX}.lora_A.weight": torch.ones(2, 8), f"{PREFIX}.lora_B.weight": torch.full((6, 2), 60000.0)}
    path = write_adapter(tmp_path / "a", tensors=tensors)  # alpha / r = 2: 120000 is beyond float16
    assert read_adapter(path).rank == 2
    with pytest.raises(AdapterFormatError, match="in torch.float16"):
        read_adapter(path, dtype=torch.float16)


def test_a_weights_file_symlinked_outside_the_adapters_directory_is_not_read(tmp_path):
    outside = write_adapter(tmp_path / "elsewhere" / "real")
    adapter = tmp_path / "adapters" / "evil"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text((outside / "adapter_config.json").read_text())
    (adapter / "adapter_model.safetensors").symlink_to(outside / "adapter_model.safetensors")
    with pytest.raises(AdapterFormatError, match="outside the adapters directory"):
        read_adapter(adapter)
    with pytest.raises(AdapterFormatError, match="outside the adapters directory"):
        inspect_adapter(adapter, root=tmp_path / "adapters")


def test_a_directory_symlinked_from_outside_is_not_listed(tmp_path):
    outside = write_adapter(tmp_path / "outside" / "evil")
    write_adapter(tmp_path / "adapters" / "good")
    (tmp_path / "adapters" / "evil").symlink_to(outside, target_is_directory=True)
    assert AdapterDirectory(tmp_path / "adapters").names() == ["good"]


def test_a_config_without_weights_is_named_as_such(tmp_path):
    path = write_adapter(tmp_path / "half")
    (path / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterFormatError, match="no adapter_model.safetensors"):
        AdapterDirectory(tmp_path).resolve("half")


@pytest.mark.parametrize(
    ("config", "message"),
    [({"r": "eight"}, "'r'.*positive integer"), ({"r": 0}, "'r'.*positive integer"), ({"r": True}, "'r'"),
     ({"lora_alpha": "x"}, "'lora_alpha'"), ({"lora_alpha": float("nan")}, "'lora_alpha'"),
     ({"lora_alpha": 10**400}, "'lora_alpha'"), ({"use_rslora": "yes"}, "use_rslora"),
     ({"rank_pattern": [1]}, "'rank_pattern'.*object"), ({"rank_pattern": {"q_proj": 2.5}}, "positive integer"),
     ({"alpha_pattern": {"q_proj": "big"}}, "must be a number"), ({"peft_type": ["LORA"]}, "LoRA adapters only")],
)
def test_config_fields_of_the_wrong_type_are_refused_by_name(tmp_path, config, message):
    with pytest.raises(AdapterFormatError, match=message):
        read_adapter(write_adapter(tmp_path / "a", config))


@pytest.mark.parametrize("key", ["(.|.){0,24}Z", ".*q_proj", "q_proj|v_proj", "layers\\.0", "[qv]_proj", "x" * 2000])
def test_pattern_keys_that_are_regular_expressions_are_refused_without_being_run(tmp_path, key):
    with pytest.raises(AdapterFormatError, match="does not run regular expressions"):
        read_adapter(write_adapter(tmp_path / "a", {"alpha_pattern": {key: 8}}))


@pytest.mark.parametrize(
    ("key", "applies"),
    [("q_proj", True), ("self_attn.q_proj", True), ("layers.0.self_attn.q_proj", True),
     ("^model.layers.0.self_attn.q_proj", True), ("q_proj$", True), ("_proj", False), ("0.self_attn.q_proj", True),
     ("^layers.0.self_attn.q_proj", False), ("layers.1.self_attn.q_proj", False), ("v_proj", False)],
)
def test_pattern_keys_match_a_module_path_ending_at_a_dot_as_peft_does(tmp_path, key, applies):
    weights = read_adapter(write_adapter(tmp_path / "a", {"alpha_pattern": {key: 8}}))
    _, b = weights.modules["model.layers.0.self_attn.q_proj"]
    assert torch.allclose(b, torch.full((6, 2), 4.0 if applies else 2.0))  # 8 / 2 or the default 4 / 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [(lambda raw: raw[:5], "only 5 bytes"), (lambda raw: raw[:-4], "do not match"),
     (lambda raw: (10**9).to_bytes(8, "little") + raw[8:], "header claims"),
     (lambda raw: raw[:8] + b"[" * (len(raw) - 8), "not JSON")],
)
def test_a_damaged_safetensors_file_is_refused_before_any_tensor_is_read(tmp_path, damage, message):
    path = write_adapter(tmp_path / "a")
    weights = path / "adapter_model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(AdapterFormatError, match=message):
        inspect_adapter(path)


def test_the_manifest_gives_shapes_rank_and_size_without_loading_tensors(tmp_path):
    manifest = inspect_adapter(write_adapter(tmp_path / "a"))
    [(module, lora)] = manifest.modules.items()
    assert module == "model.layers.0.self_attn.q_proj" and (lora.a_shape, lora.b_shape) == ((2, 8), (6, 2))
    assert manifest.rank == 2 and manifest.nbytes(element_size=2) == (16 + 12) * 2 and lora.scaling == 2.0
