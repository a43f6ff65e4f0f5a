"""Random LoRA adapters in peft's on-disk format, for smoke tests and benchmarks (no training, no download).

``write_random_adapter`` writes ``adapter_config.json`` (through peft's ``LoraConfig``) and
``adapter_model.safetensors`` with the tensor names peft uses, for the linear layers of a Llama-family
config, without building the model, so a benchmark can make 32 adapters for a 7B shape in seconds.

Example:
    >>> from transformers import LlamaConfig                                   # doctest: +SKIP
    >>> write_random_adapter("/tmp/adapters/a0", LlamaConfig(), rank=8, seed=0)  # doctest: +SKIP
    PosixPath('/tmp/adapters/a0')
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from training_runs.staging import staged_directory


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
