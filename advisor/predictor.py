"""The fitted predictor: scores, base scores, GPT-4's score, and calibrated uncertainty around them.

A :class:`Predictor` wraps one score estimator (the candidate chosen by cross-validation) and adds:
- a base-score estimator, for the zero-shot score and the lift when the user measured none;
- a task-level estimator of GPT-4's score (shown as the reference) and a direct estimator of the
  fine-tuned-minus-GPT-4 margin, for the chance that fine-tuning beats GPT-4;
- out-of-fold residuals of the score and margin estimators from grouped cross-validation *inside the
  training tasks*, from which it draws prediction intervals, P(beat GPT-4) and the expected regret of
  picking the top model;
- a descriptor-based offset model for base models that have no runs (flagged low confidence).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from advisor.estimators import ScoreEstimator, TwoStage, clip01, measured_base_mean
from advisor.features import FeatureSpec
from advisor.training_data import TrainingTable

#: Default nominal coverage of the prediction intervals.
INTERVAL_LEVEL = 0.8


@dataclass
class PredictorOutput:
    """Raw forecasts for a batch of tasks (each a tasks x models frame, or a per-task series)."""

    finetuned: pd.DataFrame
    interval_low: pd.DataFrame
    interval_high: pd.DataFrame
    base: pd.DataFrame
    gpt4: pd.Series
    p_beat_gpt4: pd.DataFrame
    expected_regret: pd.Series
    low_confidence: list[str]


@dataclass
class Predictor:
    """Score estimator plus calibration; ``fit`` then ``predict``.

    Example:
        >>> pred = Predictor(FeatureSpec(STUDY_FEATURES), TwoStage("ridge")).fit(table)  # doctest: +SKIP
        >>> out = pred.predict(table.heuristics)                                                  # doctest: +SKIP
    """

    spec: FeatureSpec
    estimator: ScoreEstimator
    aux_spec: FeatureSpec | None = None
    margin_model: str = "ridge"
    base_model: str = "ridge-select"
    interval_level: float = INTERVAL_LEVEL
    calibration_folds: int = 5
    seed: int = 0
    n_regret_draws: int = 2000
    residual_floor: float = 0.02
    fitted: bool = field(default=False, init=False)

    # ----------------------------------------------------------------- fitting
    def fit(self, table: TrainingTable) -> "Predictor":
        features = self.spec.matrix(table.heuristics)
        aux = self._aux_spec.matrix(table.heuristics)
        self.models_ = list(table.finetuned.columns)
        self.descriptors_ = table.descriptors
        self.estimator_ = self.estimator.clone().fit(table, features, "finetuned")
        self.base_estimator_ = self._base_estimator().fit(table, aux, "base")
        self.gpt4_estimator_ = _Gpt4Estimator().fit(table, aux)
        self.margin_estimator_ = self._margin_estimator().fit(table, aux, "margin")
        self.offset_model_ = DescriptorOffsets().fit(table)
        self.residuals_ = self._calibrate(table, features, aux)
        self.train_features_ = features
        self.fitted = True
        return self

    @property
    def _aux_spec(self) -> FeatureSpec:
        """Features of the auxiliary models (base score, GPT-4, margin): ``aux_spec`` or the main ``spec``."""
        return self.aux_spec or self.spec

    def _base_estimator(self) -> TwoStage:
        return TwoStage(self.base_model, "mean", seed=self.seed)

    def _margin_estimator(self) -> TwoStage:
        """Forecasts fine-tuned minus GPT-4 directly: one regression is steadier than the difference of two."""
        return TwoStage(self.margin_model, "mean", seed=self.seed)

    def _calibrate(self, table: TrainingTable, features: pd.DataFrame, aux: pd.DataFrame) -> dict[str, pd.DataFrame | pd.Series]:
        """Out-of-fold residuals (actual - forecast) over the training tasks, grouped by task.

        Tasks are dealt round-robin into ``calibration_folds`` folds (deterministic; every task once).
        """
        tasks = list(features.index)
        n_folds = min(self.calibration_folds, len(tasks))
        ft_res = pd.DataFrame(np.nan, index=features.index, columns=self.models_)
        margin_res = pd.DataFrame(np.nan, index=features.index, columns=self.models_)
        base = table.base if self.estimator.uses_base_scores else None
        for fold in range(n_folds):
            test = tasks[fold::n_folds]
            train_tasks = [t for i, t in enumerate(tasks) if i % n_folds != fold]
            train = table.subset(train_tasks)
            f_train, f_test = features.loc[train_tasks], features.loc[test]
            a_train, a_test = aux.loc[train_tasks], aux.loc[test]
            est = self.estimator.clone().fit(train, f_train, "finetuned")
            b_test = base.loc[test] if base is not None else None
            ft_res.loc[test] = (table.finetuned.loc[test, self.models_] - est.predict(f_test, b_test)).to_numpy()
            margin_est = self._margin_estimator().fit(train, a_train, "margin")
            margin_res.loc[test] = (
                table.finetuned.loc[test, self.models_].sub(table.gpt4.loc[test], axis=0) - margin_est.predict_raw(a_test)
            ).to_numpy()
        return {"finetuned": ft_res, "margin": margin_res}

    # -------------------------------------------------------------- predicting
    def predict(
        self,
        heuristics: pd.DataFrame,
        base_scores: pd.DataFrame | None = None,
        models: list[str] | None = None,
        descriptors: pd.DataFrame | None = None,
    ) -> PredictorOutput:
        """Forecasts for each task (row of ``heuristics``: raw heuristic values by name).

        ``base_scores``: measured zero-shot scores (tasks x models, NaN where not measured).
        ``models``: base models to forecast (default: every trained one); models without runs need a
        row in ``descriptors`` and are forecast from the task level plus a descriptor-based offset.
        """
        if not self.fitted:
            raise RuntimeError("Predictor.predict called before fit")
        models = list(self.models_ if models is None else models)
        unseen = [m for m in models if m not in self.models_]
        if unseen and (descriptors is None or any(m not in descriptors.index for m in unseen)):
            raise ValueError(f"base models {unseen} have no runs and no descriptors to forecast from")

        features = self.spec.matrix(heuristics)
        aux = self._aux_spec.matrix(heuristics)
        base_in = base_scores.reindex(index=features.index) if base_scores is not None else None
        use_base = self.estimator.uses_base_scores and measured_base_mean(base_in, features.index) is not None
        if self.estimator.uses_base_scores and not use_base:
            raise ValueError("this predictor needs measured zero-shot base scores for at least one base model")
        finetuned = self.estimator_.predict(features, base_in if use_base else None)
        base = self.base_estimator_.predict(aux)
        if base_in is not None:
            measured = base_in.reindex(columns=base.columns)
            base = measured.where(measured.notna(), base)
        if unseen:
            level = finetuned.mean(axis=1)
            base_level = base.mean(axis=1)
            offsets = self.offset_model_.predict(descriptors.loc[unseen])
            for m in unseen:
                finetuned[m] = (level + offsets.loc[m, "finetuned"]).clip(0, 1)
                measured_m = base_in[m] if base_in is not None and m in base_in else pd.Series(np.nan, index=features.index)
                base[m] = measured_m.where(measured_m.notna(), (base_level + offsets.loc[m, "base"]).clip(0, 1))
        finetuned, base = finetuned[models], base[models]

        alpha = (1 - self.interval_level) / 2
        q_low, q_high = np.quantile(self.residuals_["finetuned"].stack().to_numpy(), [alpha, 1 - alpha])
        widen = pd.Series([self.offset_model_.extra_spread_ if m in unseen else 0.0 for m in models], index=models)
        low = clip01((finetuned + q_low).sub(widen, axis=1))
        high = clip01((finetuned + q_high).add(widen, axis=1))

        gpt4 = self.gpt4_estimator_.predict(aux)
        margin = self.margin_estimator_.predict_raw(aux)
        for m in unseen:  # the same task-level margin, moved by the model's forecast offset
            margin[m] = margin.mean(axis=1) + (finetuned[m] - finetuned.drop(columns=unseen).mean(axis=1))
        p_beat = self._p_beat(margin[models], widen)
        regret = self._expected_regret(finetuned, widen)
        return PredictorOutput(finetuned, low, high, clip01(base), gpt4, p_beat, regret, unseen)

    def _p_beat(self, margin: pd.DataFrame, widen: pd.Series) -> pd.DataFrame:
        """P(fine-tuned beats GPT-4): the forecast margin plus out-of-fold margin errors, lightly smoothed."""
        noise = self.residuals_["margin"].stack().to_numpy()
        noise = noise[~np.isnan(noise)]
        spread = max(float(np.std(noise)), 1e-6)
        out = {}
        for model in margin.columns:
            scaled = noise * (1 + widen[model] / spread)
            wins = (margin[model].to_numpy()[:, None] + scaled[None, :] > 0).sum(axis=1)
            out[model] = (wins + 0.5) / (len(scaled) + 1.0)
        return pd.DataFrame(out, index=margin.index)

    def _expected_regret(self, finetuned: pd.DataFrame, widen: pd.Series) -> pd.Series:
        """E[best actual - actual of the top pick], drawing whole out-of-fold residual rows (per task)."""
        rng = np.random.default_rng(self.seed)
        resid = self.residuals_["finetuned"].reindex(columns=finetuned.columns)
        pool_std = float(np.nanstd(self.residuals_["finetuned"].to_numpy()))
        rows = resid.to_numpy()
        out = {}
        for task in finetuned.index:
            mean = finetuned.loc[task].to_numpy()
            draw = rows[rng.integers(0, len(rows), self.n_regret_draws)]
            # Unseen models have no residual column: draw theirs from the pooled spread.
            missing = np.isnan(draw)
            draw[missing] = rng.normal(0.0, pool_std, missing.sum())
            draw = draw * (1 + widen.to_numpy() / max(pool_std, 1e-6))[None, :] if widen.any() else draw
            actual = np.clip(mean[None, :] + draw, 0, 1)
            top = int(np.argmax(mean))
            out[task] = float(np.mean(actual.max(axis=1) - actual[:, top]))
        return pd.Series(out)


class _Gpt4Estimator:
    """Task-level ridge for GPT-4's score (tasks without a GPT-4 score are skipped)."""

    def fit(self, table: TrainingTable, features: pd.DataFrame) -> "_Gpt4Estimator":
        from advisor.estimators import ridge_regressor

        known = table.gpt4.loc[features.index].notna()
        if known.sum() < 3:
            raise ValueError("fewer than 3 training tasks have a GPT-4 score")
        self.model_ = ridge_regressor().fit(features[known].to_numpy(), table.gpt4.loc[features.index][known].to_numpy())
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(np.clip(self.model_.predict(features.to_numpy()), 0, 1), index=features.index)


class DescriptorOffsets:
    """A base model's mean deviation from the task mean, from its descriptors (for models without runs).

    ``extra_spread_`` is the leave-one-model-out error of that offset, added to intervals of such models.
    """

    def fit(self, table: TrainingTable) -> "DescriptorOffsets":
        self.columns_ = ["params_log", "instruction_tuned", "release_year"]
        X = self._design(table.descriptors)
        offsets = {}
        for target, y in (("finetuned", table.finetuned), ("base", table.base)):
            offsets[target] = y.sub(y.mean(axis=1), axis=0).mean(axis=0)
        self.models_ = {t: Ridge(alpha=1.0).fit(X, offsets[t].loc[table.descriptors.index].to_numpy()) for t in offsets}
        errors = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            m = Ridge(alpha=1.0).fit(X[keep], offsets["finetuned"].to_numpy()[keep])
            errors.append(abs(m.predict(X[i : i + 1])[0] - offsets["finetuned"].iloc[i]))
        self.extra_spread_ = float(np.mean(errors)) if errors else 0.0
        return self

    def _design(self, descriptors: pd.DataFrame) -> np.ndarray:
        X = np.column_stack([
            np.log(descriptors["params_billion"].to_numpy(dtype=float)),
            descriptors["instruction_tuned"].to_numpy(dtype=float),
            descriptors["release_year"].to_numpy(dtype=float) - 2023.0,
        ])
        return X

    def predict(self, descriptors: pd.DataFrame) -> pd.DataFrame:
        X = self._design(descriptors)
        return pd.DataFrame({t: m.predict(X) for t, m in self.models_.items()}, index=descriptors.index)
