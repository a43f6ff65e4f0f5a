"""The fine-tuning recipe as a dataclass whose defaults are LoRA Land's (paper Figure 4, Ludwig config).

Study recipe: 4-bit NF4 quantization (bitsandbytes, double quantization) with bf16 compute; LoRA r=8 on
``q_proj`` and ``v_proj``; Adam(W) at lr 2e-4; cosine decay with 3% warmup; effective batch 16 through
gradient accumulation. Choices the paper does not pin down, documented here:

- ``target_modules=None`` means the study's targets as the base model's architecture names them: the
  registry's ``lora_target_modules`` (``q_proj``/``v_proj``, or the fused ``qkv_proj`` of Phi-3-style
  models; see :func:`models.registry.target_modules_for`); the runner resolves it before training;

- ``lora_alpha=16`` and ``lora_dropout=0.05`` (peft/Ludwig defaults for r=8);
- effective batch 16 as 4 sequences x 4 accumulation steps (the study: 1 x 16). With length-grouped
  batches the four sequences have nearly equal lengths, so little compute goes to padding while the GPU
  sees larger matrices; set ``per_device_batch_size=1, gradient_accumulation_steps=16`` for the exact
  study setting;
- ``max_steps=1000`` (the study trained 40,000 steps, :data:`STUDY_MAX_STEPS`; a local check does not need
  that many) and ``max_seq_length=1024`` tokens.

Example:
    >>> config = QLoRAConfig(max_steps=50, eval_size=20)
    >>> config.effective_batch_size, config.lora_r, config.target_modules
    (16, 8, None)
    >>> QLoRAConfig(target_modules=["q_proj", "v_proj"]).target_modules
    ('q_proj', 'v_proj')
    >>> QLoRAConfig.plain_lora(max_steps=5).load_in_4bit
    False
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from training_runs.qlora.errors import ConfigError

#: Training steps of every LoRA Land run.
STUDY_MAX_STEPS = 40_000

TruncationPolicy = Literal["truncate", "refuse"]
_DTYPES = ("bfloat16", "float16", "float32")
#: Devices the runner trains on: the CPU, or a CUDA GPU (``cuda`` is GPU 0).
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class QLoRAConfig:
    """Settings of one fine-tuning run; the defaults are the study's recipe (see the module docstring).

    Quantization and precision:
        ``load_in_4bit`` (NF4 via bitsandbytes; needs CUDA), ``bnb_4bit_quant_type``,
        ``bnb_4bit_use_double_quant``, ``compute_dtype`` (autocast dtype on CUDA; CPU always computes in
        float32).
    LoRA: ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``target_modules`` (``None``: the base model's
        equivalent of the study's ``q_proj``/``v_proj``, from the registry).
    Optimization: ``learning_rate``, ``weight_decay``, ``warmup_ratio`` (cosine decay after it),
        ``per_device_batch_size`` x ``gradient_accumulation_steps`` = effective batch, ``max_steps``,
        ``max_grad_norm``, ``gradient_checkpointing``, ``group_by_length`` (sort sequences of similar
        length into the same micro-batch so padding costs almost nothing).
    Sequences: ``max_seq_length`` (tokens of prompt + completion; capped at the model's context) and
        ``truncation``: ``"truncate"`` cuts over-long prompts from the left (keeping the end of the prompt,
        next to the answer) and counts them, ``"refuse"`` raises
        :class:`~training_runs.qlora.errors.PromptTooLongError`.
    Evaluation: ``eval_size`` held-out examples (the rest trains), ``eval_batch_size``, ``max_new_tokens``
        (greedy decoding; further capped by the longest training completion).
    Bookkeeping: ``save_steps`` (checkpoint interval), ``seed``, ``output_dir`` (checkpoints; ``None``: a
        directory derived from the run's settings, so rerunning the same command resumes),
        ``adapters_dir`` and ``adapter_name`` (where the finished adapter goes), ``device`` (``None``:
        CUDA when available, else CPU).
    """

    load_in_4bit: bool = True
    bnb_4bit_quant_type: str = "nf4"
    bnb_4bit_use_double_quant: bool = True
    compute_dtype: str = "bfloat16"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    max_steps: int = 1000
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    max_seq_length: int = 1024
    truncation: TruncationPolicy = "truncate"
    eval_size: int = 100
    eval_batch_size: int = 8
    max_new_tokens: int = 128
    save_steps: int = 100
    seed: int = 0
    output_dir: str | None = None
    adapters_dir: str | None = None
    adapter_name: str | None = None
    device: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target_modules is not None:
            if isinstance(self.target_modules, str):
                raise ConfigError(f"target_modules must be a sequence of module names, got {self.target_modules!r}")
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        positive = {
            "lora_r": self.lora_r, "per_device_batch_size": self.per_device_batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps, "max_steps": self.max_steps,
            "max_seq_length": self.max_seq_length, "eval_size": self.eval_size,
            "eval_batch_size": self.eval_batch_size, "max_new_tokens": self.max_new_tokens,
            "save_steps": self.save_steps,
        }
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha must be positive, got {self.lora_alpha!r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.truncation not in ("truncate", "refuse"):
            raise ConfigError(f"truncation must be 'truncate' or 'refuse', got {self.truncation!r}")
        if self.compute_dtype not in _DTYPES:
            raise ConfigError(f"compute_dtype must be one of {', '.join(_DTYPES)}, got {self.compute_dtype!r}")
        if self.bnb_4bit_quant_type not in ("nf4", "fp4"):
            raise ConfigError(f"bnb_4bit_quant_type must be 'nf4' or 'fp4', got {self.bnb_4bit_quant_type!r}")
        if self.target_modules is not None and (
            not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules)
        ):
            raise ConfigError(f"target_modules must name at least one module, got {self.target_modules!r}")
        if self.device is not None and not (isinstance(self.device, str) and _DEVICE.fullmatch(self.device)):
            raise ConfigError(f"device {self.device!r} is not one the runner trains on; use cpu, cuda or cuda:N")

    @classmethod
    def plain_lora(cls, **overrides: Any) -> "QLoRAConfig":
        """The recipe without quantization (plain LoRA), e.g. for small models on a CPU."""
        return cls(**{"load_in_4bit": False, **overrides})

    @property
    def effective_batch_size(self) -> int:
        """Sequences per optimizer step: ``per_device_batch_size * gradient_accumulation_steps``."""
        return self.per_device_batch_size * self.gradient_accumulation_steps

    @property
    def warmup_steps(self) -> int:
        """Linear warmup steps before the cosine decay (at least 1 when ``warmup_ratio`` > 0)."""
        if self.warmup_ratio == 0:
            return 0
        return max(1, round(self.warmup_ratio * self.max_steps))

    def replace(self, **changes: Any) -> "QLoRAConfig":
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (recorded with the run as its hyperparameters)."""
        data = dataclasses.asdict(self)
        data["target_modules"] = None if self.target_modules is None else list(self.target_modules)
        data["effective_batch_size"] = self.effective_batch_size
        return data

    def training_fingerprint(self) -> str:
        """A hash of the settings that change the trained weights (not paths, device or evaluation)."""
        ignored = {"output_dir", "adapters_dir", "adapter_name", "device", "eval_batch_size", "max_new_tokens",
                   "save_steps"}
        relevant = {k: v for k, v in self.to_dict().items() if k not in ignored}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()
