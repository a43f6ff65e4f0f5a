"""Onboarding a model the study never ran: which tasks to run first, and what k runs buy (measured)."""
from __future__ import annotations

import pandas as pd
import pytest
from synthetic import MODELS, synthetic_table

from advisor.features import FeatureSpec
from advisor.onboarding import choose_onboarding_tasks, onboarding_curve
from advisor.spread import SpreadModel, SpreadRecipe
from advisor.task_level import task_levels

FAMILIES = ("metric_family:binary", "metric_family:exact", "metric_family:overlap")


@pytest.fixture(scope="module")
def table():
    return synthetic_table(n_tasks=12, family_effect=0.12)


def test_the_rule_runs_one_task_of_each_metric_family_before_a_second_of_any(table):
    features = FeatureSpec(FAMILIES).matrix(table.heuristics)
    deviations = table.finetuned.sub(task_levels(table.finetuned), axis=0)
    model = SpreadModel(SpreadRecipe(FAMILIES, 1.0)).fit(deviations, features, table.descriptors, MODELS)
    chosen = choose_onboarding_tasks(model, features, 3)
    assert len(set(table.heuristics.loc[chosen, "metric_family"])) == 3


def test_the_rule_prefers_the_cheaper_of_two_equally_informative_tasks(table):
    features = FeatureSpec(FAMILIES).matrix(table.heuristics)
    deviations = table.finetuned.sub(task_levels(table.finetuned), axis=0)
    model = SpreadModel(SpreadRecipe(FAMILIES, 1.0)).fit(deviations, features, table.descriptors, MODELS)
    twins = features.iloc[[0, 3]]  # two binary tasks: the same features
    cost = pd.Series({twins.index[0]: 9000.0, twins.index[1]: 50.0})
    assert choose_onboarding_tasks(model, twins, 1, cost=cost) == [twins.index[1]]


def test_the_onboarding_curve_improves_with_revealed_runs_and_reports_the_goal(table):
    curve = onboarding_curve(table, ks=(0, 1, 3), repeats=2, models=["small-base", "big-chat"])
    chosen = {p.k: p for p in curve.points if p.rule == "chosen"}
    assert chosen[3].mae < chosen[0].mae
    d = curve.to_dict()
    assert set(d["curve"]) == {"0", "1", "3"} and "random" in d["curve"]["1"]
    assert isinstance(d["goal_k3_mae_within_10pct"], bool)
    assert "MAE" in curve.format()
