"""The ``Advisor`` facade: profile a task (if needed), forecast per base model, rank, explain."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from advisor.artifact import PredictorBundle, load_bundle
from advisor.estimators import Blend, LevelAndSpread, TwoStage
from advisor.features import TASK_TYPE_PREFIX, FeatureSpec, heuristics_frame
from advisor.predictor import Predictor
from advisor.recommendation import (
    Explanation,
    FeatureContribution,
    ModelForecast,
    Recommendation,
    SimilarTask,
)
from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile


class UnknownBaseModelError(ValueError):
    """A base model name the advisor has neither runs nor descriptors for."""


def default_artifact_dir() -> Path:
    """``ADVISOR_MODEL_DIR`` when set, else the artifact shipped inside the installed package (``models/``)."""
    if os.environ.get("ADVISOR_MODEL_DIR"):
        return Path(os.environ["ADVISOR_MODEL_DIR"])
    import models

    return Path(models.__file__).resolve().parent


class Advisor:
    """Forecasts QLoRA fine-tuning outcomes per base model for a task and ranks the base models.

    Example:
        >>> adv = Advisor.load()                                   # doctest: +SKIP
        >>> rec = adv.rank(featurizers.load_task("my_task.csv"))   # doctest: +SKIP
        >>> rec.best.base_model, round(rec.best.predicted_score, 2)  # doctest: +SKIP
        ('mistral-7b', 0.81)
    """

    def __init__(self, bundle: PredictorBundle) -> None:
        self._bundle = bundle
        self._descriptors = bundle.descriptors.copy()

    def with_base_model(
        self, name: str, *, params_billion: float, instruction_tuned: bool, release_date: str, family: str = "other"
    ) -> "Advisor":
        """A copy of this advisor that can also forecast ``name``, a base model with no fine-tuning runs.

        Its forecasts come from the task level plus an offset learned from the descriptors of the study's
        base models (size, instruction tuning, release date); they are flagged ``low_confidence`` and get
        wider intervals (the leave-one-model-out error in the model card).

        Example:
            >>> adv = Advisor.load().with_base_model(                      # doctest: +SKIP
            ...     "llama-3-8b", params_billion=8.0, instruction_tuned=False, release_date="2024-04-18")
        """
        if not name or name in self.base_models:
            raise ValueError(f"base model {name!r} is empty or already known")
        if not params_billion > 0:
            raise ValueError(f"params_billion must be positive, got {params_billion}")
        released = pd.Timestamp(release_date)
        other = Advisor(self._bundle)
        other._descriptors = pd.concat([self._descriptors, pd.DataFrame(
            {"family": [family], "params_billion": [float(params_billion)], "instruction_tuned": [float(bool(instruction_tuned))],
             "release_year": [released.year + (released.day_of_year - 1) / 365.25]}, index=[name])])
        return other

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None) -> "Advisor":
        """Load a trained artifact directory (default: the one shipped in ``models/``)."""
        return cls(load_bundle(path or default_artifact_dir(), featurizer_version=FEATURIZER_VERSION))

    @property
    def predictor_version(self) -> str:
        return self._bundle.predictor_version

    @property
    def featurizer_version(self) -> str:
        return self._bundle.featurizer_version

    @property
    def model_card(self) -> dict:
        return self._bundle.card

    @property
    def base_models(self) -> list[str]:
        """Every base model the advisor can forecast (trained ones first, then descriptor-only ones)."""
        trained = self._bundle.default.models_
        return trained + [m for m in self._descriptors.index if m not in trained]

    @property
    def required_heuristics(self) -> list[str]:
        return sorted(set(self._bundle.default.spec.names) | set(self._bundle.with_base_scores.spec.names))

    def reference_profiles(self) -> pd.DataFrame:
        """Heuristics of the profiled reference tasks (tasks x heuristic names)."""
        return self._bundle.reference_heuristics.copy()

    def study_results(self) -> pd.DataFrame:
        """Per reference task: best model and score, mean fine-tuned score, mean lift, GPT-4's score."""
        return self._bundle.reference_results.copy()

    # ------------------------------------------------------------------ ranking
    def rank(
        self,
        data_or_profile: object,
        base_models: Sequence[str] | None = None,
        base_scores: Mapping[str, float] | None = None,
    ) -> Recommendation:
        """Forecast and rank base models for one task.

        ``data_or_profile``: a :class:`TaskProfile` or a ``featurizers.TaskData`` (profiled here).
        ``base_models``: restrict to these names (default: all). ``base_scores``: measured zero-shot scores
        of some base models on the task, in [0, 1]; when given, the base-score-aware predictor is used.
        """
        profile = self._profile_of(data_or_profile)
        models = self._check_models(base_models)
        measured = self._check_base_scores(base_scores)
        predictor = self._bundle.with_base_scores if measured else self._bundle.default
        heuristics = heuristics_frame({"task": profile})
        features = predictor.spec.matrix(heuristics)
        base_frame = pd.DataFrame([measured], index=["task"]) if measured else None
        out = predictor.predict(heuristics, base_scores=base_frame, models=models, descriptors=self._descriptors)

        scores = out.finetuned.loc["task"]
        order = scores.sort_values(ascending=False, kind="mergesort").index
        forecasts = [
            ModelForecast(
                base_model=m,
                predicted_score=float(scores[m]),
                interval_low=float(out.interval_low.loc["task", m]),
                interval_high=float(out.interval_high.loc["task", m]),
                predicted_base_score=float(out.base.loc["task", m]),
                predicted_lift=float(scores[m] - out.base.loc["task", m]),
                p_beat_gpt4=float(out.p_beat_gpt4.loc["task", m]),
                rank=i + 1,
                interval_level=predictor.interval_level,
                low_confidence=m in out.low_confidence,
                measured_base_score=measured.get(m) if measured else None,
            )
            for i, m in enumerate(order)
        ]
        return Recommendation(
            forecasts=forecasts,
            explanation=self._explain(predictor, features, profile),
            gpt4_reference=float(out.gpt4.loc["task"]),
            expected_regret=float(out.expected_regret.loc["task"]),
            predictor_version=self.predictor_version,
            featurizer_version=self.featurizer_version,
            profile=profile.to_dict(),
        )

    def _profile_of(self, data_or_profile: object) -> TaskProfile:
        if isinstance(data_or_profile, TaskProfile):
            profile = data_or_profile
        else:
            import featurizers

            if not isinstance(data_or_profile, featurizers.TaskData):
                raise TypeError(
                    f"rank() takes a TaskProfile or featurizers.TaskData, not {type(data_or_profile).__name__}"
                )
            profile = featurizers.profile(data_or_profile, embeddings=False)
        if profile.featurizer_version != self.featurizer_version:
            raise ValueError(
                f"profile was computed by featurizer version {profile.featurizer_version}, the predictor expects "
                f"{self.featurizer_version}; re-profile the data"
            )
        return profile

    def _check_models(self, base_models: Sequence[str] | None) -> list[str]:
        known = self.base_models
        if base_models is None:
            return list(self._bundle.default.models_)
        models = list(dict.fromkeys(base_models))
        unknown = [m for m in models if m not in known]
        if unknown:
            raise UnknownBaseModelError(f"unknown base model(s) {unknown}; known: {', '.join(known)}")
        if not models:
            raise ValueError("base_models is empty; name at least one base model")
        return models

    def _check_base_scores(self, base_scores: Mapping[str, float] | None) -> dict[str, float]:
        if not base_scores:
            return {}
        out = {}
        for model, value in base_scores.items():
            if model not in self.base_models:
                raise UnknownBaseModelError(f"base score given for unknown base model {model!r}; known: {', '.join(self.base_models)}")
            value = float(value)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ValueError(f"base score of {model} is {value}; scores are on the task metric in [0, 1]")
            out[model] = value
        return out

    # --------------------------------------------------------------- explaining
    def _explain(self, predictor: Predictor, features: pd.DataFrame, profile: TaskProfile) -> Explanation:
        contrib, method = task_level_contributions(predictor, features)
        contributions = [
            FeatureContribution(
                feature=name, value=float(profile.heuristics.get(name, features.loc["task", name])), contribution=float(value)
            )
            for name, value in contrib.sort_values(key=np.abs, ascending=False).head(8).items()
        ]
        return Explanation(contributions=contributions, similar_tasks=self.similar_tasks(profile), method=method)

    def similar_tasks(self, profile: TaskProfile, k: int = 3) -> list[SimilarTask]:
        """The ``k`` reference tasks nearest in (standardized) study-heuristic space, with their results."""
        # Similarity in the numeric heuristics the predictor reads (reference profiles keep numbers only).
        spec = FeatureSpec(tuple(n for n in self._bundle.default.spec.names if not n.startswith(TASK_TYPE_PREFIX)))
        ref = spec.matrix(self._bundle.reference_heuristics)
        mu, sd = ref.mean(), ref.std(ddof=0).replace(0, 1.0)
        point = (spec.matrix(pd.DataFrame([profile.heuristics], index=["task"])).iloc[0] - mu) / sd
        dist = np.sqrt((((ref - mu) / sd - point) ** 2).sum(axis=1)).sort_values()
        results = self._bundle.reference_results
        out = []
        for task, d in dist.head(k).items():
            row = results.loc[task]
            gpt4 = row["gpt4_score"]
            out.append(SimilarTask(
                task=task, distance=float(d), best_model=str(row["best_model"]),
                best_finetuned_score=float(row["best_finetuned_score"]), mean_lift=float(row["mean_lift"]),
                gpt4_score=None if pd.isna(gpt4) else float(gpt4),
            ))
        return out


def task_level_contributions(predictor: Predictor, features: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per-feature contributions (score points) to the forecast task-level score of one task.

    Linear task models: coefficient x (value - training mean). Trees: LightGBM's SHAP values
    (``pred_contrib``). Nearest neighbours and the joint model: the change in forecast when the feature is
    set to the training tasks' average (occlusion). A blend averages its members' contributions; a
    level-and-spread model's task level is its level model's.
    """
    estimator = predictor.estimator_
    if isinstance(estimator, LevelAndSpread):
        part, method = _member_contributions(estimator.level_, predictor, features, estimator.level_features)
        return part.loc[list(predictor.spec.names)], method
    members = estimator.members if isinstance(estimator, Blend) else [estimator]
    parts, methods = [], []
    for member in members:
        part, method = _member_contributions(member, predictor, features)
        parts.append(part)
        methods.append(method)
    total = sum(parts) / len(parts)
    return total.loc[list(predictor.spec.names)], " + ".join(dict.fromkeys(methods))


def _member_contributions(member, predictor: Predictor, features: pd.DataFrame,
                          columns: Sequence[str] | None = None) -> tuple[pd.Series, str]:
    """Contributions of the features ``member`` reads (``columns`` of ``features``, default all); 0 for the rest."""
    names = list(predictor.spec.names)
    view = features[list(columns)] if columns is not None else features
    if isinstance(member, TwoStage):
        X = member._task_inputs(view, None) if not member.use_base_scores else None
        if member.task_level in ("ridge", "ridge-select") and X is not None:
            ridge = member.task_model_
            z = (X.to_numpy()[0] - ridge.mean_) / ridge.scale_
            return pd.Series(ridge.coef_ * z, index=member.feature_names_).reindex(names).fillna(0.0), "ridge coefficients"
        if member.task_level == "lightgbm" and X is not None:
            shap = member.task_model_.predict(X.to_numpy(), pred_contrib=True)[0][:-1]
            return pd.Series(shap, index=member.feature_names_).reindex(names).fillna(0.0), "SHAP (LightGBM)"
    # Occlusion for everything else (nearest tasks, base-score-aware and joint models).
    train = predictor.train_features_
    base = _neutral_base(predictor, features) if member.uses_base_scores else None
    base_pred = member.predict(view, base)
    out = {}
    for name in view.columns:
        moved = view.copy()
        moved[name] = train[name].mean()
        pred = member.predict(moved, base)
        out[name] = float(base_pred.mean(axis=1).iloc[0] - pred.mean(axis=1).iloc[0])
    return pd.Series(out).reindex(names).fillna(0.0), "occlusion"


def _neutral_base(predictor: Predictor, features: pd.DataFrame) -> pd.DataFrame:
    """Forecast base scores, standing in for measured ones when explaining base-score-aware models."""
    return predictor.base_estimator_.predict(features)
