"""Loading the base model (4-bit on CUDA, full precision on CPU) and attaching the LoRA adapter.

Example:
    >>> from training_runs.qlora.config import QLoRAConfig
    >>> resolve_device(QLoRAConfig(device="cpu"))
    device(type='cpu')
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.registry import target_modules_for
from training_runs.qlora.config import QLoRAConfig
from training_runs.qlora.errors import ConfigError, ModelNotFoundError, QLoRAError, QuantizationUnavailableError


@dataclass
class LoadedModel:
    """A base model ready for LoRA training: the (peft-wrapped) model, its tokenizer and where it runs."""

    model: Any
    tokenizer: Any
    name: str
    device: torch.device
    quantized: bool
    context_length: int | None


def resolve_device(config: QLoRAConfig) -> torch.device:
    """``config.device``, else CUDA when available, else CPU."""
    if config.device:
        device = torch.device(config.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {config.device!r} was asked for, but CUDA is not available here")
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"device {config.device!r} was asked for, but this machine has "
                              f"{torch.cuda.device_count()} CUDA GPU(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return device
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


def check_quantization(config: QLoRAConfig, device: torch.device) -> None:
    """Refuse 4-bit loading where it cannot work: without CUDA, or without bitsandbytes."""
    if not config.load_in_4bit:
        return
    if device.type != "cuda":
        raise QuantizationUnavailableError(
            "4-bit QLoRA needs a CUDA GPU (bitsandbytes), and none is available here; run plain LoRA "
            "without quantization instead (--no-quantize, or QLoRAConfig.plain_lora()), which suits small models on a CPU"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise QuantizationUnavailableError(
            f"4-bit QLoRA needs the bitsandbytes package ({exc}); install it with "
            "`pip install 'finetune-advisor[gpu]'`, or run without quantization (--no-quantize)"
        ) from exc


def base_model_name(base_model: str | os.PathLike[str]) -> str:
    """The name a base model is recorded under: a Hugging Face id as is, a local directory by its name."""
    text = os.fspath(base_model)
    path = Path(text).expanduser()
    return path.name if path.exists() else text


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~", "\\")) or text.count("/") > 1 or os.sep != "/" and os.sep in text


def locate_model(base_model: str | os.PathLike[str]) -> str:
    """The path or id to load, after checking that a local model directory really holds a model.

    Raises :class:`ModelNotFoundError` for a missing directory or one without ``config.json``; a Hugging Face
    id is passed through (loading it then needs the local cache when offline).
    """
    text = os.fspath(base_model)
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"base model {text!r} is a path but not a model directory (no config.json in it)")
        return str(path)
    if _looks_like_path(text):
        raise ModelNotFoundError(f"base model {text!r}: no such directory")
    return text


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def load_model(base_model: str | os.PathLike[str], config: QLoRAConfig, device: torch.device) -> LoadedModel:
    """Load tokenizer and base model (4-bit NF4 on CUDA when asked; float32 on CPU), ready for LoRA.

    Example:
        >>> loaded = load_model("/tmp/tiny", QLoRAConfig.plain_lora(device="cpu"), torch.device("cpu"))  # doctest: +SKIP
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    check_quantization(config, device)
    source = locate_model(base_model)
    try:
        model_config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load base model {source!r}: it is not a local model directory and could not be loaded "
            f"from the Hugging Face cache ({str(exc).splitlines()[0][:200]}); pass a local directory"
        ) from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # Llama/Mistral tokenizers ship without a pad token
    kwargs: dict[str, Any] = {}
    if config.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=config.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=config.bnb_4bit_use_double_quant,
            bnb_4bit_compute_dtype=_dtype(config.compute_dtype),
        )
        kwargs["device_map"] = {"": device.index or 0}
        kwargs["dtype"] = _dtype(config.compute_dtype)
    else:
        kwargs["dtype"] = torch.float32 if device.type == "cpu" else _dtype(config.compute_dtype)
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if not config.load_in_4bit:
        model.to(device)
    context = getattr(model_config, "max_position_embeddings", None)
    return LoadedModel(model, tokenizer, base_model_name(base_model), device, config.load_in_4bit, context)


def prepare_for_training(model: Any, config: QLoRAConfig, *, quantized: bool) -> Any:
    """Freeze the base model, enable gradient checkpointing if asked, and attach a fresh LoRA adapter.

    The LoRA initialization is seeded with ``config.seed``. ``config.target_modules`` None means the
    registry's targets for the model's architecture (``config.json``'s ``model_type``). Returns the ``peft`` model.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    checkpointing_kwargs = {"use_reentrant": False}
    if quantized:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs=checkpointing_kwargs,
        )
    elif config.gradient_checkpointing:
        # transformers >= 5.2x renamed it activation checkpointing; older releases only have the old name
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=checkpointing_kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=checkpointing_kwargs)
        model.enable_input_require_grads()
    model.config.use_cache = False
    targets = config.target_modules or target_modules_for(None, architecture=getattr(model.config, "model_type", None))
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in targets if m not in present]
    if missing:
        raise QLoRAError(
            f"LoRA target module(s) {', '.join(missing)} do not exist in this model; "
            f"its linear layers include: {', '.join(sorted(n for n in present if n.endswith('proj'))[:12]) or 'none named *proj'}"
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(config.seed)
        with warnings.catch_warnings():  # peft still asks transformers for a since-renamed attribute
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, lora)
    finally:
        torch.random.set_rng_state(state)
