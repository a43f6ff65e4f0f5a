"""Small, dependency-light regressors for tiny tables (tens of tasks).

scikit-learn's estimators validate and wrap every call, which dominates when cross-validation fits
thousands of models on 20-row tables; these do the same arithmetic in a few numpy calls.
"""
from __future__ import annotations

import numpy as np


class StandardizedRidgeCV:
    """Standardize columns, then ridge regression with the penalty picked by exact leave-one-out error.

    Same model as ``make_pipeline(StandardScaler(), RidgeCV(alphas))`` (efficient LOO via the SVD).

    Example:
        >>> X = np.arange(20.0).reshape(10, 2); y = X[:, 0] * 2 + 1
        >>> m = StandardizedRidgeCV(alphas=(1e-6,)).fit(X, y)
        >>> round(float(m.predict(X[:1])[0]), 3)
        1.0
    """

    def __init__(self, alphas: tuple[float, ...] = tuple(np.logspace(-1, 3, 17))) -> None:
        self.alphas = alphas

    def fit(self, X: np.ndarray, y: np.ndarray) -> "StandardizedRidgeCV":
        X, y = np.asarray(X, float), np.asarray(y, float)
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = (X - self.mean_) / self.scale_
        self.intercept_ = y.mean()
        yc = y - self.intercept_
        U, s, Vt = np.linalg.svd(Z, full_matrices=False)
        Uty = U.T @ yc
        n = len(y)
        best = None
        for alpha in self.alphas:
            shrink = s**2 / (s**2 + alpha)
            fitted = U @ (shrink * Uty)
            hat_diag = (U**2) @ shrink + 1.0 / n
            loo = (yc - fitted) / np.maximum(1.0 - hat_diag, 1e-9)
            err = float(np.mean(loo**2))
            if best is None or err < best[0] - 1e-15:
                best = (err, alpha)
        self.alpha_ = best[1]
        self.loo_error_ = best[0]
        self.coef_ = Vt.T @ ((s / (s**2 + self.alpha_)) * Uty)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, float) - self.mean_) / self.scale_
        return Z @ self.coef_ + self.intercept_


class StandardizedKNN:
    """Distance-weighted k-nearest-neighbour regression in standardized feature space."""

    def __init__(self, k: int = 5) -> None:
        self.k = k

    def fit(self, X: np.ndarray, y: np.ndarray) -> "StandardizedKNN":
        X = np.asarray(X, float)
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.points_ = (X - self.mean_) / self.scale_
        self.y_ = np.asarray(y, float)
        self.k_ = min(self.k, len(self.y_))
        return self

    def neighbours(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the k nearest training rows and their weights (rows sum to 1), per query row."""
        Z = (np.asarray(X, float) - self.mean_) / self.scale_
        dist = np.sqrt(((Z[:, None, :] - self.points_[None, :, :]) ** 2).sum(axis=2))
        idx = np.argsort(dist, axis=1, kind="stable")[:, : self.k_]
        w = 1.0 / (np.take_along_axis(dist, idx, axis=1) + 1e-6)
        return idx, w / w.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        idx, w = self.neighbours(X)
        return (self.y_[idx] * w).sum(axis=1)


class ForwardSelectedRidge:
    """Ridge on a few heuristics chosen greedily by leave-one-out error, inside each fit.

    With ~25 training tasks and ~25 candidate heuristics a ridge on all of them mostly fits noise;
    picking a handful *within* the training data (so cross-validation sees the selection's own variance)
    keeps the model small and the evaluation honest. Stops adding when the LOO error stops improving.
    """

    def __init__(self, max_features: int = 3, min_gain: float = 0.01) -> None:
        self.max_features = max_features
        self.min_gain = min_gain

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ForwardSelectedRidge":
        X, y = np.asarray(X, float), np.asarray(y, float)
        chosen: list[int] = []
        best_err = float(np.mean((y - y.mean()) ** 2)) * len(y) / max(len(y) - 1, 1)  # LOO error of the mean
        while len(chosen) < self.max_features:
            trials = []
            for j in range(X.shape[1]):
                if j in chosen or np.std(X[:, j]) == 0:
                    continue
                model = StandardizedRidgeCV().fit(X[:, chosen + [j]], y)
                trials.append((model.loo_error_, j))
            if not trials:
                break
            err, j = min(trials)
            if err > best_err * (1 - self.min_gain):
                break
            chosen.append(j)
            best_err = err
        self.selected_ = chosen
        self.model_ = StandardizedRidgeCV().fit(X[:, chosen], y) if chosen else None
        self.intercept_ = float(y.mean())
        # Full-width coefficients (zeros for unselected heuristics), for explanations.
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.coef_ = np.zeros(X.shape[1])
        if chosen:
            # Re-express the selected model's coefficients on this fit's standardization.
            self.coef_[chosen] = self.model_.coef_ * self.scale_[chosen] / self.model_.scale_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, float)
        if not self.selected_:
            return np.full(len(X), self.intercept_)
        return self.model_.predict(X[:, self.selected_])
