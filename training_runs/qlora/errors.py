"""Errors of the QLoRA runner that a user can fix; each message names the problem and what to change.

They subclass ``ValueError`` (or ``OSError`` for missing files) so the ``advisor`` CLI prints them as one
line and exits with status 2.
"""
from __future__ import annotations


class QLoRAError(ValueError):
    """A fine-tuning run that cannot start or finish as configured; the message says why."""


class ConfigError(QLoRAError):
    """An invalid :class:`~training_runs.qlora.config.QLoRAConfig` value."""


class QuantizationUnavailableError(QLoRAError):
    """4-bit quantization was asked for where it cannot run (no CUDA, or bitsandbytes missing)."""


class DatasetTooSmallError(QLoRAError):
    """Too few examples for the held-out evaluation split plus a training split."""


class PromptTooLongError(QLoRAError):
    """An example does not fit the sequence budget and the truncation policy is ``refuse``."""


class CheckpointMismatchError(QLoRAError):
    """The output directory holds a checkpoint of a different run (other data, model or settings)."""


class TrainingOutOfMemoryError(QLoRAError):
    """The GPU ran out of memory; the message names the settings to lower."""


class ModelNotFoundError(OSError):
    """The base model is neither a local model directory nor available offline from the Hugging Face cache."""
