"""The joint forecaster: one distribution per task, from which every number is read, honest about what it knows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import MODELS, synthetic_table

from advisor.evaluation import leave_one_task_out, score_forecasts
from advisor.features import ProfileFeatureError
from advisor.forecaster import JointForecaster, Recipe
from advisor.spread import SpreadRecipe
from advisor.task_level import LevelRecipe
from advisor.training import baseline_recipe

FAMILIES = ("metric_family:binary", "metric_family:exact", "metric_family:overlap")
RECIPE = Recipe(LevelRecipe("ridge", ("output_tokens_mean",)), SpreadRecipe(FAMILIES, 1.0),
                LevelRecipe("ridge", ("output_tokens_mean",)))


@pytest.fixture(scope="module")
def table():
    return synthetic_table(family_effect=0.08)


@pytest.fixture(scope="module")
def forecaster(table):
    return JointForecaster(RECIPE, n_draws=2000).fit(table)


def fit(recipe, table):
    return lambda train: JointForecaster(recipe, n_draws=1000).fit(train)


def test_the_baseline_recipe_forecasts_each_models_average_score_on_the_other_tasks(table):
    held = leave_one_task_out(fit(baseline_recipe(), table), table, tasks=["task03"])
    forecast = held.forecasts["task03"]
    expected = table.finetuned.drop(index="task03").mean(axis=0)[forecast.models].to_numpy()
    np.testing.assert_allclose(forecast.point, expected, atol=1e-9)


def test_a_level_model_beats_the_per_model_mean_when_a_heuristic_drives_the_score(table):
    heuristic = score_forecasts(leave_one_task_out(fit(RECIPE, table), table), table)
    baseline = score_forecasts(leave_one_task_out(fit(baseline_recipe(), table), table), table)
    assert heuristic.mae < 0.6 * baseline.mae


def test_the_spread_picks_the_models_that_are_strong_on_the_tasks_metric_family(table):
    offsets_only = Recipe(RECIPE.level, SpreadRecipe((), 1.0), RECIPE.margin)
    by_family = score_forecasts(leave_one_task_out(fit(RECIPE, table), table), table)
    usual = score_forecasts(leave_one_task_out(fit(offsets_only, table), table), table)
    assert by_family.spearman > usual.spearman + 0.1


def test_every_number_is_read_from_one_set_of_joint_draws(forecaster, table):
    [f] = forecaster.predict(table.heuristics.iloc[[0]])
    low, high = f.interval()
    assert f.samples.shape == (2000, len(MODELS)) and f.gpt4_samples.shape == (2000,)
    assert np.all((low <= f.point + 1e-12) & (f.point <= high + 1e-12))
    assert f.p_best.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(f.p_beat_gpt4, (f.samples > f.gpt4_samples[:, None]).mean(axis=0), atol=0.05)
    chosen = f.models_to_validate(0.8)
    assert sum(f.p_best[f.models.index(m)] for m in chosen) >= 0.8
    assert f.expected_regret >= 0


def test_p_beat_gpt4_is_below_one_half_whenever_the_forecast_is_below_gpt4s(forecaster, table):
    shifted = table.heuristics.copy()
    shifted["output_tokens_mean"] = np.exp(np.linspace(0, 5, len(shifted)))
    for f in forecaster.predict(shifted):
        below = f.center < f.gpt4_center
        assert np.all(f.p_beat_gpt4[below] < 0.5)
        assert np.all(f.p_beat_gpt4[~below] > 0.5)


def test_intervals_cover_held_out_tasks_near_their_nominal_level(table):
    metrics = score_forecasts(leave_one_task_out(fit(RECIPE, table), table), table)
    assert 0.65 <= metrics.interval_coverage <= 0.95
    assert metrics.incoherent_beat_gpt4 == 0


def test_a_task_unlike_the_training_tasks_gets_wider_intervals_and_a_warning_naming_the_heuristic(forecaster, table):
    usual = table.heuristics.iloc[[0]].copy()
    odd = usual.copy()
    odd.index = ["odd"]
    odd["output_tokens_mean"] = 1e6
    [near], [far] = forecaster.predict(usual), forecaster.predict(odd)
    width = lambda f: float(np.mean(f.interval()[1] - f.interval()[0]))  # noqa: E731
    assert width(far) > width(near)
    assert any("output_tokens_mean" in w for w in far.warnings)
    assert not any("outside the reference tasks' range" in w for w in near.warnings)


def test_a_model_without_runs_is_forecast_from_the_prior_flagged_and_less_sure(forecaster, table):
    new = pd.DataFrame({"family": ["z"], "params_billion": [5.0], "instruction_tuned": [1.0], "release_year": [2023.8]},
                       index=["newcomer"])
    [f] = forecaster.predict(table.heuristics.iloc[[0]], models=[*MODELS, "newcomer"], descriptors=new)
    low, high = f.interval()
    assert f.runs["newcomer"] == 0 and "newcomer" in f.low_confidence
    assert high[-1] - low[-1] > np.mean(high[:-1] - low[:-1])
    assert any("newcomer" in w and "no runs" in w for w in f.warnings)


def test_descriptors_outside_the_study_models_range_are_not_extrapolated_and_this_is_said(forecaster, table):
    huge = pd.DataFrame({"family": ["z"], "params_billion": [405.0], "instruction_tuned": [0.0], "release_year": [2026.0]},
                        index=["giant"])
    [f] = forecaster.predict(table.heuristics.iloc[[0]], models=["giant"], descriptors=huge)
    assert any("giant (params_billion, release_year)" in w for w in f.warnings)
    clamped = huge.assign(params_billion=7.0, release_year=2024.0)
    [g] = forecaster.predict(table.heuristics.iloc[[0]], models=["giant"], descriptors=clamped)
    assert f.center[0] == pytest.approx(g.center[0])


def test_a_model_with_runs_on_three_tasks_is_forecast_from_them_with_its_own_uncertainty(table):
    # "big-chat" ran only three tasks (one per metric family): on the tasks it did not run, its forecast is
    # closer to its real scores than the prior's without any run, and its uncertainty lies between a model
    # without runs and one with all its runs.
    def without(cells):
        scores = table.finetuned.copy()
        scores.loc[cells, "big-chat"] = np.nan
        kept = [m for m in MODELS if scores[m].notna().any()]
        return JointForecaster(RECIPE, n_draws=1000).fit(type(table)._trusted(
            finetuned=scores[kept], base=table.base[kept], gpt4=table.gpt4, heuristics=table.heuristics,
            descriptors=table.descriptors.loc[kept], excluded={}))

    unseen = list(table.tasks[3:])
    few, none, everything = without(unseen), without(list(table.tasks)), JointForecaster(RECIPE, n_draws=1000).fit(table)
    tasks = table.heuristics.loc[unseen]
    prior = table.descriptors.loc[["big-chat"]]
    with_few = few.predict(tasks, models=MODELS)
    no_runs = none.predict(tasks, models=MODELS, descriptors=prior)
    all_runs = everything.predict(tasks, models=MODELS)
    actual = table.finetuned.loc[unseen, "big-chat"].to_numpy()
    error = lambda fs: float(np.mean(np.abs([f.center[3] for f in fs] - actual)))  # noqa: E731
    assert with_few[0].runs["big-chat"] == 3 and "big-chat" in with_few[0].low_confidence
    assert error(with_few) < error(no_runs)
    sd = lambda fs: float(np.mean([np.std(f.samples[:, 3]) for f in fs]))  # noqa: E731
    assert sd(all_runs) < sd(with_few) < sd(no_runs)


def test_measured_base_scores_sharpen_the_forecast(table):
    plain = score_forecasts(leave_one_task_out(fit(RECIPE, table), table), table)
    measured = score_forecasts(leave_one_task_out(fit(RECIPE.with_base_scores(), table), table, base_scores=True), table)
    assert measured.mae < plain.mae
    assert measured.base_mae == pytest.approx(0.0)


def test_fitting_and_forecasting_are_deterministic(table):
    a = JointForecaster(RECIPE, n_draws=500, seed=3).fit(table).predict(table.heuristics.iloc[[5]])[0]
    b = JointForecaster(RECIPE, n_draws=500, seed=3).fit(table).predict(table.heuristics.iloc[[5]])[0]
    np.testing.assert_array_equal(a.samples, b.samples)


def test_a_profile_missing_a_heuristic_is_refused_by_name(forecaster, table):
    with pytest.raises(ProfileFeatureError, match="output_tokens_mean"):
        forecaster.predict(table.heuristics.drop(columns=["output_tokens_mean"]).iloc[[0]])


def test_a_forecaster_needing_base_scores_refuses_to_forecast_without_them(table):
    forecaster = JointForecaster(RECIPE.with_base_scores(), n_draws=200).fit(table)
    with pytest.raises(ValueError, match="zero-shot"):
        forecaster.predict(table.heuristics.iloc[[0]])
