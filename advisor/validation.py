"""The learning-curve probe: fine-tune the shortlisted base models on nested subsets, extrapolate, decide.

:func:`validate` takes the advisor's shortlist (its top K, or named models) and, for each model, measures the
zero-shot rung (held-out loss and task score before any training) and then a *ladder* of rungs, each a fresh
LoRA fine-tune on a nested subset of the user's data (by default 1/64, 1/32, 1/16 and 1/8 of the training
pool; every rung's subset contains the smaller rungs'), trained for ``epochs`` passes over its subset (at
least ``min_steps`` steps). Every model is measured on the same held-out split. After each rung the rows are
recorded (one transaction per rung: ``learning-curve`` runs, plus the ``zero-shot`` rung, all with the
validation's id in their provenance) and each model's curves are extrapolated to the full training pool:

- the held-out loss with the anchored rectified scaling law (:mod:`advisor.extrapolation`);
- the task score: see :data:`SCORE_METHODS`. ``"error-law"`` (the default, measured better) fits the same
  law to the error rate ``1 - score`` (a saturating curve for the score); ``"loss-map"`` maps the
  extrapolated loss to a score by a line fitted through the measured (loss, score) pairs. A score that has
  not yet left its zero-shot level is not extrapolated (:func:`score_has_moved`): the model keeps the prior.

The extrapolated score (mean and sd: the fit's interval plus the evaluation's binomial noise) is combined with
the advisor's forecast (the prior: ``predicted_score``, sd from its interval at ``interval_level``) by
precision weighting of the two Gaussians; P(best) is the share of Monte Carlo draws of the combined scores in
which a model is highest (with joint prior samples, ``Recommendation.samples``, the draws keep their
correlation). **Stopping rule**: from the second fine-tuned rung on, the ladder stops as soon as the leader's
P(best) reaches ``stop_at`` (0.95 by default); the remaining rungs are not run.

Example:
    >>> report = validate(task, Advisor.load(), {"mistral-7b": "/models/mistral-7b",    # doctest: +SKIP
    ...                                          "zephyr-7b-beta": "/models/zephyr"}, top_k=2)
    >>> report.best.base_model, report.best.p_best                                        # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import math
import os
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from advisor.extrapolation import FitSettings, fit_learning_curve
from advisor.model_sources import resolve_model_sources
from advisor.ray_cluster import RayUnavailable, join_ray
from advisor.rungs import RungMeasurement, RungSpec, measure_rung

DEFAULT_LADDER: tuple[float, ...] = (1 / 64, 1 / 32, 1 / 16, 1 / 8)
#: How the full-data score is extrapolated (see the module docstring).
SCORE_METHODS = ("error-law", "loss-map")
ENGINES = ("local", "ray")
#: Provenance prefix of every run a validation records.
VALIDATION_PROVENANCE = "validate"
_MIN_PRIOR_SD = 0.01


class ValidationError(ValueError):
    """Arguments a validation cannot run with (bad ladder, too little data, unknown method ...)."""


@dataclass(frozen=True)
class ScoreEstimate:
    """A Gaussian belief about one model's full-data score: mean, sd and the central ``level`` interval
    (clipped to [0, 1])."""

    mean: float
    sd: float
    low: float
    high: float

    @classmethod
    def gaussian(cls, mean: float, sd: float, level: float) -> "ScoreEstimate":
        z = _z(level)
        return cls(float(mean), float(sd), float(min(max(mean - z * sd, 0.0), 1.0)),
                   float(min(max(mean + z * sd, 0.0), 1.0)))


@dataclass(frozen=True)
class ModelValidation:
    """One shortlisted model: its measured rungs, the curves' extrapolation, the prior and the combination.

    ``extrapolated`` is None until two fine-tuned rungs exist, and while ``score_moved`` is False (no
    fine-tuned rung scores clearly above zero-shot: the combination is then the prior);
    ``predicted_loss``/``loss_low``/``loss_high`` are the held-out loss forecast at the target size.
    """

    base_model: str
    advisor_rank: int
    prior: ScoreEstimate
    rungs: list[RungMeasurement]
    extrapolated: ScoreEstimate | None
    combined: ScoreEstimate
    p_best: float
    predicted_loss: float | None = None
    loss_low: float | None = None
    loss_high: float | None = None
    run_ids: list[int] = field(default_factory=list)
    score_moved: bool = False

    @property
    def measured(self) -> list[RungMeasurement]:
        """The fine-tuned rungs (the zero-shot rung left out)."""
        return [r for r in self.rungs if r.n_train > 0]


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` found; ``models`` are sorted by combined score (best first)."""

    validation_id: str
    task: str
    metric: str
    target_size: int
    n_eval: int
    ladder: list[dict[str, Any]]
    rungs_run: int
    stopped_early: bool
    stop_rule: str
    score_method: str
    level: float
    engine: str
    models: list[ModelValidation]

    @property
    def best(self) -> ModelValidation:
        return self.models[0]

    def to_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        data = asdict(self)
        for model, source in zip(data["models"], self.models, strict=True):
            model["rungs"] = [r.to_dict() for r in source.rungs]
        data["best"] = self.best.base_model
        return data


def validate(
    task_data: Any,
    advisor_or_recommendation: Any,
    model_paths: Mapping[str, str | os.PathLike[str]],
    *,
    top_k: int = 2,
    models: Sequence[str] | None = None,
    ladder: Sequence[float] = DEFAULT_LADDER,
    config: Any = None,
    epochs: float = 1.0,
    min_steps: int = 10,
    max_steps: int | None = None,
    target_size: int | None = None,
    score_method: str = "error-law",
    fit_settings: FitSettings | None = None,
    store: Any = None,
    engine: str = "local",
    ray_address: str | None = None,
    gpus_per_task: float = 1.0,
    cpus_per_task: float = 1.0,
    stop_at: float = 0.95,
    level: float = 0.8,
    n_draws: int = 20_000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run the learning-curve probe on the advisor's shortlist and combine it with the advisor's forecast.

    ``advisor_or_recommendation``: an ``Advisor`` (its ``rank(task_data)`` is called) or a ``Recommendation``.
    ``model_paths``: ``{name: local dir or HF id}`` (a shortlisted registry model without an entry is looked
    up in the local Hugging Face cache; all are checked before any training). ``models`` names the
    shortlist instead of the top ``top_k``. ``ladder``: increasing fractions of the training pool (the data
    minus ``config.eval_size`` held-out examples). ``config``: the ``QLoRAConfig`` recipe of every rung
    (default: the study's recipe); each rung trains ``max(min_steps, ceil(epochs * n / effective batch))``
    steps, at most ``max_steps``. ``target_size``: the training-set size to forecast (default: the pool, or
    the TaskData's ``n_examples`` when the data is declared a sample of a larger training set).
    ``engine="ray"`` runs each (model, rung) as a Ray task asking for ``gpus_per_task`` GPUs on the cluster at
    ``ray_address`` (None: a running or a new local instance). ``store``: records the rungs (None: nothing).
    """
    from tasks.metrics import get_metric, infer_metric
    from training_runs.qlora import QLoRAConfig
    from training_runs.qlora.data import examples_from, fingerprint_examples, split_examples

    _check_options(top_k, ladder, epochs, min_steps, max_steps, score_method, engine, stop_at, level, n_draws)
    config = config or QLoRAConfig()
    examples = examples_from(task_data)
    if hasattr(advisor_or_recommendation, "rank"):
        data = _as_task_data(task_data, examples)
        # named models are ranked even when the advisor leaves them out by default (models without runs)
        recommendation = (advisor_or_recommendation.rank(data) if models is None
                          else advisor_or_recommendation.rank(data, base_models=list(dict.fromkeys(models))))
    else:
        recommendation = advisor_or_recommendation
    shortlist = _shortlist(recommendation, top_k, models)
    sources = resolve_model_sources([f.base_model for f in shortlist],
                                    {k: os.fspath(v) for k, v in model_paths.items()})
    metric_name = getattr(task_data, "metric", None) or infer_metric([c for _, c in examples])
    scorer = get_metric(metric_name)
    task_name = getattr(task_data, "name", None) or f"local-{fingerprint_examples(examples)[:10]}"
    train_pool, eval_pairs = split_examples(examples, config.eval_size, config.seed)
    random.Random(seed).shuffle(train_pool)  # nested subsets: each rung takes a prefix of one shuffled pool
    plan = plan_ladder(len(train_pool), ladder, config.effective_batch_size, epochs, min_steps, max_steps)
    target = int(target_size or max(len(train_pool), getattr(task_data, "n_examples", 0) or 0))
    if target < plan[-1]["n_train"]:
        raise ValidationError(f"target size {target} is below the largest rung ({plan[-1]['n_train']} examples)")
    validation_id = f"{VALIDATION_PROVENANCE}-{dt.datetime.now(dt.timezone.utc):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    say = progress or (lambda line: None)
    runner = _RayRunner(ray_address, gpus_per_task, cpus_per_task) if engine == "ray" else None
    stop_rule = (f"stop after a fine-tuned rung, from the second on, once the leader's P(best) >= {stop_at:g}")

    measured: dict[str, list[RungMeasurement]] = {f.base_model: [] for f in shortlist}
    run_ids: dict[str, list[int]] = {f.base_model: [] for f in shortlist}
    rungs_run, stopped_early = 0, False
    settings = fit_settings or FitSettings()
    combined: list[ModelValidation] = []
    try:
        steps_plan = [{"rung": 0, "fraction": 0.0, "n_train": 0, "steps": 0}] + plan
        for rung in steps_plan:
            specs = [
                RungSpec(base_model=f.base_model, source=sources[f.base_model], rung=rung["rung"],
                         fraction=rung["fraction"], train_pairs=tuple(train_pool[: rung["n_train"]]),
                         eval_pairs=tuple(eval_pairs), metric=scorer.name,
                         config=config.replace(max_steps=max(rung["steps"], 1)))
                for f in shortlist
            ]
            say(f"rung {rung['rung']}: " + ("zero-shot" if rung["n_train"] == 0 else
                f"{rung['n_train']} examples ({rung['fraction']:.4g} of {len(train_pool)}), {rung['steps']} steps")
                + f" x {len(specs)} model(s)")
            results = runner.run(specs) if runner is not None else [measure_rung(s) for s in specs]
            for result in results:
                measured[result.base_model].append(result)
                say(f"  {result.base_model}: loss {result.eval_loss:.4f}, {result.metric} {result.score:.3f} "
                    f"({result.seconds:.1f}s)")
            if store is not None:
                rows = [_run_row(r, task_name, metric_name, validation_id, rung, config, target) for r in results]
                for result, run_id in zip(results, store.record_runs(rows), strict=True):
                    run_ids[result.base_model].append(int(run_id))
            if rung["n_train"] > 0:
                rungs_run += 1
            combined = combine(shortlist, measured, target, score_method=score_method, settings=settings,
                               level=level, n_draws=n_draws, seed=seed, run_ids=run_ids,
                               samples=getattr(recommendation, "samples", None))
            if rungs_run >= 2 and rung is not steps_plan[-1] and max(m.p_best for m in combined) >= stop_at:
                stopped_early = True
                say(f"stopping: {combined[0].base_model} has P(best) {combined[0].p_best:.3f} >= {stop_at:g}")
                break
    finally:
        if runner is not None:
            runner.close()
    return ValidationReport(
        validation_id=validation_id, task=task_name, metric=metric_name, target_size=target, n_eval=len(eval_pairs),
        ladder=plan, rungs_run=rungs_run, stopped_early=stopped_early, stop_rule=stop_rule,
        score_method=score_method, level=level, engine=engine, models=combined,
    )


def plan_ladder(n_pool: int, ladder: Sequence[float], effective_batch: int, epochs: float, min_steps: int,
                max_steps: int | None = None) -> list[dict[str, Any]]:
    """The rungs: ``{"rung", "fraction", "n_train", "steps"}`` for each fraction of a pool of ``n_pool``.

    Example:
        >>> [r["n_train"] for r in plan_ladder(6400, (1/64, 1/32, 1/16, 1/8), 16, 1.0, 10)]
        [100, 200, 400, 800]
        >>> [r["steps"] for r in plan_ladder(6400, (1/64, 1/32, 1/16, 1/8), 16, 1.0, 10)]
        [10, 13, 25, 50]
    """
    rungs = []
    for i, fraction in enumerate(ladder):
        n = int(round(fraction * n_pool))
        if n < 1 or (rungs and n <= rungs[-1]["n_train"]):
            raise ValidationError(
                f"the ladder {', '.join(f'{f:.4g}' for f in ladder)} of {n_pool} training examples gives rungs of "
                f"{', '.join(str(int(round(f * n_pool))) for f in ladder)} examples; every rung needs at least one "
                "example and more than the rung before: use larger fractions (--ladder) or more data"
            )
        steps = max(min_steps, math.ceil(epochs * n / effective_batch))
        if max_steps is not None:
            steps = min(steps, max_steps)
        rungs.append({"rung": i + 1, "fraction": float(fraction), "n_train": n, "steps": int(steps)})
    return rungs


def combine(
    shortlist: Sequence[Any], measured: Mapping[str, Sequence[RungMeasurement]], target_size: int, *,
    score_method: str = "error-law", settings: FitSettings | None = None, level: float = 0.8,
    n_draws: int = 20_000, seed: int = 0, run_ids: Mapping[str, Sequence[int]] | None = None, samples: Any = None,
) -> list[ModelValidation]:
    """Prior x extrapolation for every shortlisted forecast (``ModelForecast``s), sorted best first.

    Example:
        >>> from advisor.recommendation import ModelForecast
        >>> prior = [ModelForecast("a", 0.6, 0.4, 0.8, 0.2, 0.4, 0.5, 0.6, 1),
        ...          ModelForecast("b", 0.5, 0.3, 0.7, 0.2, 0.3, 0.4, 0.4, 2)]
        >>> [(m.base_model, round(m.p_best, 2)) for m in combine(prior, {"a": [], "b": []}, 1000)]
        [('a', 0.67), ('b', 0.33)]
    """
    out = []
    priors = {f.base_model: prior_estimate(f, samples, level) for f in shortlist}
    for forecast in shortlist:
        name = forecast.base_model
        rungs = list(measured.get(name, ()))
        extrapolated, loss = extrapolate_score(rungs, target_size, method=score_method, settings=settings, level=level)
        prior = priors[name]
        post = precision_weighted(prior, extrapolated, level) if extrapolated is not None else prior
        out.append(ModelValidation(
            base_model=name, advisor_rank=int(forecast.rank), prior=prior, rungs=rungs, extrapolated=extrapolated,
            combined=post, p_best=0.0, predicted_loss=loss[0] if loss else None,
            loss_low=loss[1] if loss else None, loss_high=loss[2] if loss else None,
            run_ids=list((run_ids or {}).get(name, ())), score_moved=score_has_moved(rungs),
        ))
    p_best = probability_best([m.combined for m in out], [priors[m.base_model] for m in out],
                              _prior_draws(samples, [m.base_model for m in out]), n_draws, seed)
    out = [replace(m, p_best=float(p)) for m, p in zip(out, p_best, strict=True)]
    return sorted(out, key=lambda m: (-m.combined.mean, m.advisor_rank))


def prior_estimate(forecast: Any, samples: Any = None, level: float = 0.8) -> ScoreEstimate:
    """The advisor's forecast as a Gaussian: mean ``predicted_score``, sd from its interval at
    ``interval_level`` (or mean and sd of its joint samples when the recommendation has them)."""
    draws = _prior_draws(samples, [forecast.base_model])
    if draws is not None:
        column = draws[:, 0]
        return ScoreEstimate.gaussian(float(column.mean()), max(float(column.std()), _MIN_PRIOR_SD), level)
    width = float(forecast.interval_high) - float(forecast.interval_low)
    sd = max(width / (2 * _z(float(getattr(forecast, "interval_level", 0.8)))), _MIN_PRIOR_SD)
    return ScoreEstimate.gaussian(float(forecast.predicted_score), sd, level)


def extrapolate_score(
    rungs: Sequence[RungMeasurement], target_size: int, *, method: str = "error-law",
    settings: FitSettings | None = None, level: float = 0.8, require_movement: bool = True,
) -> tuple[ScoreEstimate | None, tuple[float, float, float] | None]:
    """The full-data score estimate from a model's measured rungs, and its loss forecast (mean, low, high).

    (None, None) with fewer than two fine-tuned rungs; (None, loss) while the score has not left its
    zero-shot level (see :func:`score_has_moved`; ``require_movement=False`` extrapolates it anyway): such a
    curve says learning has not started, not where it ends. The score's sd adds the binomial noise of a score measured on ``n_eval`` examples to the
    extrapolation's own.
    """
    tuned = sorted((r for r in rungs if r.n_train > 0 and r.eval_loss is not None), key=lambda r: r.n_train)
    if len(tuned) < 2:
        return None, None
    sizes = [r.n_train for r in tuned]
    loss_fit = fit_learning_curve(sizes, [r.eval_loss for r in tuned], settings)
    loss = (loss_fit.predict(target_size), *loss_fit.interval(target_size, level))
    if require_movement and not score_has_moved(rungs):
        return None, loss
    n_eval = max(r.n_eval for r in tuned)
    floor = 0.5 / n_eval  # an error rate of 0 on n_eval examples is "below 1/n_eval", not 0
    if method == "error-law":
        errors = [max(1.0 - r.score, floor) for r in tuned]
        fit = fit_learning_curve(sizes, errors, settings)
        error = min(fit.predict(target_size), 1.0)
        mean = 1.0 - error
        sd_fit = error * fit.sd_log(target_size)
    elif method == "loss-map":
        mean, sd_fit = _loss_map(tuned, rungs, loss_fit, target_size)
    else:
        raise ValidationError(f"unknown score method {method!r}; expected one of {', '.join(SCORE_METHODS)}")
    mean = min(max(mean, 0.0), 1.0)
    noise = math.sqrt(max(mean * (1 - mean), floor) / n_eval)
    return ScoreEstimate.gaussian(mean, math.sqrt(sd_fit**2 + noise**2), level), loss


def score_has_moved(rungs: Sequence[RungMeasurement]) -> bool:
    """Whether some fine-tuned rung scores above the zero-shot rung (else the lowest rung) by more than two
    binomial standard errors of a score on ``n_eval`` examples.

    Measured on the SmolLM2 ladders of ``benchmarks/score_extrapolation_bench.py``: curves still at their
    zero-shot level (a task not learned yet) gave the largest errors, because a score that has not started
    to move does not say where it will end.

    Example:
        >>> from advisor.rungs import RungMeasurement
        >>> def rung(n, score):
        ...     return RungMeasurement("m", 0, 0.0, n, 50, 1, 1.0, score, "exact_match", None, 0.0, "cpu", False, 0, 2)
        >>> score_has_moved([rung(0, 0.0), rung(10, 0.02), rung(20, 0.0)]), score_has_moved([rung(0, 0.0), rung(10, 0.3)])
        (False, True)
    """
    if not rungs:
        return False
    zero_shot = [r for r in rungs if r.n_train == 0]
    tuned = [r for r in rungs if r.n_train > 0]
    base = zero_shot[0] if zero_shot else min(rungs, key=lambda r: r.score)
    n_eval = max(base.n_eval, 1)
    p = base.score
    se = math.sqrt(max(p * (1 - p), 1 / n_eval) / n_eval)
    return any(r.score - base.score > 2 * se for r in tuned)


def precision_weighted(prior: ScoreEstimate, measured: ScoreEstimate, level: float = 0.8) -> ScoreEstimate:
    """The product of two Gaussian beliefs about the same score.

    Example:
        >>> post = precision_weighted(ScoreEstimate.gaussian(0.5, 0.1, 0.8), ScoreEstimate.gaussian(0.7, 0.1, 0.8))
        >>> round(post.mean, 3), round(post.sd, 4)
        (0.6, 0.0707)
    """
    w_prior, w_measured = 1 / prior.sd**2, 1 / measured.sd**2
    variance = 1 / (w_prior + w_measured)
    return ScoreEstimate.gaussian(variance * (w_prior * prior.mean + w_measured * measured.mean),
                                  math.sqrt(variance), level)


def probability_best(estimates: Sequence[ScoreEstimate], priors: Sequence[ScoreEstimate] | None = None,
                     prior_draws: np.ndarray | None = None, n_draws: int = 20_000, seed: int = 0) -> list[float]:
    """P(each estimate's score is the highest), by Monte Carlo over the Gaussians.

    With ``prior_draws`` (joint samples of the prior, one column per estimate) the draws are those samples
    standardized by the prior and rescaled to each estimate, so the prior's correlation across models stays.
    """
    if not estimates:
        return []
    means = np.array([e.mean for e in estimates])
    sds = np.array([e.sd for e in estimates])
    if prior_draws is not None and priors is not None:
        prior_means = np.array([p.mean for p in priors])
        prior_sds = np.array([max(p.sd, 1e-9) for p in priors])
        draws = means + (prior_draws - prior_means) / prior_sds * sds
    else:
        draws = np.random.default_rng(seed).normal(means, sds, size=(n_draws, len(estimates)))
    # argmax of the unclipped draws: the same winner as after clipping to [0, 1], except that a tie clipping
    # makes (two models at 0) goes to the one whose draw was higher, not always to the first
    winners = np.argmax(draws, axis=1)
    return (np.bincount(winners, minlength=len(estimates)) / len(draws)).tolist()


# ---------------------------------------------------------------------------------------------- internals
def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _check_options(top_k: int, ladder: Sequence[float], epochs: float, min_steps: int, max_steps: int | None,
                   score_method: str, engine: str, stop_at: float, level: float, n_draws: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValidationError(f"top_k must be at least 1, got {top_k!r}")
    if not ladder or any(not (0 < f <= 1) for f in ladder) or list(ladder) != sorted(set(ladder)):
        raise ValidationError(f"the ladder must be increasing fractions in (0, 1], got {list(ladder)}")
    if len(ladder) < 2:
        raise ValidationError("the ladder needs at least two rungs to extrapolate a curve")
    if not epochs > 0:
        raise ValidationError(f"epochs must be positive, got {epochs!r}")
    if min_steps < 1 or (max_steps is not None and max_steps < min_steps):
        raise ValidationError(f"steps per rung must satisfy 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
    if score_method not in SCORE_METHODS:
        raise ValidationError(f"unknown score method {score_method!r}; expected one of {', '.join(SCORE_METHODS)}")
    if engine not in ENGINES:
        raise ValidationError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if not 0.5 < stop_at <= 1:
        raise ValidationError(f"stop_at must be in (0.5, 1], got {stop_at!r}")
    if not 0 < level < 1:
        raise ValidationError(f"level must be in (0, 1), got {level!r}")
    if n_draws < 100:
        raise ValidationError(f"n_draws must be at least 100, got {n_draws}")


def _as_task_data(task_data: Any, examples: list[tuple[str, str]]) -> Any:
    """What the advisor ranks: the TaskData itself, or plain pairs wrapped as one."""
    if callable(getattr(task_data, "iter_batches", None)):
        return task_data
    from tasks import load_task

    return load_task([{"prompt": p, "completion": c} for p, c in examples])


def _shortlist(recommendation: Any, top_k: int, models: Sequence[str] | None) -> list[Any]:
    forecasts = list(recommendation.forecasts)
    if models is None:
        return forecasts[:top_k]
    by_name = {f.base_model: f for f in forecasts}
    unknown = [m for m in models if m not in by_name]
    if unknown:
        raise ValidationError(f"not in the advisor's ranking: {', '.join(unknown)} (it ranks "
                              f"{', '.join(by_name)}); add a model without runs with Advisor.with_base_model")
    return [by_name[m] for m in dict.fromkeys(models)]


def _loss_map(tuned: list[RungMeasurement], rungs: Sequence[RungMeasurement], loss_fit: Any,
              target_size: int) -> tuple[float, float]:
    """Score at the extrapolated loss by a least-squares line through the measured (loss, score) pairs
    (the zero-shot rung included); sd from the line's residuals and the loss interval's width."""
    points = [(r.eval_loss, r.score) for r in rungs if r.eval_loss is not None]
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))
    loss = loss_fit.predict(target_size)
    residual = float(np.sqrt(np.sum((y - (intercept + slope * x)) ** 2) / max(len(x) - 2, 1)))
    loss_sd = loss * loss_fit.sd_log(target_size)
    return float(intercept + slope * loss), math.sqrt(residual**2 + (slope * loss_sd) ** 2)


def _prior_draws(samples: Any, names: Sequence[str]) -> np.ndarray | None:
    """Joint prior samples as an array (draws x ``names``), from a DataFrame or a {model: draws} mapping."""
    if samples is None:
        return None
    try:
        columns = [np.asarray(samples[name], dtype=float) for name in names]
    except (KeyError, TypeError, ValueError):
        return None
    if not columns or any(c.ndim != 1 or len(c) != len(columns[0]) or len(c) < 2 for c in columns):
        return None
    return np.column_stack(columns)


def _run_row(result: RungMeasurement, task: str, metric_name: str, validation_id: str, rung: Mapping[str, Any],
             config: Any, target: int) -> dict[str, Any]:
    zero_shot = result.n_train == 0
    return {
        "task": task, "base_model": result.base_model, "kind": "zero-shot" if zero_shot else "learning-curve",
        "score": result.score, "metric": metric_name,
        "provenance": validation_id if zero_shot else f"{validation_id}/n={result.n_train}",
        "wall_time_s": result.seconds,
        "hyperparameters": {**config.to_dict(), "max_steps": result.steps, "fraction": result.fraction,
                            "max_new_tokens_used": result.max_new_tokens},
        "metrics": {"validation_id": validation_id, "rung": result.rung, "fraction": result.fraction,
                    "n_train": result.n_train, "n_eval": result.n_eval, "steps": result.steps,
                    "eval_loss": result.eval_loss, "train_loss": result.train_loss, "metric": result.metric,
                    "target_size": target, "device": result.device, "quantized": result.quantized,
                    "n_truncated": result.n_truncated},
    }


class _RayRunner:
    """Runs rung specs as Ray tasks (one per model) on a cluster, each asking for ``gpus`` GPUs."""

    def __init__(self, address: str | None, gpus: float, cpus: float) -> None:
        try:
            ray, self._started_here = join_ray(address)
        except RayUnavailable as exc:
            raise ValidationError(str(exc)) from exc
        self._ray = ray
        available = ray.cluster_resources().get("GPU", 0.0)
        if gpus > 0 and available < gpus:
            raise ValidationError(f"each rung asks for {gpus:g} GPU(s) (--ray-gpus-per-task) but the Ray cluster "
                                  f"has {available:g}; lower it, or 0 to run on CPUs")
        self._remote = ray.remote(num_gpus=gpus, num_cpus=cpus)(measure_rung)

    def run(self, specs: Sequence[RungSpec]) -> list[RungMeasurement]:
        refs = [self._remote.remote(spec) for spec in specs]
        try:
            return list(self._ray.get(refs))
        except self._ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, (ValueError, OSError)):
                raise cause from None
            raise ValidationError(f"a rung failed on the Ray cluster: {str(cause).splitlines()[0][:300]}") from exc
        finally:
            for ref in refs:
                try:
                    self._ray.cancel(ref)
                except Exception:  # noqa: BLE001 - finished tasks cannot be cancelled
                    pass

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()
