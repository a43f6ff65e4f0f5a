"""`advisor rank`, `advisor evaluate` and `advisor train` from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.api import Advisor
from advisor.cli import main

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "advisor" / "examples" / "sentiment_reviews.csv"


@pytest.fixture
def seeded_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'advisor.db'}"
    monkeypatch.setenv("ADVISOR_DB_URL", url)
    assert main(["db", "init"]) == 0
    return url


def test_rank_prints_one_json_object_with_the_metric_gpt4_verdict_and_a_ranking(capsys: pytest.CaptureFixture[str]):
    code = main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}\nPositive or negative?", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] and out["verdict"] in ("likely", "possible", "unlikely")
    assert set(out["gpt4_forecast"]) == {"score", "low", "high"} and isinstance(out["warnings"], list)
    rows = out["ranking"]
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    for key in ("base_model", "predicted_score", "interval_low", "interval_high", "predicted_base",
                "predicted_lift", "p_beat_gpt4", "p_best", "rank", "low_confidence"):
        assert key in rows[0]
    assert {"mistral-7b", "phi-2"} <= {r["base_model"] for r in rows}
    assert "explanation" not in out


def test_rank_json_with_explain_adds_the_explanation(capsys: pytest.CaptureFixture[str]):
    assert main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}", "--json", "--explain", "--sample", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["explanation"]["similar_tasks"] and out["explanation"]["contributions"]


def test_rank_prints_a_readable_table_with_the_metric_gpt4_and_the_verdict(capsys: pytest.CaptureFixture[str]):
    assert main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}", "--explain"]) == 0
    out = capsys.readouterr().out
    for text in ("metric:", "GPT-4 forecast:", "80% interval", "zero-shot", "P(best)", "Verdict: fine-tuning is",
                 "To be sure of the pick, validate", "(together 80% of P(best)", "Most similar reference tasks"):
        assert text in out


def test_rank_refuses_sample_and_exact_together(capsys: pytest.CaptureFixture[str]):
    code = main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label", "--template", "{review}",
                 "--sample", "10", "--exact"])
    assert code == 2 and "--sample" in capsys.readouterr().err


def test_rank_refuses_an_unknown_base_model_in_one_line(capsys: pytest.CaptureFixture[str]):
    code = main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "{review}", "--base-models", "gpt-5"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown base model" in err and "gpt-5" in err


def test_rank_refuses_a_malformed_base_score(capsys: pytest.CaptureFixture[str]):
    code = main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "{review}", "--base-score", "phi-2"])
    assert code == 2 and "MODEL=SCORE" in capsys.readouterr().err


def test_evaluate_reproduces_the_baseline_of_the_study_table_and_measures_the_chosen_recipe(seeded_db: str, capsys: pytest.CaptureFixture[str]):
    assert main(["evaluate", "--json", "--tasks", "glue_sst2,arc_combined,viggo"]) == 0
    result = json.loads(capsys.readouterr().out)
    everything = result["baseline_all_tasks"]
    assert everything["n_tasks"] == 31
    assert everything["mae"] == pytest.approx(0.217, abs=5e-4)
    assert everything["spearman"] == pytest.approx(0.518, abs=5e-4)
    assert everything["top1_hit_rate"] == pytest.approx(10 / 31)
    assert everything["mean_regret"] == pytest.approx(0.0144, abs=5e-5)
    assert result["tasks"] == ["glue_sst2", "arc_combined", "viggo"] and "mmlu" in result["excluded_tasks"]
    metrics = result["metrics"]
    baseline, chosen = metrics["baseline (per-model mean)"], metrics["chosen recipe (plain)"]
    assert chosen["mae"] < baseline["mae"] and chosen["incoherent_beat_gpt4"] == 0
    assert metrics["chosen recipe + base scores (plain)"]["base_mae"] == 0.0   # measured base scores used as given
    assert "selection rule (nested)" not in metrics                          # only with --nested
    assert result["recipe"].startswith("level ")


def test_evaluate_refuses_an_unknown_task_by_name(seeded_db: str, capsys: pytest.CaptureFixture[str]):
    assert main(["evaluate", "--tasks", "not_a_task"]) == 2
    assert "not_a_task" in capsys.readouterr().err


def test_the_shipped_predictor_reports_nested_figures_that_beat_the_baseline():
    card = Advisor.load().model_card
    metrics = card["evaluation"]["metrics"]
    assert card["evaluation_kind"] == "nested"
    nested, baseline = metrics["selection rule (nested)"], metrics["baseline (per-model mean)"]
    assert nested["mae"] < baseline["mae"] and nested["spearman"] > baseline["spearman"]
    assert nested["mean_regret"] < baseline["mean_regret"]
    assert 0.7 <= nested["interval_coverage"] <= 0.9 and nested["incoherent_beat_gpt4"] == 0
    assert nested["width_ratio"] >= 1.5   # widths depend on the task (whether that beats constant widths: the card)


def test_train_writes_a_loadable_artifact_with_its_model_card(seeded_db: str, tmp_path: Path):
    out = tmp_path / "artifact"
    assert main(["train", "--out", str(out), "--evaluation", "none"]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["recipe"].startswith("level ") and card["evaluation"] is None
    assert (out / "MODEL_CARD.md").read_text().startswith("# Model card")
    profile = Advisor.load().reference_profiles().loc["glue_sst2"].dropna().to_dict()
    from featurizers.profile_types import TaskProfile

    rec = Advisor.load(out).rank(TaskProfile(heuristics=profile, n_examples=int(profile["n_examples"]), n_profiled=10,
                                             task_type="classification", metric="binary_flex"))
    assert rec.predictor_version == card["predictor_version"]


def test_train_on_an_empty_database_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ADVISOR_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["train", "--out", str(tmp_path / "out")]) == 2
    assert "advisor db init" in capsys.readouterr().err
    assert not (tmp_path / "out" / "predictor.joblib").exists()


@pytest.mark.slow
def test_rank_probe_measures_a_real_models_zero_shot_score_and_forecasts_with_it(smollm2_dir: Path, capsys):
    assert main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}\nPositive or negative?", "--json",
                 "--probe", f"smollm2-135m-instruct={smollm2_dir}", "--probe-n", "12", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    row = next(r for r in out["ranking"] if r["base_model"] == "smollm2-135m-instruct")
    assert row["measured_base_score"] is not None and row["predicted_base"] == row["measured_base_score"]
    assert "probe: smollm2-135m-instruct zero-shot" in captured.err
