"""``advisor finetune`` and ``advisor validate`` on the tiny model, through the real CLI entry point."""
from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from qlora_helpers import parity_pairs, tiny_model_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from advisor.cli import main
from advisor.cli import finetune_commands
from advisor.recommendation import Explanation, ModelForecast, Recommendation
from training_runs.store import Store


@pytest.fixture
def parity_csv(tmp_path):
    path = tmp_path / "parity.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "answer"])
        writer.writerows(parity_pairs(40))
    return path


def _runs():
    with Store.open(os.environ["ADVISOR_DB_URL"]) as store:
        return store.runs_frame()


FAST = ["--max-steps", "2", "--eval-size", "6", "--no-quantize", "--device", "cpu"]


def test_finetune_trains_records_and_prints_the_result_as_json(tiny_model_dir, parity_csv, tmp_path, capsys):
    status = main(["finetune", "--base-model", str(tiny_model_dir), "--data", str(parity_csv),
                   "--prompt-col", "question", "--completion-col", "answer", "--task", "parity",
                   "--metric", "rouge", "--adapters-dir", str(tmp_path / "adapters"), "--json", *FAST])
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["task"] == "parity" and result["n_eval"] == 6 and result["steps"] == 2
    assert result["metric"] == "rouge_l"  # the data option, not the metric inferred from the answers
    assert os.path.isdir(result["adapter_dir"])
    runs = _runs()
    assert sorted(runs["kind"]) == ["qlora", "zero-shot"]
    assert set(runs["provenance"]) == {result["run_id"]}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA refusal")
def test_finetune_without_cuda_refuses_4bit_in_one_line(tiny_model_dir, parity_csv, capsys):
    status = main(["finetune", "--base-model", str(tiny_model_dir), "--data", str(parity_csv),
                   "--prompt-col", "question", "--completion-col", "answer", "--eval-size", "6"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("advisor finetune: error: 4-bit QLoRA needs a CUDA GPU") and err.count("\n") == 1
    assert _runs().empty


def test_finetune_reports_a_missing_model_directory(parity_csv, tmp_path, capsys):
    status = main(["finetune", "--base-model", str(tmp_path / "no" / "model"), "--data", str(parity_csv),
                   "--prompt-col", "question", "--completion-col", "answer", *FAST])
    assert status == 2
    assert "no such directory" in capsys.readouterr().err


class _FakeAdvisor:
    """Ranks two registry models in a fixed order (the predictor itself is tested elsewhere)."""

    def rank(self, task_data):
        forecasts = [
            ModelForecast("mistral-7b", 0.8, 0.7, 0.9, 0.3, 0.5, 0.6, rank=1),
            ModelForecast("phi-2", 0.7, 0.6, 0.8, 0.2, 0.5, 0.4, rank=2),
            ModelForecast("gemma-2b", 0.6, 0.5, 0.7, 0.2, 0.4, 0.3, rank=3),
        ]
        return Recommendation(forecasts, Explanation([], [], "test"))


def test_validate_fine_tunes_the_top_k_and_prints_measured_next_to_predicted(
    tiny_model_dir, parity_csv, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(finetune_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(parity_csv), "--prompt-col", "question", "--completion-col", "answer",
                   "--top-k", "2", "--base-model-path", f"mistral-7b={tiny_model_dir}",
                   "--base-model-path", f"phi-2={tiny_model_dir}", "--adapters-dir", str(tmp_path / "ad"), *FAST])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["rank", "base", "model", "predicted"]
    assert lines[2].split()[:3] == ["1", "mistral-7b", "0.800"] and lines[3].split()[:3] == ["2", "phi-2", "0.700"]
    assert "gemma-2b" not in out
    runs = _runs()
    assert sorted(runs["model"]) == ["mistral-7b", "mistral-7b", "phi-2", "phi-2"]
    measured = runs[(runs["model"] == "phi-2") & (runs["kind"] == "qlora")]["score"].item()
    assert lines[3].split()[5] == f"{measured:.3f}"


def test_validate_refuses_models_it_cannot_load_offline_before_training(parity_csv, capsys, monkeypatch):
    monkeypatch.setattr(finetune_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(parity_csv), "--prompt-col", "question", "--completion-col", "answer",
                   "--top-k", "2", *FAST])
    err = capsys.readouterr().err
    assert status == 2
    assert "not available offline: mistral-7b (mistralai/" in err and "--base-model-path NAME=PATH" in err
    assert _runs().empty


def test_validate_rejects_a_malformed_model_path_mapping(parity_csv, capsys, monkeypatch):
    monkeypatch.setattr(finetune_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(parity_csv), "--prompt-col", "question", "--completion-col", "answer",
                   "--base-model-path", "mistral-7b", *FAST])
    assert status == 2
    assert "expects NAME=PATH" in capsys.readouterr().err
