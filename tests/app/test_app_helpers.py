"""The app's pure helpers: where a dataset falls among the reference tasks, study matrices, uploads."""
from __future__ import annotations

import pandas as pd
import pytest

from advisor.app_pages import charts, frames
from advisor.app_pages.uploads import dataset_columns, default_columns, save_upload
from tasks.errors import DatasetError
from featurizers.profile_types import TaskProfile


def prof(**h: float) -> TaskProfile:
    return TaskProfile(heuristics=h, n_examples=int(h.get("n_examples", 1)), n_profiled=1)


REFERENCE = pd.DataFrame(
    {"example_tokens_p95": [10.0, 50.0, 200.0], "io_rougeL_mean": [0.1, 0.2, float("nan")]},
    index=["short", "mid", "long"],
)


def test_positions_place_the_dataset_among_the_reference_tasks_and_count_those_below():
    pos = frames.heuristic_positions(prof(example_tokens_p95=60.0, io_rougeL_mean=0.15), REFERENCE)
    mine = pos[pos["is_this"]].set_index("heuristic")
    assert mine.loc["example_tokens_p95", "rank_below"] == 2
    assert mine.loc["io_rougeL_mean", "rank_below"] == 1
    assert mine.loc["io_rougeL_mean", "n_reference"] == 2  # the NaN reference value is left out
    assert bool(mine.loc["example_tokens_p95", "log_scale"]) and not bool(mine.loc["io_rougeL_mean", "log_scale"])
    assert frames.position_sentences(pos) == [
        "example tokens (p95) = 60: higher than 2 of 3 reference tasks",
        "input-output ROUGE-L (mean) = 0.15: higher than 1 of 2 reference tasks",
    ]


def test_positions_accept_a_mapping_of_profiles_and_skip_heuristics_the_dataset_lacks():
    refs = {"a": prof(example_tokens_p95=5.0), "b": prof(example_tokens_p95=7.0)}
    pos = frames.heuristic_positions(prof(example_tokens_p95=6.0), refs)
    assert set(pos["heuristic"]) == {"example_tokens_p95"}
    assert len(pos) == 3
    chart = charts.heuristics_chart(pos).to_dict()
    assert len(chart["vconcat"]) == 1


RUNS = pd.DataFrame([
    # task, model, kind, score, provenance, category
    ("t1", "m1", "qlora", 0.9, "lora-land-2024", "A"), ("t1", "m1", "zero-shot", 0.5, "lora-land-2024", "A"),
    ("t1", "m2", "qlora", 0.7, "lora-land-2024", "A"), ("t1", "m2", "zero-shot", 0.6, "lora-land-2024", "A"),
    ("t2", "m1", "qlora", 0.4, "lora-land-2024", "B"), ("t2", "m1", "zero-shot", 0.3, "lora-land-2024", "B"),
    ("t1", "m1", "qlora", 0.85, "local-run-7", "A"),
    ("t1", "gpt-4", "api", 0.8, "lora-land-2024", "A"),
], columns=["task", "model", "kind", "score", "provenance", "category"])


def test_the_study_matrix_gives_fine_tuned_scores_or_lifts_with_filters():
    scores = frames.study_matrix(RUNS)
    assert sorted(zip(scores["task"], scores["model"], scores["value"])) == [
        ("t1", "m1", 0.9), ("t1", "m2", 0.7), ("t2", "m1", 0.4)]
    lifts = frames.study_matrix(RUNS, value="lift", categories=["A"], models=["m1"])
    assert lifts[["task", "model"]].values.tolist() == [["t1", "m1"]]
    assert lifts["value"].iloc[0] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="'score' or 'lift'"):
        frames.study_matrix(RUNS, value="gain")
    assert charts.heatmap_chart(lifts).to_dict()["layer"][0]["mark"]["type"] == "rect"


def test_local_runs_appear_next_to_the_studys_result_for_the_same_task_and_model():
    local = frames.local_runs_frame(RUNS)
    assert local.to_dict("records") == [{"task": "t1", "model": "m1", "provenance": "local-run-7",
                                         "local score": 0.85, "study score": 0.9,
                                         "difference": pytest.approx(-0.05)}]


def test_base_scores_are_parsed_from_model_equals_score_pairs_and_bad_ones_named():
    assert frames.parse_base_scores("") == {}
    assert frames.parse_base_scores("a=0.1\nb = 1") == {"a": 0.1, "b": 1.0}
    with pytest.raises(ValueError, match="write model=score"):
        frames.parse_base_scores("mistral 0.4")
    with pytest.raises(ValueError, match="between 0 and 1"):
        frames.parse_base_scores("a=4")


def test_an_upload_is_kept_by_content_hash_and_its_columns_are_read(tmp_path):
    path = save_upload("my data.csv", b"question,answer\n2+2?,4\n", tmp_path, limit_mb=1)
    assert path.parent == tmp_path and path.name.endswith("-my_data.csv")
    assert save_upload("my data.csv", b"question,answer\n2+2?,4\n", tmp_path, limit_mb=1) == path
    assert dataset_columns(path) == ["question", "answer"]
    assert default_columns(["question", "answer"]) == {"mode": "pair", "prompt_col": "question",
                                                       "completion_col": "answer"}


def test_a_gzip_compressed_text_upload_is_kept_and_read(tmp_path):
    import gzip

    path = save_upload("my data.csv.gz", gzip.compress(b"question,answer\n2+2?,4\n"), tmp_path, limit_mb=1)
    assert path.name.endswith(".csv.gz") and dataset_columns(path) == ["question", "answer"]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("data.xlsx", b"x", "unsupported file type '.xlsx'"),
    ("data.parquet.gz", b"x", "unsupported file type '.parquet.gz'"),
    ("data.csv", b"", "the file is empty"),
    ("data.csv", b"x" * (1024 * 1024 + 1), "over the 1 MB upload limit"),
])
def test_an_unsupported_empty_or_oversized_upload_gets_a_clear_message(tmp_path, name, data, message):
    with pytest.raises(DatasetError, match=message):
        save_upload(name, data, tmp_path, limit_mb=1)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_what_its_suffix_says_is_reported_not_crashed_on(tmp_path):
    path = save_upload("fake.parquet", b"this is not parquet at all\n", tmp_path, limit_mb=1)
    with pytest.raises(DatasetError):
        dataset_columns(path)
