"""Bad input gets a DatasetError (a ValueError) that names the problem, and no partial result."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from task_samples import ROWS, write_jsonl

from featurizers import DatasetError, TaskTemplate, load_task, load_task_dir, profile


def _profile(task):
    return profile(task, embeddings=False)


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


def test_missing_column_names_the_columns_that_exist(qa_jsonl: Path):
    with pytest.raises(DatasetError, match=r"prompt column 'prompt' not found.*columns are: 'question', 'answer'"):
        load_task(qa_jsonl)


def test_misspelled_column_suggests_the_close_one(qa_jsonl: Path):
    with pytest.raises(DatasetError, match=r"'questoin' not found.*did you mean 'question'"):
        load_task(qa_jsonl, prompt_col="questoin", completion_col="answer")


def test_template_field_without_a_column(qa_jsonl: Path):
    with pytest.raises(DatasetError, match=r"template field \{passage\} has no column.*'question', 'answer'"):
        load_task(qa_jsonl, template="Read {passage}: {question}", target_col="answer")


def test_missing_target_column_with_a_template(qa_jsonl: Path):
    with pytest.raises(DatasetError, match=r"target column 'label' not found"):
        load_task(qa_jsonl, template="{question}", target_col="label")


def test_malformed_template():
    with pytest.raises(DatasetError, match="malformed prompt template"):
        TaskTemplate("Output: {unclosed", target_col="y")
    with pytest.raises(DatasetError, match="must name a column"):
        TaskTemplate("positional {}", target_col="y")


def test_metadata_without_a_target_column(tmp_path: Path):
    meta = tmp_path / "metadata.yaml"
    meta.write_text("prompt_template: '{x}'\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"missing 'target_col'"):
        TaskTemplate.from_metadata(meta)


def test_empty_file(tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        load_task(path)


def test_header_only_csv_is_an_empty_dataset(tmp_path: Path):
    path = tmp_path / "header.csv"
    path.write_text("prompt,completion\n", encoding="utf-8")
    task = load_task(path)
    with pytest.raises(DatasetError, match="empty"):
        _profile(task)


def test_empty_dataframe():
    with pytest.raises(DatasetError, match="empty"):
        _profile(load_task(pd.DataFrame({"prompt": [], "completion": []})))


def test_non_text_values(tmp_path: Path):
    path = write_jsonl(tmp_path / "nested.jsonl", [{"prompt": {"a": 1}, "completion": "x"}])
    with pytest.raises(DatasetError, match=r"column 'prompt' holds non-text values"):
        _profile(load_task(path))


def test_non_text_values_in_a_dataframe():
    df = pd.DataFrame({"prompt": [{"a": 1}, "b"], "completion": ["x", "y"]})
    with pytest.raises(DatasetError, match="not text"):
        load_task(df)


def test_undecodable_bytes_name_the_line(tmp_path: Path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"prompt": "ok", "completion": "1"}\n{"prompt": "caf\xe9", "completion": "2"}\n')
    with pytest.raises(DatasetError, match=r"line 2: bytes that are not valid UTF-8"):
        _profile(load_task(path))


def test_undecodable_bytes_in_a_csv(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"prompt,completion\nok,1\ncaf\xe9,2\n")
    with pytest.raises(DatasetError, match=r"line 3: bytes that are not valid UTF-8"):
        _profile(load_task(path))


def test_malformed_json_line_says_which_line(tmp_path: Path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"prompt": "a", "completion": "1"}\n{"prompt": "b", "completion": "2"}\n{"prompt": "c", "completion": \n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"broken.jsonl: line 3: malformed JSON"):
        _profile(load_task(path))


def test_json_line_that_is_not_an_object(tmp_path: Path):
    path = tmp_path / "list.jsonl"
    path.write_text('{"prompt": "a", "completion": "1"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 2: expected a JSON object"):
        _profile(load_task(path))


def test_malformed_json_array_names_line_and_column(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('[\n {"prompt": "a", "completion": "1"},\n {"prompt": }\n]', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 3 column \d+: malformed JSON"):
        load_task(path)


def test_csv_named_jsonl(tmp_path: Path):
    path = tmp_path / "really.jsonl"
    path.write_text("prompt,completion\na,1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 1: malformed JSON.*not JSON Lines"):
        load_task(path)


def test_csv_named_parquet(tmp_path: Path):
    path = tmp_path / "really.parquet"
    path.write_text("prompt,completion\na,1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="not a Parquet file"):
        load_task(path)


def test_parquet_named_csv(tmp_path: Path):
    path = tmp_path / "really.csv"
    pq.write_table(pa.Table.from_pylist([{"prompt": "a", "completion": "1"}]), path)
    with pytest.raises(DatasetError, match="not a CSV file; it looks like Parquet"):
        load_task(path)


def test_gzip_named_jsonl(tmp_path: Path):
    path = tmp_path / "packed.jsonl"
    path.write_bytes(gzip.compress(json.dumps(ROWS[0]).encode()))
    with pytest.raises(DatasetError, match="gzip-compressed"):
        load_task(path)


def test_json_named_csv(tmp_path: Path):
    path = write_jsonl(tmp_path / "really.csv", ROWS)
    with pytest.raises(DatasetError, match="not a CSV file; it looks like JSON"):
        load_task(path, prompt_col="question", completion_col="answer")


def test_unknown_suffix_and_missing_file(tmp_path: Path):
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(DatasetError, match="unknown file type '.xlsx'"):
        load_task(tmp_path / "data.xlsx")
    with pytest.raises(DatasetError, match="no such file"):
        load_task(tmp_path / "missing.csv")


def test_ragged_csv_row(tmp_path: Path):
    path = tmp_path / "ragged.csv"
    path.write_text("prompt,completion\na,1\nb,2,extra\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="malformed CSV"):
        _profile(load_task(path))


def test_task_dir_without_data_or_metadata(tmp_path: Path):
    with pytest.raises(DatasetError, match="no metadata.yaml"):
        load_task_dir(tmp_path)
    (tmp_path / "metadata.yaml").write_text("prompt_template: '{x}'\ntarget_col: y\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no train.jsonl"):
        load_task_dir(tmp_path)


def test_an_error_late_in_a_file_leaves_no_partial_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 128)
    rows = [json.dumps({"prompt": f"p{i}", "completion": str(i)}) for i in range(200)]
    rows[150] = '{"prompt": "broken'
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    task = load_task(path)  # the start of the file is fine
    with pytest.raises(DatasetError, match="line 151: malformed JSON"):
        profile(task, embeddings=False, exact=True)


def test_sample_and_exact_conflict(qa_jsonl: Path):
    task = load_task(qa_jsonl, prompt_col="question", completion_col="answer")
    with pytest.raises(ValueError, match="either exact"):
        profile(task, 10, exact=True)
    with pytest.raises(ValueError, match="positive"):
        profile(task, 0)
