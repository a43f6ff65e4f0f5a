"""Result types of the advisor: one forecast per base model, gathered in a Recommendation.

Every number in a :class:`Recommendation` comes from one joint predictive distribution of the task's
outcomes (:class:`advisor.forecaster.JointForecast`): the point forecasts, the intervals, P(beat GPT-4),
P(best), the expected regret, the verdict and the models worth validating agree with each other.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ModelForecast:
    """What QLoRA fine-tuning of one base model is forecast to reach on the task.

    Scores are on the task's own metric in [0, 1]. ``interval_low``/``interval_high`` bound the fine-tuned
    score with the nominal ``interval_level`` coverage (measured by nested cross-validation, see the model
    card). ``predicted_base_score`` is the zero-shot score (``measured_base_score`` when one was given),
    ``predicted_lift`` the fine-tuned minus that. ``p_beat_gpt4``: chance the fine-tuned model beats GPT-4;
    ``p_best``: chance it is the best of the models ranked. ``runs``: reference tasks this model has runs on;
    ``low_confidence`` is set for models forecast from a prior (no runs, or a few).
    """

    base_model: str
    predicted_score: float
    interval_low: float
    interval_high: float
    predicted_base_score: float
    predicted_lift: float
    p_beat_gpt4: float
    p_best: float
    rank: int
    interval_level: float = 0.8
    low_confidence: bool = False
    measured_base_score: float | None = None
    runs: int = 0


@dataclass(frozen=True)
class Gpt4Forecast:
    """GPT-4's forecast score on the task (no fine-tuning) with its interval."""

    score: float
    low: float
    high: float


@dataclass(frozen=True)
class FeatureContribution:
    """How much one heuristic moved the forecast (in score points) away from the average task."""

    feature: str
    value: float
    contribution: float


@dataclass(frozen=True)
class SimilarTask:
    """A reference task close to this one (same kind and metric first), with what fine-tuning did there."""

    task: str
    distance: float
    best_model: str
    best_finetuned_score: float
    mean_lift: float
    gpt4_score: float | None
    same_kind: bool = False
    same_metric: bool = False


@dataclass(frozen=True)
class Explanation:
    """Why the advisor forecasts what it does."""

    contributions: list[FeatureContribution]
    similar_tasks: list[SimilarTask]
    method: str
    recipe: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recommendation:
    """The ranked forecasts for one task. ``forecasts`` are sorted by rank (best first).

    ``verdict`` (``likely``/``possible``/``unlikely`` to pay off) and ``confidence`` come from the draws of the
    pick's lift (:mod:`advisor.verdict`); ``models_to_validate`` are the fewest models whose P(best) adds up to
    at least 80%. ``warnings`` says what limits the forecast (duplicates, heuristics outside the reference
    tasks' range, models without runs). ``draws`` holds the joint draws of the fine-tuned scores (draws x
    models, in the order of ``forecasts``), for validation to combine with measurements.

    Example:
        >>> rec.best.base_model            # doctest: +SKIP
        'mistral-7b'
        >>> rec.to_frame().columns[:3].tolist()  # doctest: +SKIP
        ['rank', 'base_model', 'predicted_score']
    """

    forecasts: list[ModelForecast]
    explanation: Explanation
    gpt4: Gpt4Forecast
    verdict: str
    confidence: str
    verdict_probability: float
    expected_regret: float
    models_to_validate: list[str]
    task: str = ""
    metric: str | None = None
    n_examples: int | None = None
    unique_examples: int | None = None
    warnings: list[str] = field(default_factory=list)
    predictor_version: str = ""
    featurizer_version: str = ""
    profile: dict[str, Any] = field(default_factory=dict)
    draws: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def best(self) -> ModelForecast:
        return self.forecasts[0]

    @property
    def gpt4_reference(self) -> float:
        """GPT-4's forecast score (``gpt4.score``)."""
        return self.gpt4.score

    @property
    def samples(self) -> pd.DataFrame | None:
        """The joint draws as a frame (draws x base models), or None when not kept."""
        if self.draws is None:
            return None
        return pd.DataFrame(self.draws, columns=[f.base_model for f in self.forecasts])

    def to_frame(self) -> pd.DataFrame:
        columns = [
            "rank", "base_model", "predicted_score", "interval_low", "interval_high", "predicted_base_score",
            "predicted_lift", "p_beat_gpt4", "p_best", "low_confidence", "runs", "measured_base_score",
        ]
        return pd.DataFrame([asdict(f) for f in self.forecasts])[columns]

    def to_json_dict(self, *, explain: bool = False) -> dict[str, Any]:
        """The ``advisor rank --json`` object (with ``explain``, the explanation too)."""
        out: dict[str, Any] = {
            "task": self.task,
            "metric": self.metric,
            "n_examples": self.n_examples,
            "unique_examples": self.unique_examples,
            "gpt4_forecast": asdict(self.gpt4),
            "verdict": self.verdict,
            "confidence": self.confidence,
            "verdict_probability": self.verdict_probability,
            "interval_level": self.best.interval_level,
            "expected_regret": self.expected_regret,
            "models_to_validate": list(self.models_to_validate),
            "warnings": list(self.warnings),
            "ranking": [
                {
                    "base_model": f.base_model, "predicted_score": f.predicted_score,
                    "interval_low": f.interval_low, "interval_high": f.interval_high,
                    "predicted_base": f.predicted_base_score, "predicted_lift": f.predicted_lift,
                    "p_beat_gpt4": f.p_beat_gpt4, "p_best": f.p_best, "rank": f.rank,
                    "low_confidence": f.low_confidence, "runs": f.runs,
                    "measured_base_score": f.measured_base_score,
                }
                for f in self.forecasts
            ],
            "predictor_version": self.predictor_version,
            "featurizer_version": self.featurizer_version,
        }
        if explain:
            out["explanation"] = self.explanation.to_dict()
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything (the JSON object with the explanation, the best model and the profile)."""
        return {**self.to_json_dict(explain=True), "best": self.best.base_model, "profile": self.profile}

    def explain(self) -> Explanation:
        return self.explanation
