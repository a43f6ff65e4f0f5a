"""finetune-advisor: forecast whether LoRA/QLoRA fine-tuning pays off on a task, and with which base model.

Example:
    >>> from advisor import Advisor          # doctest: +SKIP
    >>> Advisor.load().rank(profile).best    # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

__all__ = ["Advisor", "Recommendation", "ModelForecast"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `advisor` commands that need no predictor start fast.
    if name == "Advisor":
        from advisor.api import Advisor

        return Advisor
    if name in ("Recommendation", "ModelForecast"):
        from advisor import recommendation

        return getattr(recommendation, name)
    raise AttributeError(f"module 'advisor' has no attribute {name!r}")
