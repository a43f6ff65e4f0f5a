"""The shipped advisor ranks base models for a task and explains itself; bad input is refused clearly."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from advisor.api import Advisor, UnknownBaseModelError, default_artifact_dir
from advisor.artifact import BUNDLE_FILE, ArtifactError
from advisor.features import ProfileFeatureError
from featurizers.profile_types import TaskProfile


@pytest.fixture(scope="module")
def advisor() -> Advisor:
    return Advisor.load()


@pytest.fixture(scope="module")
def sst2_like_profile(advisor: Advisor) -> TaskProfile:
    # A reference task's own heuristics, as a user profiling a similar dataset would get them.
    heuristics = advisor.reference_profiles().loc["glue_sst2"].dropna().to_dict()
    return TaskProfile(heuristics=heuristics, n_examples=int(heuristics["n_examples"]), n_profiled=100,
                       task_type="classification", metric="binary_flex")


def test_the_shipped_artifact_loads_with_its_model_card(advisor: Advisor):
    card = advisor.model_card
    assert card["featurizer_version"] == advisor.featurizer_version
    assert card["evaluation"]["n_tasks"] >= 20
    assert (default_artifact_dir() / "MODEL_CARD.md").is_file()


def test_rank_forecasts_every_base_model_best_first_from_one_joint_forecast(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile)
    assert [f.base_model for f in rec.forecasts if not f.low_confidence] != []
    assert set(advisor.trained_models) <= {f.base_model for f in rec.forecasts}
    assert [f.rank for f in rec.forecasts] == list(range(1, len(rec.forecasts) + 1))
    scores = [f.predicted_score for f in rec.forecasts]
    assert scores == sorted(scores, reverse=True)
    assert rec.best is rec.forecasts[0]
    for f in rec.forecasts:
        assert 0 <= f.interval_low <= f.predicted_score <= f.interval_high <= 1
        assert 0 < f.p_beat_gpt4 < 1 and 0 <= f.p_best <= 1
        assert f.predicted_lift == pytest.approx(f.predicted_score - f.predicted_base_score)
        # coherent with GPT-4's forecast, drawn from the same distribution
        if f.predicted_score < rec.gpt4.score - 1e-9:
            assert f.p_beat_gpt4 < 0.5
    assert sum(f.p_best for f in rec.forecasts) == pytest.approx(1.0)
    assert rec.gpt4.low <= rec.gpt4.score <= rec.gpt4.high
    assert rec.verdict in ("likely", "possible", "unlikely") and rec.expected_regret >= 0
    covered = sum(f.p_best for f in rec.forecasts if f.base_model in rec.models_to_validate)
    assert covered >= 0.8


def test_models_without_runs_are_ranked_beside_the_studys_flagged_and_less_sure(advisor: Advisor, sst2_like_profile: TaskProfile):
    extended = advisor.with_base_model("my-llama", params_billion=8.0, instruction_tuned=False, release_date="2024-04-18")
    rec = extended.rank(sst2_like_profile)
    new = next(f for f in rec.forecasts if f.base_model == "my-llama")
    known = next(f for f in rec.forecasts if f.base_model == "mistral-7b")
    assert new.low_confidence and new.runs == 0 and not known.low_confidence and known.runs >= 20
    assert new.interval_high - new.interval_low > known.interval_high - known.interval_low
    assert any("my-llama" in w for w in rec.warnings)
    assert "my-llama" not in advisor.base_models          # the original advisor is unchanged


def test_a_recommendation_converts_to_a_frame_and_to_the_json_object_of_advisor_rank(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile)
    frame = rec.to_frame()
    assert list(frame["base_model"]) == [f.base_model for f in rec.forecasts]
    payload = json.loads(json.dumps(rec.to_json_dict(explain=True)))
    for key in ("task", "metric", "n_examples", "unique_examples", "gpt4_forecast", "verdict", "warnings", "ranking",
                "explanation"):
        assert key in payload
    assert set(payload["gpt4_forecast"]) == {"score", "low", "high"}
    for key in ("base_model", "predicted_score", "interval_low", "interval_high", "predicted_base", "predicted_lift",
                "p_beat_gpt4", "p_best", "rank", "low_confidence"):
        assert key in payload["ranking"][0]
    assert "explanation" not in rec.to_json_dict()
    assert json.loads(json.dumps(rec.to_dict()))["best"] == rec.best.base_model


def test_the_explanation_names_heuristics_and_three_similar_tasks_of_the_same_kind_and_metric_first(advisor: Advisor, sst2_like_profile: TaskProfile):
    explanation = advisor.rank(sst2_like_profile).explain()
    assert explanation.contributions and explanation.recipe
    assert all(c.feature in sst2_like_profile.heuristics or ":" in c.feature for c in explanation.contributions)
    similar = explanation.similar_tasks
    assert len(similar) == 3
    assert similar[0].task == "glue_sst2" and similar[0].distance == pytest.approx(0.0, abs=1e-6)
    assert all(s.same_metric for s in similar)      # enough binary classification tasks to fill three


def test_rank_can_be_restricted_to_some_base_models(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile, base_models=["phi-2", "mistral-7b"])
    assert {f.base_model for f in rec.forecasts} == {"phi-2", "mistral-7b"}


def test_measured_base_scores_are_used_and_reported(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile, base_scores={"phi-2": 0.3, "mistral-7b": 0.9})
    by_model = {f.base_model: f for f in rec.forecasts}
    assert by_model["mistral-7b"].measured_base_score == 0.9
    assert by_model["mistral-7b"].predicted_base_score == 0.9
    plain = {f.base_model: f for f in advisor.rank(sst2_like_profile).forecasts}
    forecast = lambda f: (f.predicted_score, f.interval_low, f.interval_high, f.p_best)  # noqa: E731
    assert forecast(by_model["mistral-7b"]) != forecast(plain["mistral-7b"])


def test_an_unknown_base_model_is_refused_with_the_known_names(advisor: Advisor, sst2_like_profile: TaskProfile):
    with pytest.raises(UnknownBaseModelError, match="gpt-5.*known: .*phi-2"):
        advisor.rank(sst2_like_profile, base_models=["gpt-5"])


def test_a_base_score_outside_zero_one_is_refused(advisor: Advisor, sst2_like_profile: TaskProfile):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        advisor.rank(sst2_like_profile, base_scores={"phi-2": 1.7})


def test_a_profile_missing_features_is_refused_by_name(advisor: Advisor, sst2_like_profile: TaskProfile):
    missing = advisor.required_heuristics[0]
    heuristics = {k: v for k, v in sst2_like_profile.heuristics.items() if k != missing}
    with pytest.raises(ProfileFeatureError, match=missing):
        advisor.rank(TaskProfile(heuristics=heuristics, n_examples=10, n_profiled=10,
                                 task_type="classification", metric="binary_flex"))


def test_a_profile_from_another_featurizer_version_is_refused(advisor: Advisor, sst2_like_profile: TaskProfile):
    other = TaskProfile(**{**sst2_like_profile.__dict__, "featurizer_version": "0.0-old"})
    with pytest.raises(ValueError, match="featurizer version 0.0-old"):
        advisor.rank(other)


def test_an_artifact_from_an_incompatible_featurizer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import advisor.api as api

    monkeypatch.setattr(api, "FEATURIZER_VERSION", "99.0")
    with pytest.raises(ArtifactError, match="featurizer version .* 99.0"):
        Advisor.load()


def test_a_corrupt_artifact_is_refused_with_its_path(tmp_path: Path):
    for name in ("model_card.json", "MODEL_CARD.md"):
        shutil.copy2(default_artifact_dir() / name, tmp_path / name)
    (tmp_path / BUNDLE_FILE).write_bytes(b"not a pickle")
    with pytest.raises(ArtifactError, match=str(tmp_path)):
        Advisor.load(tmp_path)


def test_a_missing_artifact_says_how_to_train_one(tmp_path: Path):
    with pytest.raises(ArtifactError, match="advisor train"):
        Advisor.load(tmp_path)


def test_a_heuristic_outside_the_reference_tasks_range_is_named_in_a_warning(advisor: Advisor, sst2_like_profile: TaskProfile):
    name = next(n for n in advisor.required_heuristics if n.startswith(("simple_learner", "output_tokens")))
    heuristics = {**sst2_like_profile.heuristics, name: 1e7}
    rec = advisor.rank(TaskProfile(**{**sst2_like_profile.__dict__, "heuristics": heuristics}))
    assert any(name in w and "range" in w for w in rec.warnings)
