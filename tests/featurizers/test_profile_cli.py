"""`advisor profile`: JSON and table output, data options, one-line errors, and the study's glue_sst2 figure."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from task_samples import ROWS, write_jsonl

from advisor.cli import main
from advisor.cli.data_options import add_data_options, load_task_from_args


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["profile", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_has_heuristics_intervals_and_metadata(capsys, qa_jsonl: Path):
    code, out, _ = _run(capsys, str(qa_jsonl), "--prompt-col", "question", "--completion-col", "answer", "--json", "--no-embeddings")
    assert code == 0
    doc = json.loads(out)
    assert doc["heuristics"]["n_examples"] == 3
    assert doc["heuristics"]["output_tokens_mean"] == 1.0  # "4", "Paris", "yes" are one token each
    assert doc["intervals"] == {}  # the whole file was profiled
    assert doc["n_profiled"] == 3 and doc["task"] == "qa" and doc["featurizer_version"]


def test_the_metric_option_sets_the_scale_of_the_simple_learner_scores(capsys, qa_jsonl: Path):
    cols = (str(qa_jsonl), "--prompt-col", "question", "--completion-col", "answer", "--json", "--no-embeddings")
    inferred = json.loads(_run(capsys, *cols)[1])
    given = json.loads(_run(capsys, *cols, "--metric", "rouge")[1])
    assert inferred["metric"] == "rouge_l" and given["metric"] == "rouge_l"
    assert json.loads(_run(capsys, *cols, "--metric", "exact_match")[1])["metric"] == "exact_match"
    assert 0.0 <= given["heuristics"]["simple_learner_score"] <= 1.0
    code, _, err = _run(capsys, *cols, "--metric", "f1")
    assert code == 2 and "unknown metric 'f1'" in err


def test_sampling_from_the_command_line_reports_intervals(capsys, tmp_path: Path):
    rows = [{"prompt": f"item {i} " * (i % 5 + 1), "completion": str(i % 2)} for i in range(60)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    code, out, _ = _run(capsys, str(path), "--sample", "20", "--json", "--no-embeddings")
    doc = json.loads(out)
    assert code == 0 and doc["sampled"] and doc["n_profiled"] == 20
    lo, hi = doc["intervals"]["input_tokens_mean"]
    assert lo <= doc["heuristics"]["input_tokens_mean"] <= hi


def test_table_output_lists_the_study_heuristics_first(capsys, qa_jsonl: Path):
    code, out, _ = _run(capsys, str(qa_jsonl), "--template", "Q: {question}", "--target-col", "answer", "--no-embeddings")
    assert code == 0
    assert out.index("study heuristics") < out.index("example_tokens_p95") < out.index("more heuristics")
    assert "rows profiled: 3 of 3" in out


def test_errors_are_one_line_with_exit_status_2(capsys, qa_jsonl: Path):
    code, out, err = _run(capsys, str(qa_jsonl), "--json")
    assert code == 2 and out == ""
    assert err.startswith("advisor profile: error: prompt column 'prompt' not found") and err.count("\n") == 1


def test_no_dataset_is_an_error(capsys):
    code, _, err = _run(capsys)
    assert code == 2 and "give FILE or --task-dir" in err


def test_template_file_option(capsys, tmp_path: Path, qa_jsonl: Path):
    meta = tmp_path / "metadata.yaml"
    meta.write_text("target_col: answer\nprompt_template: 'Question: {question}'\n", encoding="utf-8")
    code, out, _ = _run(capsys, str(qa_jsonl), "--template-file", str(meta), "--json", "--no-embeddings")
    assert code == 0 and json.loads(out)["heuristics"]["input_tokens_mean"] > 3


def test_data_options_are_reusable_by_other_commands(qa_jsonl: Path):
    parser = argparse.ArgumentParser()
    add_data_options(parser)
    args = parser.parse_args([str(qa_jsonl), "--input-cols", "question", "--target-col", "answer"])
    assert load_task_from_args(args).head(1)[0].completion == "4"
    other = write_jsonl(qa_jsonl.parent / "other.jsonl", ROWS[:1])
    assert len(list(load_task_from_args(args, source=other))) == 1


def test_glue_sst2_example_token_p95_matches_the_study(capsys, reference_tasks: Path):
    code, out, _ = _run(capsys, "--task-dir", str(reference_tasks / "glue_sst2"), "--json", "--no-embeddings")
    assert code == 0
    doc = json.loads(out)
    assert abs(doc["heuristics"]["example_tokens_p95"] - 63) <= 2  # LoRA Land reports 63
    assert doc["n_examples"] == 67349 and doc["task_type"] == "classification"
