"""The zero-shot probe: `advisor probe` and probe_zero_shot, with the real SmolLM2-135M and the tiny model."""
from __future__ import annotations

import json
import os

import pytest
from testsupport import write_pairs_csv
from real_model_tasks import capital_pairs

from advisor.cli import main
from advisor.model_sources import ModelSourceError
from advisor.probes import PROBE_PROVENANCE, probe_zero_shot, scores_by_model
from tasks.metrics import score
from training_runs.store import Store
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def capitals_csv(tmp_path):
    return write_pairs_csv(tmp_path / "capitals.csv", ("question", "answer"), capital_pairs())


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", hidden_size=32, layers=2)


def _runs():
    with Store.open(os.environ["ADVISOR_DB_URL"]) as store:
        return store.runs_frame()


@pytest.mark.slow
def test_advisor_probe_measures_the_real_models_zero_shot_score_and_records_it(smollm2_dir, capitals_csv, capsys):
    status = main(["probe", str(capitals_csv), "--prompt-col", "question", "--completion-col", "answer",
                   "--metric", "exact_match", "--base-model", f"smollm2-135m-instruct={smollm2_dir}",
                   "--base-model", f"my-copy={smollm2_dir}", "--n", "12", "--batch-size", "12", "--device", "cpu",
                   "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [r["base_model"] for r in rows] == ["smollm2-135m-instruct", "my-copy"]
    # the instruction-tuned model knows most of these capitals zero-shot, but not all in this short form
    assert 0.5 <= rows[0]["score"] < 1.0 and rows[0]["score"] == rows[1]["score"]
    assert rows[0]["n"] == 12 and rows[0]["metric"] == "exact_match" and rows[0]["device"] == "cpu"

    runs = _runs().set_index("model")
    assert sorted(runs.index) == ["my-copy", "smollm2-135m-instruct"] and set(runs["kind"]) == {"zero-shot"}
    assert runs.loc["my-copy", "score"] == pytest.approx(rows[1]["score"])
    assert runs.loc["my-copy", "run_id"] == rows[1]["run_id"]
    assert set(runs["provenance"]) == {rows[0]["provenance"]} and rows[0]["provenance"].startswith(PROBE_PROVENANCE)
    assert runs.loc["smollm2-135m-instruct", "hyperparameters"]["probe"] == "advisor.probes.probe_zero_shot"
    assert runs.loc["smollm2-135m-instruct", "metrics"]["n_eval"] == 12


@pytest.mark.slow
def test_the_probe_score_is_the_metric_of_the_models_greedy_answers_on_a_seeded_sample(smollm2_dir):
    pairs = capital_pairs()
    first = probe_zero_shot(pairs, {"smollm2": smollm2_dir}, n=8, seed=3, device="cpu", metric="exact_match")[0]
    again = probe_zero_shot(pairs, {"smollm2": smollm2_dir}, n=8, seed=3, device="cpu", metric="exact_match")[0]
    other = probe_zero_shot(pairs, {"smollm2": smollm2_dir}, n=8, seed=4, device="cpu", metric="exact_match")[0]
    assert first.predictions == again.predictions and first.score == again.score
    assert first.run_id is None and first.n == 8
    assert other.predictions != first.predictions  # another seed, another sample
    import random

    sample = [pairs[i] for i in sorted(random.Random(3).sample(range(len(pairs)), 8))]
    assert first.score == score("exact_match", list(first.predictions), [c for _, c in sample])
    assert scores_by_model([first]) == {"smollm2": first.score}


def test_a_new_model_name_is_probed_and_recorded_under_that_name(tiny_dir, tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'probe.db'}") as store:
        results = probe_zero_shot(capital_pairs(), {"brand-new-model": tiny_dir}, n=30, store=store, device="cpu")
        runs = store.runs_frame()
    assert results[0].n == 20  # n above the data takes all of it
    assert list(runs["model"]) == ["brand-new-model"] and runs["run_id"].tolist() == [results[0].run_id]
    assert runs["task"].iloc[0] == results[0].task


def test_advisor_probe_prints_a_table_with_the_rank_options_to_feed_the_scores_back(tiny_dir, capitals_csv, capsys):
    status = main(["probe", str(capitals_csv), "--prompt-col", "question", "--completion-col", "answer",
                   "--base-model", f"tiny={tiny_dir}", "--n", "4", "--no-record", "--device", "cpu"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["base", "model", "zero-shot", "metric"]
    assert lines[2].split()[0] == "tiny" and lines[2].rstrip().endswith("not recorded")
    assert "--base-score tiny=" in out
    assert _runs().empty


@pytest.mark.parametrize("options, message", [
    (["--base-model", "no-equals-sign"], "--base-model expects NAME=PATH"),
    (["--base-model", "x=/no/such/model/dir"], "base model x: '/no/such/model/dir': no such directory"),
    (["--base-model", "x=y", "--base-model", "x=z"], "names 'x' twice"),
    (["--base-model", "x=y", "--n", "0"], "--n must be at least 1"),
])
def test_advisor_probe_reports_bad_options_in_one_line_and_records_nothing(capitals_csv, capsys, options, message):
    status = main(["probe", str(capitals_csv), "--prompt-col", "question", "--completion-col", "answer", *options])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("advisor probe: error: ") and message in err and err.count("\n") == 1
    assert _runs().empty


def test_a_model_missing_offline_is_refused_before_any_model_is_loaded(tiny_dir):
    with pytest.raises(ModelSourceError, match="not available offline: ghost"):
        probe_zero_shot(capital_pairs(), {"tiny": tiny_dir, "ghost": "acme/ghost-model-7b"}, n=2, device="cpu")
