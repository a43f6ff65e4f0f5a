"""The bundled QLoRA runner: fine-tune a base model on a task with the study's recipe, evaluate, record.

Public API:

- :class:`QLoRAConfig`: the recipe (defaults = LoRA Land's), every field overridable;
- :func:`run_qlora` -> :class:`RunResult`: split, zero-shot score, train, fine-tuned score, adapter, record;
- :func:`train_adapter`: the training loop alone (used by the benchmark);
- adapter layout helpers for the multi-LoRA server: :func:`list_adapters`, :func:`read_adapter`,
  :func:`validate_adapter_name` (layout documented in :mod:`training_runs.qlora.adapters`).

Example:
    >>> from training_runs.qlora import QLoRAConfig
    >>> QLoRAConfig().lora_r
    8
"""
from __future__ import annotations

from training_runs.qlora.adapters import AdapterExistsError, AdapterInfo, list_adapters, read_adapter, validate_adapter_name
from training_runs.qlora.config import STUDY_MAX_STEPS, QLoRAConfig
from training_runs.qlora.errors import (
    CheckpointMismatchError,
    ConfigError,
    DatasetTooSmallError,
    ModelNotFoundError,
    PromptTooLongError,
    QLoRAError,
    QuantizationUnavailableError,
    TrainingOutOfMemoryError,
)
from training_runs.qlora.runner import RunResult, run_qlora
from training_runs.qlora.training import StepInfo, TrainStats, train_adapter

__all__ = [
    "AdapterExistsError", "AdapterInfo", "CheckpointMismatchError", "ConfigError", "DatasetTooSmallError", "ModelNotFoundError",
    "PromptTooLongError", "QLoRAConfig", "QLoRAError", "QuantizationUnavailableError", "RunResult",
    "STUDY_MAX_STEPS", "StepInfo", "TrainStats", "TrainingOutOfMemoryError", "list_adapters", "read_adapter",
    "run_qlora", "train_adapter", "validate_adapter_name",
]
