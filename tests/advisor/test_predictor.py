"""The predictor learns the structure of a study table and says honestly how sure it is."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import MODELS, synthetic_table

from advisor.estimators import Blend, JointLightGBM, LevelAndSpread, PerModelMean, TwoStage
from advisor.evaluation import Candidate, evaluate_candidate, leave_one_model_out, ranking_metrics
from advisor.features import STUDY_FEATURES, FeatureSpec, ProfileFeatureError
from advisor.predictor import Predictor
from advisor.training_data import TrainingDataError, build_training_table, descriptors_frame
from featurizers.profile_types import TaskProfile


def ridge_candidate(base: bool = False) -> Candidate:
    return Candidate("ridge", STUDY_FEATURES, lambda: TwoStage("ridge", "mean", use_base_scores=base))


def test_training_a_bundle_twice_gives_the_same_predictor_and_card():
    from advisor.training import train_bundle

    table = synthetic_table(n_tasks=12)
    runs = table.finetuned.stack().rename("score").reset_index().rename(columns={"level_0": "task", "level_1": "model"})
    runs["kind"] = "qlora"
    candidates = [Candidate("per-model-mean", STUDY_FEATURES, PerModelMean),
                  Candidate("per-model-mean+base", STUDY_FEATURES, lambda: PerModelMean(use_base_scores=True)),
                  ridge_candidate(), Candidate("ridge+base", STUDY_FEATURES, lambda: TwoStage("ridge", use_base_scores=True))]
    bundles = [train_bundle(table, runs, table.heuristics, featurizer_version="1.0", candidates=candidates)[0] for _ in range(2)]
    for b in bundles:
        b.card.pop("trained_at")
    assert bundles[0].card == bundles[1].card
    outs = [b.default.predict(table.heuristics.iloc[:4]) for b in bundles]
    pd.testing.assert_frame_equal(outs[0].finetuned, outs[1].finetuned)
    pd.testing.assert_frame_equal(outs[0].interval_high, outs[1].interval_high)


def test_ranking_metrics_match_a_hand_computed_example():
    actual = pd.DataFrame({"a": [0.9, 0.4], "b": [0.5, 0.6], "c": [0.1, 0.2]}, index=["t1", "t2"])
    pred = pd.DataFrame({"a": [0.8, 0.5], "b": [0.6, 0.4], "c": [0.2, 0.2]}, index=["t1", "t2"])
    m = ranking_metrics(pred, actual)
    assert m["mae"] == pytest.approx(np.mean([0.1, 0.1, 0.1, 0.1, 0.2, 0.0]))
    assert m["top1_hit_rate"] == 0.5          # t1 picks a (best), t2 picks a (0.4) instead of b (0.6)
    assert m["mean_regret"] == pytest.approx(0.1)
    assert m["worst_regret"] == pytest.approx(0.2)
    assert m["spearman"] == pytest.approx(np.mean([1.0, 0.5]))


def test_a_heuristic_model_beats_the_per_model_mean_when_the_heuristic_drives_the_score():
    table = synthetic_table(n_tasks=14)
    ridge = evaluate_candidate(ridge_candidate(), table)
    baseline = evaluate_candidate(Candidate("mean", STUDY_FEATURES, PerModelMean), table)
    assert ridge.mae < 0.5 * baseline.mae
    assert ridge.spearman > 0.9                  # model offsets are constant: the order is learnable


def test_measured_base_scores_sharpen_the_forecast():
    table = synthetic_table(n_tasks=14, noise=0.05)
    without = evaluate_candidate(Candidate("m", STUDY_FEATURES, PerModelMean), table)
    with_base = evaluate_candidate(Candidate("m+b", STUDY_FEATURES, lambda: PerModelMean(use_base_scores=True)), table)
    assert with_base.mae < without.mae


def test_intervals_cover_held_out_tasks_near_their_nominal_level():
    table = synthetic_table(n_tasks=20, noise=0.05, seed=3)
    m = evaluate_candidate(ridge_candidate(), table)
    assert 0.65 <= m.interval_coverage <= 0.95   # nominal 80%, measured on held-out tasks
    assert m.interval_width < 0.5


def test_beat_gpt4_probabilities_separate_winners_from_losers():
    table = synthetic_table(n_tasks=20, noise=0.03, seed=1)
    # Make GPT-4 strong on hard tasks only, so whether a model wins depends on the heuristic.
    level = table.finetuned.mean(axis=1)
    table = table.__class__(table.finetuned, table.base, (1.4 - level).clip(0, 1), table.heuristics, table.descriptors)
    m = evaluate_candidate(ridge_candidate(), table)
    assert m.auc_beat_gpt4 is not None and m.auc_beat_gpt4 > 0.8
    assert m.brier_beat_gpt4 < 0.2


def test_level_and_spread_takes_the_task_level_from_one_model_and_the_spread_from_the_other():
    table = synthetic_table(n_tasks=16)
    features = FeatureSpec(STUDY_FEATURES).matrix(table.heuristics)
    level_features = ("output_tokens_mean", "io_rougeL_mean")
    est = LevelAndSpread(level_features, TwoStage("knn", "knn")).fit(table, features)
    out = est.predict(features.iloc[:5])
    level = TwoStage("ridge").fit(table, features[list(level_features)]).predict_task_level(features.iloc[:5][list(level_features)])
    spread = TwoStage("knn", "knn").fit(table, features).predict(features.iloc[:5])
    assert ((out > 0) & (out < 1)).all().all()   # nothing clipped, so the identities below are exact
    pd.testing.assert_series_equal(out.mean(axis=1), level, check_names=False)
    pd.testing.assert_frame_equal(out.sub(out.mean(axis=1), axis=0), spread.sub(spread.mean(axis=1), axis=0))
    assert evaluate_candidate(Candidate("ls", STUDY_FEATURES, lambda: LevelAndSpread(level_features, TwoStage("knn", "knn"))),
                              table).mae < 0.5 * evaluate_candidate(Candidate("mean", STUDY_FEATURES, PerModelMean), table).mae


def test_level_features_must_be_among_the_estimators_features():
    table = synthetic_table(n_tasks=8)
    features = FeatureSpec(STUDY_FEATURES).matrix(table.heuristics)
    with pytest.raises(ValueError, match=r"level features \['simple_learner_score'\]"):
        LevelAndSpread(("simple_learner_score",), TwoStage("knn", "knn")).fit(table, features)


@pytest.mark.parametrize(
    "estimator",
    [lambda: TwoStage("ridge"), lambda: TwoStage("knn", "knn"), lambda: TwoStage("lightgbm"), lambda: JointLightGBM(),
     lambda: Blend([TwoStage("ridge"), TwoStage("knn", "knn")]),
     lambda: LevelAndSpread(("output_tokens_mean",), TwoStage("knn", "knn"))],
    ids=["ridge", "nearest-tasks", "lightgbm", "lightgbm-joint", "blend", "level-and-spread"],
)
def test_training_is_deterministic(estimator):
    table = synthetic_table()
    a = Predictor(FeatureSpec(STUDY_FEATURES), estimator()).fit(table).predict(table.heuristics.iloc[:3])
    b = Predictor(FeatureSpec(STUDY_FEATURES), estimator()).fit(table).predict(table.heuristics.iloc[:3])
    pd.testing.assert_frame_equal(a.finetuned, b.finetuned)
    pd.testing.assert_frame_equal(a.p_beat_gpt4, b.p_beat_gpt4)
    pd.testing.assert_series_equal(a.expected_regret, b.expected_regret)


def test_forecasts_are_scores_and_intervals_contain_them():
    table = synthetic_table()
    out = Predictor(FeatureSpec(STUDY_FEATURES), TwoStage("ridge")).fit(table).predict(table.heuristics)
    assert ((out.finetuned >= 0) & (out.finetuned <= 1)).all().all()
    assert (out.interval_low <= out.finetuned).all().all() and (out.finetuned <= out.interval_high).all().all()
    assert ((out.p_beat_gpt4 > 0) & (out.p_beat_gpt4 < 1)).all().all()
    assert (out.expected_regret >= 0).all()


def test_a_base_model_without_runs_is_forecast_from_descriptors_and_flagged():
    table = synthetic_table()
    descriptors = pd.concat([table.descriptors, pd.DataFrame(
        {"family": ["z"], "params_billion": [7.0], "instruction_tuned": [1.0], "release_year": [2024.2]}, index=["new-7b"])])
    out = Predictor(FeatureSpec(STUDY_FEATURES), TwoStage("ridge")).fit(table).predict(
        table.heuristics.iloc[:2], models=MODELS + ["new-7b"], descriptors=descriptors)
    assert out.low_confidence == ["new-7b"]
    # A 7B instruction-tuned model resembles big-chat more than small-base.
    assert (out.finetuned["new-7b"] > out.finetuned["small-base"]).all()
    widths = out.interval_high - out.interval_low
    assert (widths["new-7b"] >= widths["big-chat"] - 1e-9).all()


def test_leave_one_model_out_measures_descriptor_forecasts():
    table = synthetic_table(n_tasks=12)
    errors = leave_one_model_out(ridge_candidate(), table)
    assert set(errors) == set(MODELS)
    assert all(0 <= e < 0.2 for e in errors.values())


def test_a_profile_missing_a_heuristic_is_refused_by_name():
    heur = synthetic_table().heuristics.drop(columns=["io_rougeL_mean"])
    with pytest.raises(ProfileFeatureError, match="io_rougeL_mean"):
        FeatureSpec(STUDY_FEATURES).matrix(heur)


def test_an_empty_results_database_cannot_train():
    runs = pd.DataFrame(columns=["task", "model", "kind", "score"])
    with pytest.raises(TrainingDataError, match="no runs"):
        build_training_table(runs, {}, pd.DataFrame())


def test_tasks_without_profiles_are_left_out_and_said_so():
    table = synthetic_table(n_tasks=5)
    runs = table.finetuned.stack().rename("score").reset_index().rename(columns={"level_0": "task", "level_1": "model"})
    runs["kind"] = "qlora"
    profiles = {t: TaskProfile(heuristics=table.heuristics.loc[t].to_dict(), n_examples=10, n_profiled=10) for t in table.tasks[:4]}
    desc = table.descriptors.reset_index(names="model").assign(release_date="2024-01-01")
    built = build_training_table(runs, profiles, descriptors_frame(desc), exclude={})
    assert built.tasks == table.tasks[:4]
    assert "profile" in built.excluded[table.tasks[4]]


def test_task_type_indicators_are_read_from_the_detected_task_type():
    from advisor.features import TASK_TYPE_FEATURES, heuristics_frame

    profiles = {
        "a": TaskProfile(heuristics={"n_examples": 10.0}, n_examples=10, n_profiled=10, task_type="classification"),
        "b": TaskProfile(heuristics={"n_examples": 99.0}, n_examples=99, n_profiled=99, task_type="math"),
    }
    frame = FeatureSpec(("n_examples",) + TASK_TYPE_FEATURES).matrix(heuristics_frame(profiles))
    assert frame.loc["a", "task_type:classification"] == 1.0 and frame.loc["a", "task_type:free_generation"] == 0.0
    assert frame.loc["b", list(TASK_TYPE_FEATURES)].sum() == 0.0
    assert frame.loc["b", "n_examples"] == pytest.approx(np.log1p(99.0))


def test_a_profile_without_a_task_type_column_is_refused_when_the_predictor_reads_it():
    heur = synthetic_table().heuristics
    with pytest.raises(ProfileFeatureError, match="task_type"):
        FeatureSpec(("n_examples", "task_type:classification")).matrix(heur)


def test_a_level_and_spread_forecast_is_explained_by_its_level_model_alone():
    from advisor.api import task_level_contributions

    table = synthetic_table(n_tasks=16)
    level_features = ("output_tokens_mean", "io_rougeL_mean")
    predictor = Predictor(FeatureSpec(STUDY_FEATURES), LevelAndSpread(level_features, TwoStage("knn", "knn"))).fit(table)
    contributions, method = task_level_contributions(predictor, FeatureSpec(STUDY_FEATURES).matrix(table.heuristics.iloc[:1]))
    assert method == "ridge coefficients"
    assert list(contributions.index) == list(STUDY_FEATURES)
    assert (contributions.drop(list(level_features)) == 0).all()
    assert abs(contributions["output_tokens_mean"]) > 0
