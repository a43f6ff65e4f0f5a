"""load_task reads every supported format into the same (prompt, completion) pairs."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurizers import Example, TaskTemplate, load_task, load_task_dir
from tasks.readers import JsonLinesSource

from task_samples import ROWS, write_jsonl

EXPECTED = [Example(r["question"], r["answer"]) for r in ROWS]


def _load(source, **kw):
    return load_task(source, prompt_col="question", completion_col="answer", **kw)


def test_jsonl(qa_jsonl: Path):
    assert _load(qa_jsonl).head(10) == EXPECTED


def test_csv_reads_every_column_as_written(tmp_path: Path):
    path = tmp_path / "qa.csv"
    pd.DataFrame(ROWS + [{"question": "Pi to two places?", "answer": "3.10"}]).to_csv(path, index=False)
    got = _load(path).head(10)
    assert got[:3] == EXPECTED
    assert got[3].completion == "3.10"  # text, not a float


def test_tsv(tmp_path: Path):
    path = tmp_path / "qa.tsv"
    pd.DataFrame(ROWS).to_csv(path, index=False, sep="\t")
    assert _load(path).head(10) == EXPECTED


def test_csv_with_quoted_newlines(tmp_path: Path):
    path = tmp_path / "multi.csv"
    pd.DataFrame({"question": ["line one\nline two"], "answer": ["ok"]}).to_csv(path, index=False)
    assert _load(path).head(1) == [Example("line one\nline two", "ok")]


def test_json_array_and_json_lines_with_a_json_suffix(tmp_path: Path):
    arr = tmp_path / "qa.json"
    arr.write_text(json.dumps(ROWS), encoding="utf-8")
    assert _load(arr).head(10) == EXPECTED
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    assert _load(wrapped).head(10) == EXPECTED
    lines = write_jsonl(tmp_path / "lines.json", ROWS)
    assert _load(lines).head(10) == EXPECTED


def test_parquet_knows_its_row_count(tmp_path: Path):
    path = tmp_path / "qa.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    task = _load(path)
    assert task.head(10) == EXPECTED
    assert task.n_rows == 3


def test_pandas_dataframe_with_default_prompt_and_completion_columns():
    df = pd.DataFrame({"prompt": ["p1", "p2"], "completion": ["c1", "c2"], "other": [1, 2]})
    assert load_task(df).head(5) == [Example("p1", "c1"), Example("p2", "c2")]


def test_numbers_and_nulls_become_text():
    df = pd.DataFrame({"prompt": ["a", None], "completion": [1, 2]})
    assert load_task(df).head(5) == [Example("a", "1"), Example("", "2")]


def test_hugging_face_dataset_and_dataset_dict():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(ROWS)
    assert _load(ds).head(10) == EXPECTED
    assert _load(ds.select([2, 0])).head(10) == [EXPECTED[2], EXPECTED[0]]
    dd = datasets.DatasetDict({"train": ds, "test": ds.select([0])})
    assert _load(dd).head(10) == EXPECTED
    assert _load(dd, split="test").head(10) == EXPECTED[:1]


def test_saved_hugging_face_dataset_folder(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    task = _load(tmp_path / "saved")
    assert task.head(10) == EXPECTED and task.n_rows == 3


def test_template_string_with_target_column(qa_jsonl: Path):
    task = load_task(qa_jsonl, template="Q: {question}\nA:", target_col="answer")
    assert task.head(1) == [Example("Q: What is two plus two?\nA:", "4")]


def test_input_columns_without_a_template_are_labelled_and_joined(tmp_path: Path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"s1": "a", "s2": "b", "y": 0}])
    assert load_task(path, input_columns="s1,s2", target_col="y").head(1) == [Example("s1: a\n\ns2: b", "0")]


def test_template_file_in_the_study_format(tmp_path: Path, qa_jsonl: Path):
    meta = tmp_path / "metadata.yaml"
    meta.write_text(
        "dataset_name: qa\ntarget_col: answer\ninput_columns: question\n"
        'prompt_template: >-\n  Answer {{"strictly"}}: {question}\nnum_examples:\n  train: 1000\n',
        encoding="utf-8",
    )
    t = TaskTemplate.from_metadata(meta)
    assert t.fields == ("question",) and t.n_train == 1000
    task = load_task(qa_jsonl, template=str(meta))
    assert task.head(1)[0].prompt == 'Answer {"strictly"}: What is two plus two?'


def test_task_dir_reads_metadata_and_train_jsonl_and_the_full_split_size(tmp_path: Path):
    (tmp_path / "metadata.yaml").write_text(
        "dataset_name: qa\ntarget_col: answer\ninput_columns: question\nprompt_template: 'Q: {question}'\n"
        "num_examples:\n  train: 500\n",
        encoding="utf-8",
    )
    write_jsonl(tmp_path / "train.jsonl", ROWS)
    task = load_task_dir(tmp_path)
    assert task.name == "qa" and task.n_examples == 500
    assert task.head(1) == [Example("Q: What is two plus two?", "4")]
    assert load_task_dir(tmp_path, n_examples=9).n_examples == 9


def test_list_columns_are_written_as_python_lists(tmp_path: Path):
    path = write_jsonl(tmp_path / "mc.jsonl", [{"ctx": "A man", "endings": ["runs.", "sits."], "label": 1}])
    task = load_task(path, template="{ctx} Endings: {endings}", target_col="label")
    assert task.head(1) == [Example("A man Endings: ['runs.', 'sits.']", "1")]


def test_iter_batches_streams_in_bounded_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 256)  # many small chunks
    rows = [{"question": f"q{i}", "answer": str(i)} for i in range(1000)]
    task = _load(write_jsonl(tmp_path / "big.jsonl", rows))
    sizes = [len(b) for b in task.iter_batches(batch_size=64)]
    assert max(sizes) <= 64 and sum(sizes) == 1000
    assert [e.completion for e in task][:3] == ["0", "1", "2"]


def test_mixed_json_types_in_one_column_are_read_as_text(tmp_path: Path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "a", "completion": 1}, {"prompt": "b", "completion": "yes"}])
    assert [e.completion for e in load_task(path)] == ["1", "yes"]


def test_floats_read_the_same_on_the_fast_and_the_fallback_path(tmp_path: Path):
    fast = write_jsonl(tmp_path / "fast.jsonl", [{"prompt": "a", "completion": 5.0}, {"prompt": "b", "completion": 3.8}])
    slow = write_jsonl(tmp_path / "slow.jsonl", [{"prompt": "a", "completion": 5.0}, {"prompt": "b", "completion": "3.8"}, {"prompt": "c", "completion": 3.8}])
    assert [e.completion for e in load_task(fast)] == ["5", "3.8"]
    assert [e.completion for e in load_task(slow)] == ["5", "3.8", "3.8"]


def test_fingerprint_is_stable_and_follows_content_and_columns(tmp_path: Path, qa_jsonl: Path):
    a = _load(qa_jsonl).fingerprint()
    copy = write_jsonl(tmp_path / "copy.jsonl", ROWS)
    assert _load(copy).fingerprint() == a  # content hash: a copy has the same fingerprint
    assert load_task(qa_jsonl, template="Q: {question}", target_col="answer").fingerprint() != a
    changed = write_jsonl(tmp_path / "changed.jsonl", ROWS[:2])
    assert _load(changed).fingerprint() != a


def test_big_files_are_fingerprinted_by_size_mtime_and_sampled_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    monkeypatch.setattr(readers, "FULL_HASH_MAX_BYTES", 10)
    path = write_jsonl(tmp_path / "qa.jsonl", ROWS)
    first = JsonLinesSource(path).fingerprint()
    assert JsonLinesSource(path).fingerprint() == first
    write_jsonl(path, ROWS[::-1])
    assert JsonLinesSource(path).fingerprint() != first


def test_name_and_source(qa_jsonl: Path):
    task = _load(qa_jsonl)
    assert task.name == "qa" and task.source == str(qa_jsonl)
    assert task.columns == ["question", "answer"]
