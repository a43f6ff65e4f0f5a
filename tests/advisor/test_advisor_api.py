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
                       task_type="classification")


def test_the_shipped_artifact_loads_with_its_model_card(advisor: Advisor):
    card = advisor.model_card
    assert card["featurizer_version"] == advisor.featurizer_version
    assert card["evaluation"]["n_tasks"] >= 20
    assert (default_artifact_dir() / "MODEL_CARD.md").is_file()


def test_rank_forecasts_every_study_base_model_best_first(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile)
    assert len(rec.forecasts) == 10
    assert [f.rank for f in rec.forecasts] == list(range(1, 11))
    scores = [f.predicted_score for f in rec.forecasts]
    assert scores == sorted(scores, reverse=True)
    assert rec.best is rec.forecasts[0]
    for f in rec.forecasts:
        assert 0 <= f.interval_low <= f.predicted_score <= f.interval_high <= 1
        assert 0 < f.p_beat_gpt4 < 1
        assert f.predicted_lift == pytest.approx(f.predicted_score - f.predicted_base_score)
    assert rec.expected_regret >= 0


def test_a_recommendation_converts_to_a_frame_and_to_json(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile)
    frame = rec.to_frame()
    assert list(frame["base_model"]) == [f.base_model for f in rec.forecasts]
    payload = json.loads(json.dumps(rec.to_dict()))
    assert payload["best"] == rec.best.base_model


def test_the_explanation_names_heuristics_and_three_similar_reference_tasks(advisor: Advisor, sst2_like_profile: TaskProfile):
    explanation = advisor.rank(sst2_like_profile).explain()
    assert explanation.contributions
    assert all(c.feature in sst2_like_profile.heuristics or c.feature.startswith("task_type:") for c in explanation.contributions)
    similar = explanation.similar_tasks
    assert len(similar) == 3
    assert similar[0].task == "glue_sst2" and similar[0].distance == pytest.approx(0.0, abs=1e-6)
    assert [s.distance for s in similar] == sorted(s.distance for s in similar)


def test_rank_can_be_restricted_to_some_base_models(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile, base_models=["phi-2", "mistral-7b"])
    assert {f.base_model for f in rec.forecasts} == {"phi-2", "mistral-7b"}


def test_measured_base_scores_are_used_and_reported(advisor: Advisor, sst2_like_profile: TaskProfile):
    rec = advisor.rank(sst2_like_profile, base_scores={"phi-2": 0.3, "mistral-7b": 0.9})
    by_model = {f.base_model: f for f in rec.forecasts}
    assert by_model["mistral-7b"].measured_base_score == 0.9
    assert by_model["mistral-7b"].predicted_base_score == 0.9
    plain = {f.base_model: f for f in advisor.rank(sst2_like_profile).forecasts}
    assert by_model["mistral-7b"].predicted_score != plain["mistral-7b"].predicted_score


def test_an_unknown_base_model_is_refused_with_the_known_names(advisor: Advisor, sst2_like_profile: TaskProfile):
    with pytest.raises(UnknownBaseModelError, match="gpt-5.*known: .*phi-2"):
        advisor.rank(sst2_like_profile, base_models=["gpt-5"])


def test_a_base_score_outside_zero_one_is_refused(advisor: Advisor, sst2_like_profile: TaskProfile):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        advisor.rank(sst2_like_profile, base_scores={"phi-2": 1.7})


def test_a_profile_missing_features_is_refused_by_name(advisor: Advisor, sst2_like_profile: TaskProfile):
    heuristics = dict(sst2_like_profile.heuristics)
    del heuristics["content_example_tokens_p95"]
    with pytest.raises(ProfileFeatureError, match="content_example_tokens_p95"):
        advisor.rank(TaskProfile(heuristics=heuristics, n_examples=10, n_profiled=10))


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


def test_a_base_model_without_runs_is_forecast_from_its_descriptors_and_flagged(advisor: Advisor, sst2_like_profile: TaskProfile):
    extended = advisor.with_base_model("llama-3-8b", params_billion=8.0, instruction_tuned=False, release_date="2024-04-18")
    rec = extended.rank(sst2_like_profile, base_models=["llama-3-8b", "mistral-7b"])
    new = next(f for f in rec.forecasts if f.base_model == "llama-3-8b")
    known = next(f for f in rec.forecasts if f.base_model == "mistral-7b")
    assert new.low_confidence and not known.low_confidence
    assert new.interval_high - new.interval_low >= known.interval_high - known.interval_low
    assert "llama-3-8b" not in advisor.base_models          # the original advisor is unchanged
