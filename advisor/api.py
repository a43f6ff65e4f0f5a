"""The ``Advisor`` facade: profile a task (if needed), forecast every base model jointly, rank, explain."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from advisor.artifact import BUNDLE_FILE, PredictorBundle, load_bundle
from advisor.features import FeatureSpec, categorical_prefix, heuristics_frame
from advisor.forecaster import BASE_MEAN_FEATURE, JointForecast, JointForecaster
from advisor.recommendation import (
    Explanation,
    FeatureContribution,
    Gpt4Forecast,
    ModelForecast,
    Recommendation,
    SimilarTask,
)
from advisor.verdict import judge
from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile

#: P(best) the models worth validating add up to.
VALIDATION_COVERAGE = 0.8


class UnknownBaseModelError(ValueError):
    """A base model name the advisor has neither runs nor descriptors for."""


def shipped_artifact_dir() -> Path:
    """The artifact shipped inside the installed package (``models/``)."""
    import models

    return Path(models.__file__).resolve().parent


def local_artifact_dir() -> Path:
    """Where a forecaster refit on this machine's runs goes (``advisor onboard``): ``<data dir>/predictor``."""
    from training_runs.qlora.paths import data_dir

    return data_dir() / "predictor"


def default_artifact_dir() -> Path:
    """``ADVISOR_MODEL_DIR`` when set, else a forecaster refit on this machine's runs (:func:`local_artifact_dir`)
    when there is one, else the shipped artifact (:func:`shipped_artifact_dir`)."""
    if os.environ.get("ADVISOR_MODEL_DIR"):
        return Path(os.environ["ADVISOR_MODEL_DIR"])
    local = local_artifact_dir()
    if (local / BUNDLE_FILE).is_file():
        return local
    return shipped_artifact_dir()


def registry_descriptors() -> pd.DataFrame:
    """Descriptors (family, params_billion, instruction_tuned, release_year) of every registry base model."""
    from advisor.training_data import descriptors_frame
    from models.registry import load_registry

    rows = [
        {"model": info.name, "family": info.family or "other", "params_billion": info.params_billion,
         "instruction_tuned": bool(info.instruction_tuned), "release_date": info.release_date}
        for info in load_registry().values()
        if info.params_billion is not None and info.release_date is not None
    ]
    return descriptors_frame(pd.DataFrame(rows)) if rows else pd.DataFrame()


class Advisor:
    """Forecasts QLoRA fine-tuning outcomes per base model for a task and ranks the base models.

    The models ranked by default are those with runs (the study's ten, and any with local runs) and every
    model of the base-model registry (``models/base_models.csv``) or added with :meth:`with_base_model`; a
    model without runs is forecast from the study's models as a prior and flagged ``low_confidence``.

    Example:
        >>> adv = Advisor.load()                                   # doctest: +SKIP
        >>> rec = adv.rank(featurizers.load_task("my_task.csv"))   # doctest: +SKIP
        >>> rec.best.base_model, round(rec.best.predicted_score, 2), rec.verdict  # doctest: +SKIP
        ('mistral-7b', 0.81, 'likely')
    """

    def __init__(self, bundle: PredictorBundle, extra_models: pd.DataFrame | None = None) -> None:
        self._bundle = bundle
        trained = set(bundle.default.models_)
        extra = extra_models if extra_models is not None else pd.DataFrame()
        self._extra = extra[~extra.index.isin(trained)] if len(extra) else extra

    def with_base_model(
        self, name: str, *, params_billion: float, instruction_tuned: bool, release_date: str, family: str = "other"
    ) -> "Advisor":
        """A copy of this advisor that also forecasts and ranks ``name``, a base model with no fine-tuning runs.

        Its forecast comes from the task level plus the study's models as a prior (descriptors inform it only
        where leave-one-model-out showed they help; values outside the study's range are not extrapolated); it
        is flagged ``low_confidence`` with the prior's wider uncertainty.

        Example:
            >>> adv = Advisor.load().with_base_model(                      # doctest: +SKIP
            ...     "my-llama", params_billion=8.0, instruction_tuned=False, release_date="2024-04-18")
        """
        if not name or name in self.base_models:
            raise ValueError(f"base model {name!r} is empty or already known")
        if not params_billion > 0:
            raise ValueError(f"params_billion must be positive, got {params_billion}")
        released = pd.Timestamp(release_date)
        row = pd.DataFrame({"family": [family], "params_billion": [float(params_billion)],
                            "instruction_tuned": [float(bool(instruction_tuned))],
                            "release_year": [released.year + (released.day_of_year - 1) / 365.25]}, index=[name])
        return Advisor(self._bundle, pd.concat([self._extra, row]) if len(self._extra) else row)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None, *, registry: bool = True) -> "Advisor":
        """Load a trained artifact directory (default: :func:`default_artifact_dir`); with ``registry``, the
        registry's models without runs are ranked too."""
        bundle = load_bundle(path or default_artifact_dir(), featurizer_version=FEATURIZER_VERSION)
        return cls(bundle, registry_descriptors() if registry else None)

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
    def trained_models(self) -> list[str]:
        """Base models with runs in the training data."""
        return list(self._bundle.default.models_)

    @property
    def base_models(self) -> list[str]:
        """Every base model the advisor ranks: models with runs first, then models without runs."""
        return self.trained_models + [m for m in self._extra.index if m not in self.trained_models]

    @property
    def required_heuristics(self) -> list[str]:
        names = set(self._bundle.default.recipe.features) | set(self._bundle.with_base_scores.recipe.features)
        return sorted(n for n in names if categorical_prefix(n) is None)

    def reference_profiles(self) -> pd.DataFrame:
        """Heuristics of the profiled reference tasks (tasks x heuristic names, numbers only)."""
        return self._bundle.reference_heuristics.select_dtypes("number").copy()

    def study_results(self) -> pd.DataFrame:
        """Per reference task: best model and score, mean fine-tuned score, mean lift, GPT-4's score."""
        return self._bundle.reference_results.copy()

    # ------------------------------------------------------------------ ranking
    def rank(
        self,
        data_or_profile: object,
        base_models: Sequence[str] | None = None,
        base_scores: Mapping[str, float] | None = None,
        *,
        sample: int | None = None,
        exact: bool = False,
    ) -> Recommendation:
        """Forecast and rank base models for one task.

        ``data_or_profile``: a :class:`TaskProfile` or a ``tasks.TaskData`` (profiled here, with ``sample``
        rows or ``exact``). ``base_models``: restrict to these names (default: :attr:`base_models`).
        ``base_scores``: measured zero-shot scores of some base models on the task, in [0, 1] (e.g. from
        ``advisor probe``); when given, the forecaster that reads them is used.
        """
        models = self._check_models(base_models)
        measured = self._check_base_scores(base_scores)
        profile, name = self._profile_of(data_or_profile, sample=sample, exact=exact)
        forecaster = self._bundle.with_base_scores if measured else self._bundle.default
        heuristics = heuristics_frame({name: profile})
        base_frame = pd.DataFrame([measured], index=heuristics.index) if measured else None
        [forecast] = forecaster.predict(heuristics, base_scores=base_frame, models=models,
                                        descriptors=self._extra if len(self._extra) else None)
        return self._recommendation(forecaster, forecast, profile, heuristics, base_frame)

    def _recommendation(self, forecaster: JointForecaster, f: JointForecast, profile: TaskProfile,
                        heuristics: pd.DataFrame, base_scores: pd.DataFrame | None) -> Recommendation:
        low, high = f.interval()
        p_beat, p_best = f.p_beat_gpt4, f.p_best
        order = sorted(range(len(f.models)), key=lambda i: -f.center[i])
        forecasts = [
            ModelForecast(
                base_model=f.models[i], predicted_score=float(f.point[i]), interval_low=float(low[i]),
                interval_high=float(high[i]), predicted_base_score=float(f.base[i]),
                predicted_lift=float(f.point[i] - f.base[i]), p_beat_gpt4=float(p_beat[i]), p_best=float(p_best[i]),
                rank=rank + 1, interval_level=f.interval_level, low_confidence=f.models[i] in f.low_confidence,
                measured_base_score=f.measured_base.get(f.models[i]), runs=f.runs[f.models[i]],
            )
            for rank, i in enumerate(order)
        ]
        pick = order[0]
        verdict = judge(np.clip(f.samples[:, pick], 0, 1) - f.base[pick], low_confidence=forecasts[0].low_confidence)
        g_low, g_high = f.gpt4_interval()
        return Recommendation(
            forecasts=forecasts,
            explanation=self._explain(forecaster, heuristics, profile, base_scores),
            gpt4=Gpt4Forecast(f.gpt4_point, g_low, g_high),
            verdict=verdict.verdict,
            confidence=verdict.confidence,
            verdict_probability=verdict.probability,
            expected_regret=f.expected_regret,
            models_to_validate=f.models_to_validate(VALIDATION_COVERAGE),
            task=str(heuristics.index[0]),
            metric=profile.metric,
            n_examples=profile.n_examples,
            unique_examples=getattr(profile, "n_unique", None),
            warnings=[*getattr(profile, "warnings", ()), *f.warnings],
            predictor_version=self.predictor_version,
            featurizer_version=self.featurizer_version,
            profile=profile.to_dict(),
            draws=f.samples[:, order],
        )

    def _profile_of(self, data_or_profile: object, *, sample: int | None, exact: bool) -> tuple[TaskProfile, str]:
        """The task's profile (profiled here from a TaskData) and its name."""
        if isinstance(data_or_profile, TaskProfile):
            profile, name = data_or_profile, profile_name(data_or_profile)
        else:
            import featurizers

            if not isinstance(data_or_profile, featurizers.TaskData):
                raise TypeError(
                    f"rank() takes a TaskProfile or tasks.TaskData, not {type(data_or_profile).__name__}"
                )
            profile = featurizers.profile(data_or_profile, sample, exact=exact)
            name = str(data_or_profile.name)
        if profile.featurizer_version != self.featurizer_version:
            raise ValueError(
                f"profile was computed by featurizer version {profile.featurizer_version}, the predictor expects "
                f"{self.featurizer_version}; re-profile the data"
            )
        return profile, name

    def _check_models(self, base_models: Sequence[str] | None) -> list[str]:
        known = self.base_models
        if base_models is None:
            return known
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
    def _explain(self, forecaster: JointForecaster, heuristics: pd.DataFrame, profile: TaskProfile,
                 base_scores: pd.DataFrame | None) -> Explanation:
        contrib, method = level_contributions(forecaster, heuristics, base_scores)
        contributions = [
            FeatureContribution(feature=name, value=float(_raw_value(profile, heuristics, name)), contribution=float(value))
            for name, value in contrib.sort_values(key=np.abs, ascending=False).head(8).items()
        ]
        return Explanation(contributions=contributions, similar_tasks=self.similar_tasks(profile), method=method,
                           recipe=forecaster.recipe.name)

    def similar_tasks(self, profile: TaskProfile, k: int = 3) -> list[SimilarTask]:
        """The ``k`` reference tasks most like this one: of the same kind and metric first, then nearest in the
        (standardized) numeric heuristics the forecaster reads."""
        ref = self._bundle.reference_heuristics
        numeric = [n for n in self._bundle.default.recipe.features
                   if categorical_prefix(n) is None and n in ref.columns and ref[n].notna().all()]
        spec = FeatureSpec(tuple(numeric))
        matrix = spec.matrix(ref)
        mu, sd = matrix.mean(), matrix.std(ddof=0).replace(0, 1.0)
        point = (spec.matrix(pd.DataFrame([profile.heuristics], index=["task"])).iloc[0] - mu) / sd
        dist = np.sqrt((((matrix - mu) / sd - point) ** 2).sum(axis=1))
        same_kind = ref["task_type"].eq(profile.task_type) if "task_type" in ref else pd.Series(False, index=ref.index)
        same_metric = ref["metric"].eq(profile.metric) if "metric" in ref else pd.Series(False, index=ref.index)
        order = sorted(ref.index, key=lambda t: (not same_kind[t], not same_metric[t], dist[t]))
        results = self._bundle.reference_results
        out = []
        for task in [t for t in order if t in results.index][:k]:
            row = results.loc[task]
            gpt4 = row["gpt4_score"]
            out.append(SimilarTask(
                task=task, distance=float(dist[task]), best_model=str(row["best_model"]),
                best_finetuned_score=float(row["best_finetuned_score"]), mean_lift=float(row["mean_lift"]),
                gpt4_score=None if pd.isna(gpt4) else float(gpt4), same_kind=bool(same_kind[task]),
                same_metric=bool(same_metric[task]),
            ))
        return out


def profile_name(profile: TaskProfile) -> str:
    """A readable name of the profiled task: its source file's stem, else "task"."""
    if profile.source and not str(profile.source).startswith("<"):
        return Path(str(profile.source)).stem or "task"
    return "task"


def _raw_value(profile: TaskProfile, heuristics: pd.DataFrame, name: str) -> float:
    if name in profile.heuristics:
        return profile.heuristics[name]
    if name == BASE_MEAN_FEATURE:
        return math.nan
    return float(FeatureSpec((name,)).matrix(heuristics).iloc[0, 0])


def level_contributions(forecaster: JointForecaster, heuristics: pd.DataFrame,
                        base_scores: pd.DataFrame | None = None) -> tuple[pd.Series, str]:
    """Per-feature contributions (score points) to the forecast task level of one task.

    Ridge: coefficient x standardized value. Boosted trees: LightGBM's SHAP values (``pred_contrib``). Nearest
    tasks and the average: the change in forecast when the feature is set to the training tasks' average
    (occlusion).
    """
    level = forecaster.core_.level_
    features = list(forecaster.recipe.level.features)
    X = forecaster._matrices(heuristics)["level"]
    if forecaster.recipe.level.reads_base_scores and base_scores is not None:
        features.append(BASE_MEAN_FEATURE)
        X = X.assign(**{BASE_MEAN_FEATURE: forecaster.core_.base_mean(
            base_scores.to_numpy(dtype=float), list(base_scores.columns))})
    if level.recipe.regressor == "mean" or not features:
        return pd.Series(dtype=float), "average of the training tasks (no heuristics read)"
    if level.recipe.regressor == "ridge":
        ridge = level.model_
        z = (X[features].to_numpy(float)[0] - ridge.mean_) / ridge.scale_
        return pd.Series(ridge.coef_ * z, index=features), "ridge coefficients"
    if level.recipe.regressor == "lightgbm":
        shap = level.model_.predict(X[features].to_numpy(float), pred_contrib=True)[0][:-1]
        return pd.Series(shap, index=features), "SHAP (LightGBM)"
    train = forecaster._matrices(forecaster.train_heuristics_)["level"].reindex(columns=features)
    if BASE_MEAN_FEATURE in features:
        train[BASE_MEAN_FEATURE] = float(X[BASE_MEAN_FEATURE].iloc[0])
    base = level.predict(X)[0]
    out = {}
    for name in features:
        moved = X.copy()
        moved[name] = train[name].mean()
        out[name] = float(base - level.predict(moved)[0])
    return pd.Series(out), "occlusion"
