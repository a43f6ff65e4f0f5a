"""The joint forecaster: one predictive distribution per task over every base model's score and GPT-4's.

A :class:`Recipe` names four small models:

* the **level**: the task's mean fine-tuned score over the reference base models (:mod:`advisor.task_level`);
* the **spread**: each base model's deviation from that level (:mod:`advisor.spread`), which also places
  models with a few runs or none (descriptor prior, flagged low confidence);
* the **margin**: the task's mean fine-tuned score minus GPT-4's, so GPT-4's forecast is ``level - margin``;
* the **zero-shot level**: the task's mean zero-shot score (each model's zero-shot forecast, for the lift, adds
  its usual offset).

:class:`JointForecaster` fits them and, by refitting with each training task held out, collects the joint
out-of-fold errors that become the forecast's uncertainty (:mod:`advisor.uncertainty`). ``predict`` returns
a :class:`JointForecast` per task: draws of every model's score and GPT-4's score from one distribution, so
the point forecasts, intervals, P(beat GPT-4), P(best) and the expected regret all agree with each other.

Example:
    >>> from advisor.selection import choose_recipe                          # doctest: +SKIP
    >>> forecaster = JointForecaster(choose_recipe(table).recipe).fit(table)   # doctest: +SKIP
    >>> [forecast] = forecaster.predict(table.heuristics.iloc[[0]])             # doctest: +SKIP
    >>> forecast.p_best.round(2), forecast.interval()                           # doctest: +SKIP
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
from scipy.special import ndtr

from advisor.features import METRIC_FAMILY_PREFIX, FeatureSpec, categorical_prefix
from advisor.linear import StandardizedKNN, StandardizedRidgeCV
from advisor.spread import SpreadModel, SpreadRecipe
from advisor.task_level import LevelModel, LevelRecipe, task_level_values
from advisor.training_data import TrainingTable
from advisor.uncertainty import ResidualPool, ScaleModel, nearest_distances

#: Columns of the task level's and GPT-4's errors in the residual pool.
LEVEL = "level"
GPT4 = "gpt-4"
#: A model with runs on at least this share of the training tasks is a reference model (fit directly).
REFERENCE_SHARE = 0.9
#: Default nominal coverage of the intervals.
INTERVAL_LEVEL = 0.8
#: Bandwidth (score points) of the kernel that smooths each draw of fine-tuned minus GPT-4's score.
BEAT_KERNEL = 0.005
#: Feature the level reads from measured zero-shot scores.
BASE_MEAN_FEATURE = "measured_base_mean"
#: At most this many models are named in the warning about descriptors outside the study's range.
CLAMPED_LISTED = 5
#: Multipliers of the out-of-fold errors tried when calibrating the intervals inside the training tasks.
WIDTH_MULTIPLIERS: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5)


@dataclass(frozen=True)
class Recipe:
    """The component recipes of a forecaster, and whether it is given measured zero-shot scores.

    Example:
        >>> r = Recipe(LevelRecipe("mean"), SpreadRecipe(), LevelRecipe("mean"))
        >>> r.name
        'level mean | spread(offset only; penalty 3) | margin mean'
    """

    level: LevelRecipe
    spread: SpreadRecipe
    margin: LevelRecipe
    uses_base_scores: bool = False
    zero_shot: LevelRecipe = LevelRecipe("mean")

    @property
    def name(self) -> str:
        base = " | measured base scores" if self.uses_base_scores else ""
        return f"level {self.level.name} | {self.spread.name} | margin {self.margin.name}{base}"

    @property
    def features(self) -> tuple[str, ...]:
        """Every profile heuristic (or categorical indicator) any component reads."""
        return tuple(dict.fromkeys(self.level.features + self.spread.features + self.margin.features
                                   + self.zero_shot.features))

    def with_base_scores(self, uses: bool = True) -> "Recipe":
        """This recipe given measured zero-shot scores (its level reading their mean), or not."""
        return replace(self, uses_base_scores=uses, level=replace(self.level, reads_base_scores=uses))

    def __post_init__(self) -> None:
        if self.level.reads_base_scores and not self.uses_base_scores:
            raise ValueError("a level that reads measured zero-shot scores needs a recipe given them (uses_base_scores)")


def reference_models(scores: pd.DataFrame, share: float = REFERENCE_SHARE) -> list[str]:
    """Models with runs on at least ``share`` of the tasks (the study's ten on the study's tasks)."""
    counts = scores.notna().mean(axis=0)
    chosen = [m for m in scores.columns if counts[m] >= share - 1e-12]
    if not chosen:
        raise ValueError("no base model has runs on most training tasks; the forecaster needs reference models")
    return chosen


@dataclass
class JointForecast:
    """The predictive distribution of one task's outcomes.

    ``center`` (per model) and ``gpt4_center`` are the unclipped centers of the draws ``samples`` (draws x
    models) and ``gpt4_samples``; every number below is computed from these draws. Scores are on the task's
    metric in [0, 1]. ``base`` holds each model's zero-shot score (measured where ``measured_base`` says so,
    else forecast). ``runs`` counts each model's training tasks; ``low_confidence`` lists the models forecast
    from a prior (no runs, or fewer than the reference models); ``warnings`` says what limits the forecast.
    """

    task: str
    models: list[str]
    center: np.ndarray
    samples: np.ndarray
    gpt4_center: float
    gpt4_samples: np.ndarray
    base: np.ndarray
    measured_base: dict[str, float]
    runs: dict[str, int]
    low_confidence: list[str]
    warnings: list[str]
    level_scale: float
    spread_scale: float
    interval_level: float = INTERVAL_LEVEL
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def point(self) -> np.ndarray:
        """Point forecasts of the fine-tuned scores, clipped to [0, 1]."""
        return np.clip(self.center, 0.0, 1.0)

    @property
    def gpt4_point(self) -> float:
        return float(np.clip(self.gpt4_center, 0.0, 1.0))

    def interval(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` (default: the nominal level) intervals of each model's score."""
        alpha = (1 - (level or self.interval_level)) / 2
        clipped = np.clip(self.samples, 0.0, 1.0)
        return np.quantile(clipped, alpha, axis=0), np.quantile(clipped, 1 - alpha, axis=0)

    def gpt4_interval(self, level: float | None = None) -> tuple[float, float]:
        alpha = (1 - (level or self.interval_level)) / 2
        low, high = np.quantile(np.clip(self.gpt4_samples, 0.0, 1.0), [alpha, 1 - alpha])
        return float(low), float(high)

    @property
    def p_beat_gpt4(self) -> np.ndarray:
        """P(fine-tuned score > GPT-4's score) per model, from the joint draws, each draw smoothed by a narrow
        Gaussian kernel (:data:`BEAT_KERNEL`). The draws come in mirrored pairs around the centers, so the
        smoothed probability is below one half exactly when the model's center is below GPT-4's."""
        diff = self.samples - self.gpt4_samples[:, None]
        return ndtr(diff / BEAT_KERNEL).mean(axis=0)

    @property
    def p_best(self) -> np.ndarray:
        """P(this model scores highest among ``models``) per model."""
        if "p_best" not in self._cache:
            winners = np.argmax(self.samples, axis=1)
            self._cache["p_best"] = np.bincount(winners, minlength=len(self.models)) / len(winners)
        return self._cache["p_best"]

    @property
    def pick(self) -> int:
        """Index of the model with the highest point forecast."""
        return int(np.argmax(self.center))

    @property
    def expected_regret(self) -> float:
        """E[best model's score - the pick's score] over the draws (scores clipped to [0, 1])."""
        clipped = np.clip(self.samples, 0.0, 1.0)
        return float(np.mean(clipped.max(axis=1) - clipped[:, self.pick]))

    def models_to_validate(self, coverage: float = 0.8) -> list[str]:
        """The fewest models, by P(best), whose P(best) adds up to at least ``coverage``."""
        order = np.argsort(-self.p_best, kind="stable")
        total, chosen = 0.0, []
        for i in order:
            chosen.append(self.models[i])
            total += self.p_best[i]
            if total >= coverage - 1e-12:
                break
        return chosen


@dataclass
class _Data:
    """What one fit reads, as arrays over the same tasks (rows): scores and features."""

    scores: np.ndarray    # tasks x models, fine-tuned (NaN: no run)
    base: np.ndarray      # tasks x models, zero-shot (NaN: unknown)
    gpt4: np.ndarray      # tasks
    level: np.ndarray     # tasks x level features
    spread: np.ndarray    # tasks x spread features
    margin: np.ndarray    # tasks x margin features
    zero_shot: np.ndarray  # tasks x zero-shot level features
    shape: np.ndarray     # tasks x (level + spread features), standardized: for distances between tasks
    families: np.ndarray  # tasks x metric-family indicators

    def rows(self, index: np.ndarray | list[int]) -> "_Data":
        return _Data(*(getattr(self, f.name)[index] for f in fields(self)))


class _Core:
    """Level + spread + margin fitted on one set of tasks (no uncertainty): the unit refit out of fold."""

    def __init__(self, recipe: Recipe, seed: int, models: list[str], reference: list[str]) -> None:
        self.recipe = recipe
        self.seed = seed
        self.models = models
        self.reference = reference
        self.ref_index = [models.index(m) for m in reference]

    def fit(self, d: _Data, descriptors: pd.DataFrame | None) -> "_Core":
        levels = task_level_values(d.scores[:, self.ref_index])
        level_inputs = d.level
        if self.recipe.uses_base_scores:
            ref_base = np.nanmean(d.base[:, self.ref_index], axis=1, keepdims=True)
            self.base_typical_ = dict(zip(self.models, np.nan_to_num(np.nanmean(d.base - ref_base, axis=0))))
        if self.recipe.level.reads_base_scores:
            level_inputs = np.column_stack([d.level, self.base_mean(d.base, self.models)])
        self.level_ = LevelModel(self.recipe.level, self.seed).fit(level_inputs, levels)
        deviations = d.scores - levels[:, None]
        self.spread_ = SpreadModel(self.recipe.spread).fit_arrays(deviations, d.spread, self.models, descriptors,
                                                                  self.reference)
        self.margin_ = LevelModel(self.recipe.margin, self.seed).fit(d.margin, levels - d.gpt4)
        if self.recipe.uses_base_scores:
            fitted, _, _ = self.spread_.predict_arrays(d.spread, self.models, descriptors)
            resid = (deviations - fitted).ravel()
            x = self.base_offsets(d.base, self.models).ravel()
            ok = ~np.isnan(resid) & ~np.isnan(x)
            xs, rs = x[ok], resid[ok]
            # One shared slope: how much of a model's zero-shot edge on a task carries into its fine-tuned edge.
            self.base_slope_ = float(xs @ rs / (xs @ xs + 0.1)) if len(xs) else 0.0
        return self

    def _typical(self, models: list[str]) -> np.ndarray:
        return np.array([self.base_typical_.get(m, 0.0) for m in models])

    def base_mean(self, base: np.ndarray, models: list[str]) -> np.ndarray:
        """Per task: the mean measured zero-shot score (columns: ``models``), each model's typical deviation
        removed (NaN where none is measured)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(base - self._typical(models), axis=1)

    def base_offsets(self, base: np.ndarray, models: list[str]) -> np.ndarray:
        """Each measured model's zero-shot edge over the task's (adjusted) mean, beyond its typical edge."""
        return base - self.base_mean(base, models)[:, None] - self._typical(models)

    def predict(self, d: _Data, models: list[str], descriptors: pd.DataFrame | None, base: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, list[str]]]:
        """(level per task, deviation means and parameter variances (tasks x models), margin per task, clamped
        descriptors). ``base``: measured zero-shot scores (tasks x ``models``) for a forecaster that reads them."""
        level_inputs = d.level
        if self.recipe.uses_base_scores:
            if base is None:
                raise ValueError("this forecaster needs measured zero-shot base scores of at least one base model")
            mean = self.base_mean(base, models)
            if np.isnan(mean).any():
                raise ValueError("this forecaster needs a measured zero-shot score of at least one base model per task")
            if self.recipe.level.reads_base_scores:
                level_inputs = np.column_stack([d.level, mean])
        level = self.level_.predict(level_inputs)
        deviation, variance, clamped = self.spread_.predict_arrays(d.spread, models, descriptors)
        if self.recipe.uses_base_scores:
            deviation = deviation + self.base_slope_ * np.nan_to_num(self.base_offsets(base, models))
        return level, deviation, variance, self.margin_.predict(d.margin), clamped


class JointForecaster:
    """Fits a :class:`Recipe` on a :class:`TrainingTable` and forecasts joint outcome distributions.

    ``n_draws`` joint draws per task; ``seed`` makes fitting (LightGBM) and drawing deterministic.
    """

    def __init__(self, recipe: Recipe, *, seed: int = 0, n_draws: int = 4000,
                 interval_level: float = INTERVAL_LEVEL) -> None:
        if not 0 < interval_level < 1:
            raise ValueError(f"interval_level must be in (0, 1), got {interval_level}")
        self.recipe = recipe
        self.seed = seed
        self.n_draws = n_draws
        self.interval_level = interval_level

    # ------------------------------------------------------------------ features
    def _specs(self) -> dict[str, FeatureSpec]:
        r = self.recipe
        shape = tuple(dict.fromkeys(r.level.features + r.spread.features))
        return {"level": FeatureSpec(r.level.features), "spread": FeatureSpec(r.spread.features),
                "margin": FeatureSpec(r.margin.features), "zero_shot": FeatureSpec(r.zero_shot.features),
                "shape": FeatureSpec(shape)}

    def _matrices(self, heuristics: pd.DataFrame, *, fitting: bool = False) -> dict[str, pd.DataFrame]:
        """Feature frames of the components (numeric features clipped to the training range when forecasting)."""
        frames = {k: spec.matrix(heuristics) for k, spec in self._specs().items()}
        if fitting:
            self.range_ = {k: (f.min(axis=0), f.max(axis=0)) for k, f in frames.items()}
            self.shape_mean_ = frames["shape"].mean(axis=0)
            self.shape_scale_ = frames["shape"].std(axis=0, ddof=0).replace(0, 1.0)
        else:
            frames = {k: f.clip(self.range_[k][0], self.range_[k][1], axis=1) for k, f in frames.items()}
        frames["shape"] = (frames["shape"] - self.shape_mean_) / self.shape_scale_
        frames["families"] = frames["shape"][[c for c in frames["shape"].columns if c.startswith(METRIC_FAMILY_PREFIX)]]
        frames["families"] = frames["families"].apply(lambda c: (c > 0).astype(float))
        return frames

    def _data(self, heuristics: pd.DataFrame, *, fitting: bool = False, table: TrainingTable | None = None) -> _Data:
        frames = self._matrices(heuristics, fitting=fitting)
        n = len(heuristics)
        if table is not None:
            scores = table.finetuned.to_numpy(dtype=float)
            base = table.base.reindex(index=table.finetuned.index, columns=table.finetuned.columns).to_numpy(dtype=float)
            gpt4 = table.gpt4.reindex(table.finetuned.index).to_numpy(dtype=float)
        else:
            scores = base = np.full((n, 0), np.nan)
            gpt4 = np.full(n, np.nan)
        return _Data(scores, base, gpt4, *(frames[k].to_numpy(dtype=float) for k in
                                           ("level", "spread", "margin", "zero_shot", "shape", "families")))

    def out_of_range(self, heuristics: pd.Series) -> list[str]:
        """Names of the numeric heuristics of one task outside the training tasks' range."""
        row = pd.DataFrame([heuristics])
        out = []
        for key, spec in self._specs().items():
            if key == "shape":
                continue
            numeric = [n for n in spec.names if categorical_prefix(n) is None]
            if not numeric:
                continue
            values = FeatureSpec(tuple(numeric)).matrix(row).iloc[0]
            low, high = self.range_[key]
            for name in numeric:
                if (values[name] < low[name] - 1e-9 or values[name] > high[name] + 1e-9) and name not in out:
                    out.append(name)
        return out

    # ------------------------------------------------------------------ fitting
    def fit(self, table: TrainingTable) -> "JointForecaster":
        """Fit the components on every training task, and calibrate the uncertainty out of fold."""
        self.models_ = list(table.finetuned.columns)
        self.reference_ = reference_models(table.finetuned)
        self.descriptors_ = table.descriptors
        self.train_heuristics_ = table.heuristics
        d = self._data(table.heuristics, fitting=True, table=table)
        self.core_ = _Core(self.recipe, self.seed, self.models_, self.reference_).fit(d, table.descriptors)
        self.base_model_ = _BaseScores(self.recipe.zero_shot, self.seed, self.models_, self.reference_).fit(d, table.descriptors)
        self._calibrate(d, table.tasks, table.descriptors)
        return self

    def _disagreement_models(self, d: _Data, ref_index: list[int]) -> tuple | None:
        numeric = [j for j, name in enumerate(self.recipe.level.features) if categorical_prefix(name) is None]
        if not numeric or len(d.level) < 3:
            return None
        levels = task_level_values(d.scores[:, ref_index])
        X = d.level[:, numeric]
        return numeric, StandardizedRidgeCV().fit(X, levels), StandardizedKNN(min(5, len(X))).fit(X, levels)

    @staticmethod
    def _scale_inputs(query: _Data, train_shape: np.ndarray, members: tuple | None, families: list[str]) -> pd.DataFrame:
        """Per query task: distance to the training tasks, level disagreement, metric-family indicators."""
        inputs = pd.DataFrame(index=range(len(query.level)))
        if query.shape.shape[1]:
            inputs["distance"] = nearest_distances(query.shape, train_shape)
        if members is not None:
            numeric, ridge, knn = members
            X = query.level[:, numeric]
            inputs["disagreement"] = np.abs(ridge.predict(X) - knn.predict(X))
        for j, name in enumerate(families):
            inputs[name] = query.families[:, j]
        return inputs

    def _calibrate(self, d: _Data, tasks: list[str], descriptors: pd.DataFrame) -> None:
        """Out-of-fold errors (each training task forecast by a fit on the others) and the two scale models.

        A row holds the task level's error, each reference model's deviation error and GPT-4's error. The level
        and GPT-4 errors are scaled by one model (how hard the task is to place), the deviation errors by
        another (how widely models spread on such a task).
        """
        ref = [self.models_.index(m) for m in self.reference_]
        true_level = task_level_values(d.scores[:, ref])
        families = [c for c in self._specs()["shape"].names if c.startswith(METRIC_FAMILY_PREFIX)]
        n = len(tasks)
        rows, inputs, centers = [], [], []
        for i in range(n):
            others = np.array([j for j in range(n) if j != i])
            train, held = d.rows(others), d.rows([i])
            core = _Core(self.recipe, self.seed, self.models_, self.reference_).fit(train, descriptors)
            base = held.base[:, ref] if self.recipe.uses_base_scores else None
            level, deviation, _, margin, _ = core.predict(held, self.reference_, None, base)
            deviation_errors = (held.scores[0, ref] - true_level[i]) - deviation[0]
            rows.append(np.concatenate([[true_level[i] - level[0]], deviation_errors,
                                        [held.gpt4[0] - (level[0] - margin[0])]]))
            centers.append(level[0] + deviation[0])
            inputs.append(self._scale_inputs(held, train.shape, self._disagreement_models(train, ref), families))
        errors = np.array(rows)
        inputs = pd.concat(inputs, ignore_index=True)
        level_size = pd.Series(np.abs(errors[:, 0]))
        spread_size = pd.Series(np.sqrt(np.nanmean(errors[:, 1:-1] ** 2, axis=1)))
        # How widely models spread depends on the kind of task, not on how far it lies from the others.
        spread_inputs = inputs[families]
        self.level_scale_ = ScaleModel().fit(inputs, level_size)
        self.spread_scale_ = ScaleModel().fit(spread_inputs, spread_size)
        level_loo = ScaleModel.leave_one_out(inputs, level_size)
        spread_loo = ScaleModel.leave_one_out(spread_inputs, spread_size)
        standardized = errors.copy()
        standardized[:, 0] /= level_loo
        standardized[:, -1] /= level_loo
        standardized[:, 1:-1] /= spread_loo[:, None]
        self.pool_ = ResidualPool(standardized, [LEVEL, *self.reference_, GPT4])
        self.oof_errors_ = pd.DataFrame(errors, index=tasks, columns=[LEVEL, *self.reference_, GPT4])
        self.interval_multiplier_ = self._calibrate_width(np.array(centers), d.scores[:, ref], level_loo, spread_loo)
        self.members_ = self._disagreement_models(d, ref)
        self.train_shape_ = d.shape
        self.families_ = families

    def _calibrate_width(self, centers: np.ndarray, actual: np.ndarray, level_scale: np.ndarray,
                         spread_scale: np.ndarray) -> float:
        """The multiplier of the errors whose intervals cover the training tasks at the nominal level.

        Each training task's out-of-fold centers are combined with the error rows of the *other* training
        tasks (no task's own errors ever score it), at each multiplier of :data:`WIDTH_MULTIPLIERS`; the one whose
        coverage of the actual scores is nearest the nominal level is kept (ties: the narrower).
        """
        n = len(centers)
        if n < 5:
            return 1.0
        rng = np.random.default_rng(self.seed + 1)
        alpha = (1 - self.interval_level) / 2
        base = [rng.integers(0, n - 1, 400) for _ in range(n)]
        best = None
        for multiplier in WIDTH_MULTIPLIERS:
            inside = []
            for t in range(n):
                rows = np.delete(self.pool_.rows, t, axis=0)[base[t]]
                rows = np.concatenate([rows, -rows])
                samples = centers[t] + multiplier * (level_scale[t] * rows[:, [0]] + spread_scale[t] * rows[:, 1:-1])
                low, high = np.quantile(np.clip(samples, 0, 1), [alpha, 1 - alpha], axis=0)
                seen = ~np.isnan(actual[t])
                inside.extend(((actual[t] >= low) & (actual[t] <= high))[seen])
            gap = abs(float(np.mean(inside)) - self.interval_level)
            if best is None or gap < best[0] - 1e-9:
                best = (gap, multiplier)
        return best[1]

    # ------------------------------------------------------------------ predicting
    def predict(
        self,
        heuristics: pd.DataFrame,
        base_scores: pd.DataFrame | None = None,
        models: list[str] | None = None,
        descriptors: pd.DataFrame | None = None,
    ) -> list[JointForecast]:
        """One :class:`JointForecast` per row of ``heuristics`` (raw heuristic values by name, plus the
        categorical columns), for ``models`` (default: every model with runs). ``base_scores``: measured
        zero-shot scores (tasks x models, NaN where not measured). ``descriptors`` adds models without runs."""
        models = list(self.models_ if models is None else models)
        known = self.descriptors_ if descriptors is None else pd.concat(
            [self.descriptors_, descriptors[~descriptors.index.isin(self.descriptors_.index)]])
        query = self._data(heuristics)
        base_in = None if base_scores is None else base_scores.reindex(index=heuristics.index, columns=models)
        base_arr = None if base_in is None else base_in.to_numpy(dtype=float)
        level, deviation, variance, margin, clamped = self.core_.predict(query, models, known, base_arr)
        scale_inputs = self._scale_inputs(query, self.train_shape_, self.members_, self.families_)
        level_scales = self.interval_multiplier_ * self.level_scale_.predict(scale_inputs)
        spread_scales = self.interval_multiplier_ * self.spread_scale_.predict(scale_inputs[self.families_])
        base = self.base_model_.predict(query, models, known)
        runs = {m: self.core_.spread_.runs_.get(m, 0) for m in models}
        low_conf = [m for m in models if m not in self.reference_]
        columns = [self.pool_.column(m) if m in self.reference_ else None for m in models]
        rng = np.random.default_rng(self.seed)
        out = []
        for i, task in enumerate(heuristics.index):
            draws = self.pool_.draw(self.n_draws, rng)
            half = (self.n_draws + 1) // 2
            borrowed = 1 + np.tile(rng.integers(0, len(self.reference_), half), 2)[: self.n_draws]
            noise = rng.normal(0.0, 1.0, (half, len(models)))
            noise = np.concatenate([noise, -noise])[: self.n_draws]
            z = np.empty((self.n_draws, len(models)))
            for j, col in enumerate(columns):
                # A model without a column of its own borrows a random reference model's error of the same row.
                z[:, j] = draws[:, col] if col is not None else draws[np.arange(self.n_draws), borrowed]
            center = level[i] + deviation[i]
            samples = center + level_scales[i] * draws[:, [0]] + spread_scales[i] * z + noise * np.sqrt(variance[i])
            gpt4_center = level[i] - margin[i]
            gpt4 = gpt4_center + level_scales[i] * draws[:, self.pool_.column(GPT4)]
            measured = {} if base_arr is None else {
                m: float(v) for m, v in zip(models, base_arr[i]) if not np.isnan(v)}
            base_row = np.array([measured.get(m, base[i, j]) for j, m in enumerate(models)])
            out.append(JointForecast(
                task=str(task), models=models, center=center, samples=samples, gpt4_center=float(gpt4_center),
                gpt4_samples=gpt4, base=np.clip(base_row, 0.0, 1.0), measured_base=measured, runs=runs,
                low_confidence=low_conf, warnings=self._warnings(heuristics.loc[task], clamped, runs, low_conf),
                level_scale=float(level_scales[i]), spread_scale=float(spread_scales[i]),
                interval_level=self.interval_level,
            ))
        return out

    def _warnings(self, heuristics: pd.Series, clamped: dict[str, list[str]], runs: dict[str, int],
                  low_conf: list[str]) -> list[str]:
        out = []
        outside = self.out_of_range(heuristics)
        if outside:
            values = ", ".join(f"{n} = {heuristics[n]:.4g}" for n in outside if n in heuristics.index)
            out.append(f"outside the reference tasks' range (forecast as at the nearest edge): {values}")
        if clamped:
            listed = "; ".join(f"{model} ({', '.join(names)})" for model, names in clamped.items())
            if len(clamped) > CLAMPED_LISTED:
                listed = f"{len(clamped)} models, e.g. " + "; ".join(
                    f"{model} ({', '.join(names)})" for model, names in list(clamped.items())[:CLAMPED_LISTED])
            out.append(f"descriptors outside the study's models' range (their sizes and 2023-07 to 2024-02 releases), "
                       f"so the prior uses the nearest study value instead of extrapolating a trend: {listed}")
        without = [m for m in low_conf if runs[m] == 0]
        if without:
            out.append(f"{len(without)} model(s) have no runs and are forecast from the study's models as a prior "
                       f"(low confidence): {', '.join(without)}")
        few = [f"{m} ({runs[m]} tasks)" for m in low_conf if runs[m] > 0]
        if few:
            out.append(f"forecast from a few runs, shrunk toward the prior (low confidence): {', '.join(few)}")
        return out


class _BaseScores:
    """Zero-shot base score forecasts (for the lift): a level regressor plus per-model offsets with a prior."""

    def __init__(self, level: LevelRecipe, seed: int, models: list[str], reference: list[str]) -> None:
        self.level = level
        self.seed = seed
        self.models = models
        self.reference = reference

    def fit(self, d: _Data, descriptors: pd.DataFrame) -> "_BaseScores":
        complete = [m for m in self.reference if not np.isnan(d.base[:, self.models.index(m)]).any()] or self.reference
        levels = task_level_values(d.base[:, [self.models.index(m) for m in complete]])
        self.level_ = LevelModel(self.level, self.seed).fit(d.zero_shot, levels)
        self.spread_ = SpreadModel(SpreadRecipe((), 0.0)).fit_arrays(
            d.base - levels[:, None], np.zeros((len(levels), 0)), self.models, descriptors, complete)
        return self

    def predict(self, d: _Data, models: list[str], descriptors: pd.DataFrame) -> np.ndarray:
        deviation, _, _ = self.spread_.predict_arrays(np.zeros((len(d.level), 0)), models, descriptors)
        return deviation + self.level_.predict(d.zero_shot)[:, None]
