"""``advisor finetune`` on the tiny model, through the real CLI entry point (``advisor validate``: tests/advisor/test_validation.py)."""
from __future__ import annotations

import json
import os

import pytest
from testsupport import write_pairs_csv
import torch
from qlora_helpers import parity_pairs, tiny_model_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

from advisor.cli import main
from training_runs.store import Store


@pytest.fixture
def parity_csv(tmp_path):
    return write_pairs_csv(tmp_path / "parity.csv", ("question", "answer"), parity_pairs(40))


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

