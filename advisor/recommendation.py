"""Result types of the advisor: one forecast per base model, gathered in a Recommendation."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ModelForecast:
    """What QLoRA fine-tuning of one base model is forecast to reach on the task.

    Scores are on the task's own metric in [0, 1]. ``interval_low``/``interval_high`` bound the
    fine-tuned score with the nominal ``interval_level`` coverage (measured by cross-validation and
    stated in the model card). ``low_confidence`` is set for base models absent from the training
    runs (forecast from descriptors only).
    """

    base_model: str
    predicted_score: float
    interval_low: float
    interval_high: float
    predicted_base_score: float
    predicted_lift: float
    p_beat_gpt4: float
    rank: int
    interval_level: float = 0.8
    low_confidence: bool = False
    measured_base_score: float | None = None


@dataclass(frozen=True)
class FeatureContribution:
    """How much one heuristic moved the forecast (in score points) away from the average task."""

    feature: str
    value: float
    contribution: float


@dataclass(frozen=True)
class SimilarTask:
    """A reference task close in heuristic space, with what fine-tuning actually did there."""

    task: str
    distance: float
    best_model: str
    best_finetuned_score: float
    mean_lift: float
    gpt4_score: float | None


@dataclass(frozen=True)
class Explanation:
    """Why the advisor forecasts what it does."""

    contributions: list[FeatureContribution]
    similar_tasks: list[SimilarTask]
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recommendation:
    """The ranked forecasts for one task. ``forecasts`` are sorted by rank (best first).

    Example:
        >>> rec.best.base_model            # doctest: +SKIP
        'mistral-7b'
        >>> rec.to_frame().columns[:3].tolist()  # doctest: +SKIP
        ['rank', 'base_model', 'predicted_score']
    """

    forecasts: list[ModelForecast]
    explanation: Explanation
    gpt4_reference: float | None = None
    expected_regret: float = 0.0
    predictor_version: str = ""
    featurizer_version: str = ""
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> ModelForecast:
        return self.forecasts[0]

    def to_frame(self) -> pd.DataFrame:
        columns = [
            "rank", "base_model", "predicted_score", "interval_low", "interval_high",
            "predicted_base_score", "predicted_lift", "p_beat_gpt4", "low_confidence", "measured_base_score",
        ]
        return pd.DataFrame([asdict(f) for f in self.forecasts])[columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "forecasts": [asdict(f) for f in self.forecasts],
            "best": self.best.base_model,
            "expected_regret": self.expected_regret,
            "gpt4_reference": self.gpt4_reference,
            "explanation": self.explanation.to_dict(),
            "predictor_version": self.predictor_version,
            "featurizer_version": self.featurizer_version,
            "profile": self.profile,
        }

    def explain(self) -> Explanation:
        return self.explanation
