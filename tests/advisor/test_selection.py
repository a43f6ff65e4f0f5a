"""Choosing the recipe honestly: inside the training tasks only, each component for the question it answers."""
from __future__ import annotations

import pytest
from synthetic import synthetic_table

import advisor.selection as selection
from advisor.evaluation import ranking_metrics, score_forecasts, winkler_score
from advisor.selection import choose_recipe, feature_groups, nested_leave_one_task_out


@pytest.fixture(scope="module")
def table():
    return synthetic_table(n_tasks=15, family_effect=0.1)


def test_feature_groups_hold_the_heuristics_every_profile_defines_and_the_categories_of_two_tasks_or_more(table):
    groups = feature_groups(table)
    assert "output_tokens_mean" in groups.study and groups.learner == ("simple_learner_score",)
    assert set(groups.families) == {"metric_family:binary", "metric_family:exact", "metric_family:overlap"}
    lonely = table.heuristics.copy()
    lonely.loc[lonely.index[0], "task_type"] = "math"
    groups = feature_groups(type(table)._trusted(finetuned=table.finetuned, base=table.base, gpt4=table.gpt4,
                                                 heuristics=lonely, descriptors=table.descriptors, excluded={}))
    assert "task_type:math" not in groups.kinds


def test_the_level_reads_the_heuristic_that_drives_the_score_and_the_spread_reads_the_metric_family(table):
    report = choose_recipe(table)
    assert report.recipe.level.regressor != "mean"
    assert "output_tokens_mean" in report.recipe.level.features
    assert report.level_scores["mean"] > report.level_scores[report.recipe.level.name]
    assert any(f.startswith("metric_family:") for f in report.recipe.spread.features)


def test_nested_evaluation_chooses_the_recipe_without_ever_seeing_the_held_out_task(table, monkeypatch):
    seen: list[set[str]] = []
    real = selection.choose_recipe

    def spy(train, **kwargs):
        seen.append(set(train.tasks))
        return real(train, **kwargs)

    monkeypatch.setattr(selection, "choose_recipe", spy)
    held = nested_leave_one_task_out(table, n_draws=200)
    assert len(seen) == len(table.tasks)
    for task, tasks_seen in zip(table.tasks, seen):
        assert task not in tasks_seen and len(tasks_seen) == len(table.tasks) - 1
    assert score_forecasts(held, table).incoherent_beat_gpt4 == 0


def test_ranking_metrics_match_a_hand_computed_example():
    import pandas as pd

    actual = pd.DataFrame({"a": [0.9, 0.5], "b": [0.7, 0.6], "c": [0.2, 0.4]})
    pred = pd.DataFrame({"a": [0.8, 0.7], "b": [0.9, 0.5], "c": [0.1, 0.3]})
    m = ranking_metrics(pred, actual)
    assert m["top1_hit_rate"] == 0.0
    assert m["mean_regret"] == pytest.approx((0.2 + 0.1) / 2)
    assert m["worst_regret"] == pytest.approx(0.2)
    assert m["mae"] == pytest.approx((0.1 + 0.2 + 0.1 + 0.2 + 0.1 + 0.1) / 6)


def test_the_winkler_score_adds_the_width_and_twice_over_alpha_times_each_miss():
    import numpy as np

    scores = winkler_score(np.array([0.2, 0.2]), np.array([0.4, 0.4]), np.array([0.3, 0.45]), 0.8)
    assert scores.tolist() == pytest.approx([0.2, 0.2 + 10 * 0.05])
