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


def test_rank_prints_a_json_forecast_per_base_model_for_a_users_csv(capsys: pytest.CaptureFixture[str]):
    code = main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}\nPositive or negative?", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 10
    for key in ("base_model", "predicted_score", "interval_low", "interval_high", "predicted_lift", "p_beat_gpt4", "rank"):
        assert key in rows[0]
    assert [r["rank"] for r in rows] == list(range(1, 11))


def test_rank_prints_a_readable_table_with_the_best_pick(capsys: pytest.CaptureFixture[str]):
    assert main(["rank", str(EXAMPLE_CSV), "--input-cols", "review", "--target-col", "label",
                 "--template", "Review: {review}", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "Best:" in out and "Most similar reference tasks:" in out


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


def test_evaluate_reproduces_the_baseline_figures_of_the_study_table(seeded_db: str, capsys: pytest.CaptureFixture[str]):
    assert main(["evaluate", "--json", "--candidates", "per-model-mean"]) == 0
    result = json.loads(capsys.readouterr().out)
    everything = result["baseline_all_tasks"]
    assert everything["n_tasks"] == 31
    assert everything["mae"] == pytest.approx(0.217, abs=5e-4)
    assert everything["spearman"] == pytest.approx(0.518, abs=5e-4)
    assert everything["top1_hit_rate"] == pytest.approx(10 / 31)
    assert everything["mean_regret"] == pytest.approx(0.0144, abs=5e-5)
    assert result["n_tasks"] == 24 and "mmlu" in result["excluded_tasks"]
    assert set(result["candidates"]) == {"per-model-mean", "per-model-mean+base"}
    with_base = result["candidates"]["per-model-mean+base"]
    assert with_base["base_mae"] == 0.0   # measured base scores are used as given
    assert 0.0 < result["candidates"]["per-model-mean"]["base_mae"] < 0.5
    assert with_base["lift_mae"] > 0.0


def test_the_shipped_predictor_beats_the_baseline_on_mae_and_regret():
    card = Advisor.load().model_card["evaluation"]
    shipped, baseline = card["candidates"][card["shipped"]], card["candidates"]["per-model-mean"]
    assert shipped["mae"] < baseline["mae"]
    assert shipped["mean_regret"] <= baseline["mean_regret"]
    assert 0.6 <= shipped["interval_coverage"] <= 0.95


def test_train_writes_a_loadable_artifact_with_its_model_card(seeded_db: str, tmp_path: Path):
    out = tmp_path / "artifact"
    assert main(["train", "--out", str(out), "--candidates", "ridge-select"]) == 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["evaluation"]["shipped"] in {"ridge-select", "per-model-mean"}
    assert set(card["leave_one_model_out_mae"]) == set(card["base_models"])
    assert (out / "MODEL_CARD.md").read_text().startswith("# Model card")
    profile = Advisor.load().reference_profiles().loc["glue_sst2"].dropna().to_dict()
    from featurizers.profile_types import TaskProfile

    rec = Advisor.load(out).rank(TaskProfile(heuristics=profile, n_examples=int(profile["n_examples"]), n_profiled=10))
    assert rec.predictor_version == card["predictor_version"]


def test_train_on_an_empty_database_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("ADVISOR_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["train", "--out", str(tmp_path / "out")]) == 2
    assert "advisor db init" in capsys.readouterr().err
    assert not (tmp_path / "out" / "predictor.joblib").exists()
