"""advisor.report: a Recommendation rendered as plain language, JSON, CSV and Markdown."""
from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from advisor.recommendation import (
    Explanation, FeatureContribution, Gpt4Forecast, ModelForecast, Recommendation, SimilarTask,
)
from advisor.report import summarize, to_csv, to_json, to_markdown, write_report
from featurizers.profile_types import TaskProfile


def forecast(model: str, score: float, low: float, high: float, base: float, rank: int, **kw) -> ModelForecast:
    return ModelForecast(base_model=model, predicted_score=score, interval_low=low, interval_high=high,
                         predicted_base_score=base, predicted_lift=score - base, p_beat_gpt4=kw.pop("p", 0.6),
                         p_best=kw.pop("p_best", 0.5), rank=rank, runs=kw.pop("runs", 24), **kw)


def recommendation(*forecasts: ModelForecast, regret: float = 0.012, verdict: str = "likely",
                   confidence: str = "fairly sure", warnings: tuple[str, ...] = ()) -> Recommendation:
    explanation = Explanation(
        contributions=[FeatureContribution("output_tokens_mean", 1.0, 0.041),
                       FeatureContribution("io_rougeL_mean", 0.05, -0.012)],
        similar_tasks=[SimilarTask("glue_sst2", 0.4, "mistral-7b", 0.95, 0.31, 0.94)],
        method="coefficients",
    )
    return Recommendation(forecasts=list(forecasts), explanation=explanation, gpt4=Gpt4Forecast(0.70, 0.6, 0.8),
                          verdict=verdict, confidence=confidence, verdict_probability=0.9, expected_regret=regret,
                          models_to_validate=[f.base_model for f in forecasts[:2]], task="reviews", metric="binary_flex",
                          warnings=list(warnings), predictor_version="p1", featurizer_version="1.0")


PROFILE = TaskProfile(heuristics={"n_examples": 600.0, "output_tokens_mean": 1.0, "io_rougeL_mean": math.nan},
                      n_examples=600, n_profiled=300, intervals={"output_tokens_mean": (0.9, 1.1)},
                      task_type="classification", metric="binary_flex")


def test_the_summary_states_the_recommendations_verdict_pick_lift_gpt4_and_who_to_validate():
    rec = recommendation(forecast("mistral-7b", 0.90, 0.82, 0.95, 0.40, 1), forecast("phi-2", 0.80, 0.7, 0.9, 0.3, 2))
    s = summarize(rec)
    assert (s.verdict, s.confidence) == ("likely", "fairly sure")
    assert "mistral-7b" in s.headline
    assert any("+0.500" in line for line in s.details)
    assert any("60%" in line and "GPT-4" in line and "0.700" in line for line in s.details)
    assert any("validate mistral-7b, phi-2" in line and "regret" in line for line in s.details)


def test_an_unlikely_verdict_gets_its_own_headline():
    s = summarize(recommendation(forecast("phi-2", 0.52, 0.2, 0.9, 0.50, 1), verdict="unlikely",
                                 confidence="not very sure"))
    assert s.verdict == "unlikely" and "unlikely" in s.headline and s.confidence == "not very sure"


def test_a_pick_without_runs_is_said_to_be_forecast_from_a_prior_and_warnings_are_passed_on():
    rec = recommendation(forecast("new-model", 0.60, 0.45, 0.7, 0.52, 1, low_confidence=True, runs=0),
                         verdict="possible", confidence="not very sure", warnings=("92% of the rows are duplicates",))
    s = summarize(rec)
    assert any("no fine-tuning runs" in line and "prior" in line for line in s.details)
    assert s.details[-1] == "Note: 92% of the rows are duplicates"


def test_a_measured_base_score_is_called_measured_in_the_lift():
    f = forecast("mistral-7b", 0.80, 0.72, 0.86, 0.75, 1, measured_base_score=0.75)
    s = summarize(recommendation(f, verdict="possible"))
    assert any("measured 0.750" in line and "+0.050" in line for line in s.details)


def test_json_report_holds_summary_forecasts_explanation_and_a_standard_json_profile():
    rec = recommendation(forecast("mistral-7b", 0.9, 0.8, 0.95, 0.4, 1))
    text = to_json(rec, PROFILE, task_name="reviews")
    assert "NaN" not in text
    d = json.loads(text)
    assert d["task"] == "reviews"
    assert d["best"] == "mistral-7b"
    assert d["summary"]["verdict"] == "likely"
    assert d["profile"]["heuristics"]["io_rougeL_mean"] is None
    assert d["explanation"]["similar_tasks"][0]["task"] == "glue_sst2"


def test_csv_report_has_one_row_per_base_model_best_first_with_the_task_name():
    rec = recommendation(forecast("a", 0.9, 0.8, 0.95, 0.4, 1), forecast("b", 0.7, 0.6, 0.8, 0.4, 2))
    frame = pd.read_csv(io.StringIO(to_csv(rec, task_name="t")))
    assert frame["base_model"].tolist() == ["a", "b"]
    assert (frame["task"] == "t").all()
    assert {"predicted_score", "interval_low", "interval_high", "predicted_lift", "p_beat_gpt4"} <= set(frame.columns)


def test_markdown_report_has_the_recommendation_ranking_explanation_and_heuristics():
    rec = recommendation(forecast("a", 0.9, 0.8, 0.95, 0.4, 1), forecast("b", 0.7, 0.6, 0.8, 0.4, 2))
    md = to_markdown(rec, PROFILE, task_name="reviews")
    assert md.startswith("# Fine-tuning forecast: reviews")
    assert "| 1 | a | 0.900 | 0.800 – 0.950 | 0.400 |" in md
    assert "## Why (coefficients)" in md and "| output_tokens_mean | 1.000 | +0.041 |" in md
    assert "## Most similar reference tasks" in md and "glue_sst2" in md
    assert "Detected task type: classification." in md
    assert "Scores are on the task's metric: binary_flex." in md
    assert "| output_tokens_mean | 1.000 | 0.900 – 1.100 |" in md


def test_write_report_picks_the_format_by_suffix_and_rejects_an_unknown_one(tmp_path):
    rec = recommendation(forecast("a", 0.9, 0.8, 0.95, 0.4, 1))
    assert json.loads(write_report(rec, tmp_path / "r.json", PROFILE).read_text())["best"] == "a"
    assert write_report(rec, tmp_path / "r.md").read_text().startswith("# Fine-tuning forecast")
    assert write_report(rec, tmp_path / "r.csv").read_text().startswith("rank,")
    with pytest.raises(ValueError, match=r"\.json, \.csv or \.md"):
        write_report(rec, tmp_path / "r.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json", "r.md"]  # no temp files left


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_written_report_gets_the_permissions_the_umask_gives_a_plain_write(tmp_path, umask):
    import os
    import stat

    rec = recommendation(forecast("a", 0.9, 0.8, 0.95, 0.4, 1))
    previous = os.umask(umask)
    try:
        for name in ("r.json", "r.md", "r.csv"):
            path = write_report(rec, tmp_path / name, PROFILE)
            assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(previous)
