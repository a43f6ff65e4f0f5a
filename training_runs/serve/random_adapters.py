"""Random LoRA adapters in peft's on-disk format, for smoke tests and benchmarks (no training, no download).

``write_random_adapter`` writes ``adapter_config.json`` (through peft's ``LoraConfig``) and
``adapter_model.safetensors`` with the tensor names peft uses, for the linear layers of a Llama-family
config, without building the model, so a benchmark can make 32 adapters for a 7B shape in seconds.
``write_hostile_adapters`` writes the broken and malicious adapters the server must refuse (issue 15's
among them), for hardening tests and benchmarks.

Example:
    >>> from transformers import LlamaConfig                                   # doctest: +SKIP
    >>> write_random_adapter("/tmp/adapters/a0", LlamaConfig(), rank=8, seed=0)  # doctest: +SKIP
    PosixPath('/tmp/adapters/a0')
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from training_runs.staging import staged_directory

#: The alpha_pattern of issue 15: run as a regular expression, it takes about 25 s per module to reject.
REDOS_PATTERN = "(.|.){0,24}Z"


def linear_shapes(config) -> dict[str, tuple[int, int]]:
    """``{module_suffix: (out_features, in_features)}`` of one decoder layer of a Llama-family ``config``."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    hidden, inter = config.hidden_size, config.intermediate_size
    return {
        "self_attn.q_proj": (heads * head_dim, hidden),
        "self_attn.k_proj": (kv_heads * head_dim, hidden),
        "self_attn.v_proj": (kv_heads * head_dim, hidden),
        "self_attn.o_proj": (hidden, heads * head_dim),
        "mlp.gate_proj": (inter, hidden),
        "mlp.up_proj": (inter, hidden),
        "mlp.down_proj": (hidden, inter),
    }


def write_random_adapter(
    directory: str | os.PathLike[str],
    config,
    *,
    rank: int = 8,
    alpha: float = 16.0,
    target_modules: Sequence[str] = ("q_proj", "v_proj"),
    seed: int = 0,
    scale: float = 1.0,
    base_model_name: str = "random",
) -> Path:
    """Write a random LoRA adapter for a Llama-family ``config`` to ``directory`` (atomically); return it.

    ``A`` is drawn with std ``1/sqrt(in)`` and ``B`` with std ``scale/sqrt(rank)``, so the adapter visibly
    changes the model's outputs. The same seed gives the same weights.
    """
    import torch
    from peft import LoraConfig
    from safetensors.torch import save_file

    shapes = linear_shapes(config)
    suffixes = {suffix for suffix in shapes if suffix.rsplit(".", 1)[-1] in set(target_modules)}
    unknown = set(target_modules) - {suffix.rsplit(".", 1)[-1] for suffix in shapes}
    if unknown:
        raise ValueError(f"unknown target modules {sorted(unknown)}; choose among {sorted(s.rsplit('.', 1)[-1] for s in shapes)}")
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(config.num_hidden_layers):
        for suffix in sorted(suffixes):
            out_features, in_features = shapes[suffix]
            key = f"base_model.model.model.layers.{layer}.{suffix}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(rank, in_features, generator=generator) / in_features**0.5
            tensors[f"{key}.lora_B.weight"] = torch.randn(out_features, rank, generator=generator) * scale / rank**0.5
    target = Path(directory)
    with staged_directory(target) as staging:
        LoraConfig(
            r=rank, lora_alpha=alpha, target_modules=list(target_modules), lora_dropout=0.0, bias="none",
            task_type="CAUSAL_LM", base_model_name_or_path=base_model_name,
        ).save_pretrained(str(staging))
        save_file(tensors, str(staging / "adapter_model.safetensors"))
    return target


def write_peft_adapters(
    model_dir: str | os.PathLike[str],
    adapters_dir: str | os.PathLike[str],
    names: Sequence[str],
    *,
    rank: int = 4,
    alpha: float = 8.0,
    target_modules: Sequence[str] = ("q_proj", "v_proj"),
    seed: int = 0,
) -> list[Path]:
    """Write one random adapter per name with peft itself (``get_peft_model`` + ``save_pretrained``).

    ``init_lora_weights=False`` makes both LoRA matrices random, so each adapter changes the outputs.
    Slower than ``write_random_adapter`` (it builds the model) but exactly what a trained peft model saves.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    paths = []
    for index, name in enumerate(names):
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed + index)
            model = AutoModelForCausalLM.from_pretrained(model_dir)
            config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(target_modules), lora_dropout=0.0,
                                init_lora_weights=False, task_type="CAUSAL_LM")
            peft_model = get_peft_model(model, config)
        finally:
            torch.random.set_rng_state(state)
        target = Path(adapters_dir) / name
        peft_model.save_pretrained(str(target))
        paths.append(target)
    return paths


def write_hostile_adapters(adapters: str | os.PathLike[str], outside: str | os.PathLike[str], config) -> dict[str, str]:
    """Write adapters for a Llama-family ``config`` that must never be served into ``adapters`` (and the file
    one of them symlinks to into ``outside``); return ``{adapter name: what is wrong with it}``.

    Example:
        >>> sorted(write_hostile_adapters("/tmp/a", "/tmp/outside", LlamaConfig()))[:2]  # doctest: +SKIP
        ['bad-rank', 'corrupt-config']
    """
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import LlamaConfig

    adapters, outside = Path(adapters), Path(outside)
    problems = {}

    def adapter(name: str, why: str, seed: int) -> Path:
        problems[name] = why
        return write_random_adapter(adapters / name, config, rank=4, seed=seed)

    def edit_config(path: Path, **changes) -> None:
        config_file = path / "adapter_config.json"
        config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **changes}))

    path = adapter("nan-weights", "NaN weights", 11)
    tensors = load_file(str(path / "adapter_model.safetensors"))
    save_file({k: torch.full_like(t, float("nan")) for k, t in tensors.items()}, str(path / "adapter_model.safetensors"))

    edit_config(adapter("redos-pattern", "a regular expression that backtracks", 12), alpha_pattern={REDOS_PATTERN: 8})
    edit_config(adapter("bad-rank", "r is not an integer", 13), r="eight")
    edit_config(adapter("pattern-list", "rank_pattern is a list", 14), rank_pattern=[1])
    edit_config(adapter("rank-zero", "r is 0", 15), r=0)
    (adapter("corrupt-config", "adapter_config.json is not JSON", 16) / "adapter_config.json").write_text("{not json")
    (adapter("deep-config", "adapter_config.json nests 100,000 deep", 17) / "adapter_config.json").write_text(
        "[" * 100_000 + "]" * 100_000)

    path = adapter("truncated-weights", "the safetensors file is cut short", 18)
    weights = path / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])

    path = adapter("escape", "its weights are a symlink to a file outside the adapters directory", 19)
    outside.mkdir(parents=True, exist_ok=True)
    shutil.move(path / "adapter_model.safetensors", outside / "escaped.safetensors")
    os.symlink(outside / "escaped.safetensors", path / "adapter_model.safetensors")

    path = adapter("no-weights", "the weights file is missing", 20)
    (path / "adapter_model.safetensors").unlink()

    other = LlamaConfig(vocab_size=300, hidden_size=2 * config.hidden_size, intermediate_size=2 * config.intermediate_size,
                        num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads)
    problems["other-base"] = "trained for another base model"
    write_random_adapter(adapters / "other-base", other, rank=4, seed=21)
    return problems
