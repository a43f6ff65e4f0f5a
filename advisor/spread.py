"""How base models spread around a task's level: each model's deviation from the task mean, by task kind.

A base model's deviation on task t is ``d[t, m] = theta_m . phi(t) + noise``: an intercept (the model's usual
offset) plus slopes on a few task features, mostly indicators of the task's kind and metric family (the
study's models differ most on exact-answer tasks such as multiple choice, where some never learn the
format). The coefficients are

* fit by ridge regression for the *reference* models, which ran (nearly) every training task;
* for any other model, the Bayesian posterior given the runs it has (zero, one or a few tasks), under a prior
  learned from the reference models: a prior mean from the model's descriptors (size, instruction tuning,
  release date) where leave-one-model-out error shows they help, else the reference models' average, and a
  prior variance equal to that leave-one-model-out error. A model with runs on three tasks is forecast from
  its own offset and kind strengths, shrunk toward the prior as far as three tasks justify, with the
  parameter variance that remains (:attr:`SpreadForecast.variance`).

Example:
    >>> import numpy as np, pandas as pd
    >>> tasks = [f"t{i}" for i in range(8)]
    >>> kind = pd.DataFrame({"exact": [1.0, 0.0] * 4}, index=tasks)
    >>> dev = pd.DataFrame({"good": 0.05 + 0.1 * kind["exact"], "bad": -0.05 - 0.1 * kind["exact"]})
    >>> model = SpreadModel(SpreadRecipe(("exact",), penalty=0.01)).fit(dev, kind)
    >>> model.predict(kind.iloc[:2], ["good", "bad"]).mean.round(2).to_numpy().tolist()
    [[0.15, -0.15], [0.05, -0.05]]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Model descriptors the prior reads (columns of ``advisor.training_data.descriptors_frame``).
DESCRIPTORS: tuple[str, ...] = ("params_billion", "instruction_tuned", "release_year")
#: Penalties of the descriptor ridge tried by leave-one-model-out (besides the descriptor-free average).
DESCRIPTOR_PENALTIES: tuple[float, ...] = (1.0, 10.0)
#: Floor of each prior coefficient variance (a prior can never be certain).
MIN_PRIOR_VARIANCE = 1e-4


@dataclass(frozen=True)
class SpreadRecipe:
    """Which task features the deviations read, and the ridge penalty of the reference models' fits.

    Example:
        >>> SpreadRecipe(("metric_family:exact",), 3.0).name
        'spread(metric_family:exact; penalty 3)'
    """

    features: tuple[str, ...] = ()
    penalty: float = 3.0

    def __post_init__(self) -> None:
        if not self.penalty >= 0:
            raise ValueError(f"the spread penalty must be >= 0, got {self.penalty}")

    @property
    def name(self) -> str:
        from advisor.task_level import feature_label

        return f"spread({feature_label(self.features) or 'offset only'}; penalty {self.penalty:g})"


@dataclass(frozen=True)
class SpreadForecast:
    """Deviation forecasts (tasks x models), their parameter variance, and how each model was forecast.

    ``variance`` is the uncertainty of the coefficients (0 for reference models, whose estimation error is in
    the out-of-fold residuals); ``runs`` the number of training tasks each model has runs on; ``clamped`` the
    descriptors of each model that lay outside the reference models' range and were clamped to it.
    """

    mean: pd.DataFrame
    variance: pd.DataFrame
    runs: pd.Series
    clamped: dict[str, list[str]] = field(default_factory=dict)


def descriptor_values(descriptors: pd.DataFrame) -> pd.DataFrame:
    """The prior's inputs: log parameters, instruction tuning (0/1), release year."""
    return pd.DataFrame({
        "params_billion": np.log(descriptors["params_billion"].astype(float)),
        "instruction_tuned": descriptors["instruction_tuned"].astype(float),
        "release_year": descriptors["release_year"].astype(float),
    }, index=descriptors.index)


class SpreadModel:
    """Per-model deviations from the task level (see the module docstring); ``fit`` then ``predict``."""

    def __init__(self, recipe: SpreadRecipe = SpreadRecipe()) -> None:
        self.recipe = recipe

    # ----------------------------------------------------------------------------- fitting
    def fit(
        self,
        deviations: pd.DataFrame,
        features: pd.DataFrame,
        descriptors: pd.DataFrame | None = None,
        reference: list[str] | None = None,
    ) -> "SpreadModel":
        """Learn from ``deviations`` (training tasks x models, NaN where a model has no run) and the task
        ``features`` (same tasks; the recipe's columns). ``reference`` (default: models with a run on every
        task) are fit by ridge; the others get posteriors at prediction time. ``descriptors`` (models x
        :data:`DESCRIPTORS`) feed the prior; without them the prior is the reference models' average."""
        features = features.loc[deviations.index, list(self.recipe.features)]
        return self.fit_arrays(deviations.to_numpy(dtype=float), features.to_numpy(dtype=float),
                               list(deviations.columns), descriptors, reference)

    def fit_arrays(
        self,
        deviations: np.ndarray,
        features: np.ndarray,
        models: list[str],
        descriptors: pd.DataFrame | None = None,
        reference: list[str] | None = None,
    ) -> "SpreadModel":
        """:meth:`fit` on arrays: ``deviations`` tasks x ``models``, ``features`` tasks x the recipe's features."""
        self.mean_ = features.mean(axis=0) if len(features) else np.zeros(features.shape[1])
        scale = features.std(axis=0) if len(features) else np.ones(features.shape[1])
        self.scale_ = np.where(scale > 0, scale, 1.0)
        phi = self._design_array(features)
        observed = ~np.isnan(deviations)
        reference = list(reference) if reference is not None else [
            m for j, m in enumerate(models) if observed[:, j].all()]
        if not reference:
            raise ValueError("the spread model needs at least one reference model with runs on every task")
        self.reference_ = reference
        column = {m: j for j, m in enumerate(models)}
        penalty = np.full(phi.shape[1], float(self.recipe.penalty))
        penalty[0] = 0.0  # the intercept (the model's usual offset) is not shrunk
        ridge = np.diag(penalty) + 1e-9 * np.eye(len(penalty))
        coefs, residuals = [], []
        for model in reference:
            d = deviations[:, column[model]]
            seen = observed[:, column[model]]
            A = phi[seen]
            theta = np.linalg.solve(A.T @ A + ridge, A.T @ d[seen])
            coefs.append(theta)
            residuals.append(d[seen] - A @ theta)
        self.coefs_ = pd.DataFrame(np.array(coefs), index=reference, columns=["offset", *self.recipe.features])
        r = np.concatenate(residuals)
        dof = max(1, len(r) - len(reference) * phi.shape[1])
        self.noise_variance_ = max(float(r @ r) / dof, 1e-6)
        self._fit_prior(descriptors)
        # Other models with runs: keep their observed deviations for the posterior.
        self.observed_ = {}
        for model in models:
            j = column[model]
            if model not in reference and observed[:, j].any():
                self.observed_[model] = (phi[observed[:, j]], deviations[observed[:, j], j])
        self.runs_ = {m: int(observed[:, column[m]].sum()) for m in models}
        return self

    def _design(self, features: pd.DataFrame) -> np.ndarray:
        return self._design_array(features[list(self.recipe.features)].to_numpy(dtype=float))

    def _design_array(self, features: np.ndarray) -> np.ndarray:
        Z = (np.asarray(features, dtype=float) - self.mean_) / self.scale_
        return np.column_stack([np.ones(len(Z)), Z])

    def _fit_prior(self, descriptors: pd.DataFrame | None) -> None:
        """Prior mean (descriptor ridge or average) and variance of the coefficients, by leave-one-model-out."""
        theta = self.coefs_.to_numpy()
        self.descriptor_range_ = None
        self.prior_penalty_: float | None = None
        n = len(theta)
        described = descriptors is not None and all(m in descriptors.index for m in self.reference_) and n >= 3
        options: list[float | None] = [None] + (list(DESCRIPTOR_PENALTIES) if described else [])
        if described:
            raw = descriptor_values(descriptors.loc[self.reference_])
            self.descriptor_range_ = (raw.min(axis=0), raw.max(axis=0))
            self.descriptor_mean_ = raw.mean(axis=0).to_numpy()
            dscale = raw.std(axis=0, ddof=0).to_numpy()
            self.descriptor_scale_ = np.where(dscale > 0, dscale, 1.0)
            Psi = (raw.to_numpy() - self.descriptor_mean_) / self.descriptor_scale_
        best = None
        for option in options:
            errors = np.empty_like(theta)
            for i in range(n):
                keep = np.arange(n) != i
                errors[i] = theta[i] - self._prior_fit(theta[keep], None if option is None else Psi[keep], option,
                                                      None if option is None else Psi[i])
            score = float((errors**2).sum())
            if best is None or score < best[0] - 1e-12:
                best = (score, option, errors)
        _, self.prior_penalty_, errors = best
        self.prior_variance_ = np.maximum((errors**2).mean(axis=0), MIN_PRIOR_VARIANCE)
        if self.prior_penalty_ is None:
            self.prior_weights_ = None
            self.prior_intercept_ = theta.mean(axis=0)
        else:
            A = np.column_stack([np.ones(n), Psi])
            pen = np.full(A.shape[1], self.prior_penalty_)
            pen[0] = 0.0
            W = np.linalg.solve(A.T @ A + np.diag(pen), A.T @ theta)
            self.prior_intercept_, self.prior_weights_ = W[0], W[1:]

    @staticmethod
    def _prior_fit(theta: np.ndarray, Psi: np.ndarray | None, penalty: float | None, psi: np.ndarray | None) -> np.ndarray:
        if penalty is None:
            return theta.mean(axis=0)
        A = np.column_stack([np.ones(len(theta)), Psi])
        pen = np.full(A.shape[1], penalty)
        pen[0] = 0.0
        W = np.linalg.solve(A.T @ A + np.diag(pen), A.T @ theta)
        return W[0] + psi @ W[1:]

    @property
    def uses_descriptors(self) -> bool:
        """Whether the prior reads descriptors (leave-one-model-out preferred them to the plain average)."""
        return self.prior_weights_ is not None

    def prior_mean(self, descriptors: pd.DataFrame | None, model: str) -> tuple[np.ndarray, list[str]]:
        """The prior coefficients of ``model`` and the names of its descriptors clamped to the reference range."""
        if self.prior_weights_ is None or descriptors is None or model not in descriptors.index:
            return self.prior_intercept_.copy(), []
        raw = descriptor_values(descriptors.loc[[model]]).iloc[0]
        low, high = self.descriptor_range_
        clamped = [c for c in raw.index if raw[c] < low[c] - 1e-9 or raw[c] > high[c] + 1e-9]
        psi = (raw.clip(low, high).to_numpy() - self.descriptor_mean_) / self.descriptor_scale_
        return self.prior_intercept_ + psi @ self.prior_weights_, clamped

    # ----------------------------------------------------------------------------- predicting
    def posterior(self, model: str, descriptors: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Mean and covariance of ``model``'s coefficients given its runs, and its clamped descriptors."""
        if model in self.coefs_.index:
            theta = self.coefs_.loc[model].to_numpy()
            return theta, np.zeros((len(theta), len(theta))), []
        prior, clamped = self.prior_mean(descriptors, model)
        precision = np.diag(1.0 / self.prior_variance_)
        weighted = precision @ prior
        if model in self.observed_:
            phi, d = self.observed_[model]
            precision = precision + phi.T @ phi / self.noise_variance_
            weighted = weighted + phi.T @ d / self.noise_variance_
        cov = np.linalg.inv(precision)
        return cov @ weighted, cov, clamped

    def knows(self, model: str, descriptors: pd.DataFrame | None = None) -> bool:
        """Whether ``model`` can be forecast: it has runs, or descriptors to place it by."""
        return model in self.coefs_.index or model in self.observed_ or (
            descriptors is not None and model in descriptors.index)

    def predict(self, features: pd.DataFrame, models: list[str], descriptors: pd.DataFrame | None = None) -> SpreadForecast:
        """Deviation forecasts for ``models`` on the tasks (rows) of ``features``."""
        mean, variance, clamped = self.predict_arrays(features[list(self.recipe.features)].to_numpy(dtype=float),
                                                      models, descriptors)
        return SpreadForecast(
            mean=pd.DataFrame(mean, index=features.index, columns=models),
            variance=pd.DataFrame(variance, index=features.index, columns=models),
            runs=pd.Series({m: self.runs_.get(m, 0) for m in models}, dtype=int),
            clamped=clamped,
        )

    def predict_arrays(self, features: np.ndarray, models: list[str], descriptors: pd.DataFrame | None = None
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
        """:meth:`predict` on an array of the recipe's features: (mean, parameter variance, clamped descriptors)."""
        phi = self._design_array(features)
        mean = np.empty((len(phi), len(models)))
        variance = np.empty_like(mean)
        clamped = {}
        for j, model in enumerate(models):
            if not self.knows(model, descriptors):
                raise ValueError(f"base model {model!r} has no runs and no descriptors to forecast it from")
            theta, cov, clamp = self.posterior(model, descriptors)
            mean[:, j] = phi @ theta
            variance[:, j] = np.maximum(np.einsum("ij,jk,ik->i", phi, cov, phi), 0.0)
            if clamp:
                clamped[model] = clamp
        return mean, variance, clamped
