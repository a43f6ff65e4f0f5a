"""Hostile inputs (issue 15) get one clear DatasetError naming the file and line, never a crash or a traceback.

Every hostile file is built here, in the test's temporary folder.
"""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks import DatasetError, TaskTemplate, load_task
from tasks.limits import ReadLimits

ADVISOR = [sys.executable, "-m", "advisor.cli"]


def _read_all(task) -> list:
    """Every example, the way profile() reads them (to the end, so end-of-data checks run)."""
    return [e for batch in task.iter_batches(1024) for e in zip(batch.prompts, batch.completions)]


def _advisor(*argv: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*ADVISOR, *argv], input=stdin, capture_output=True, timeout=timeout)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- crashes -------------------------------------------------------------------------------------------------

def test_a_json_line_nested_20000_deep_is_an_error_naming_the_line_not_a_segfault(tmp_path: Path):
    path = tmp_path / "deep.jsonl"  # the reproduction: 40 KB, exit status 139 before
    path.write_text('{"prompt": ' + _nested(20_000) + ', "completion": "x"}\n', encoding="utf-8")
    done = _advisor("profile", str(path), "--json")
    err = done.stderr.decode()
    assert done.returncode == 2, err[-500:]
    assert err.count("\n") == 1 and f"{path}: line 1: JSON nested more than 100 levels deep" in err
    later = tmp_path / "deep_later.jsonl"
    later.write_text('{"prompt": "ok", "completion": "x"}\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DatasetError, match="deep_later.jsonl: line 2: JSON nested more than 100 levels deep"):
        _read_all(load_task(later))


def test_a_json_array_nested_200000_deep_is_an_error_not_a_recursion_error(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text("[" + json.dumps({"prompt": "a", "completion": "b"}) + ",\n" + _nested(200_000) + "]",
                    encoding="utf-8")
    with pytest.raises(DatasetError, match=r"deep.json: line 2: JSON nested more than 100 levels deep"):
        load_task(path)


def test_nesting_up_to_the_limit_loads_and_brackets_inside_strings_do_not_count(tmp_path: Path):
    rows = [{"prompt": "[" * 500 + "{", "completion": "x", "meta": json.loads(_nested(99))}]
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert _read_all(load_task(path)) == [("[" * 500 + "{", "x")]
    path.write_text(json.dumps({**rows[0], "meta": json.loads(_nested(101))}) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: JSON nested more than 100 levels"):
        _read_all(load_task(path))
    assert _read_all(load_task(path, limits=ReadLimits(max_json_depth=200))) == [("[" * 500 + "{", "x")]


# --- memory ----------------------------------------------------------------------------------------------------

def test_a_json_line_over_the_default_limit_is_refused_naming_line_limit_and_how_to_raise_it(tmp_path: Path):
    path = tmp_path / "huge.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"prompt": "q", "completion": "a"}) + "\n")
        f.write(json.dumps({"prompt": "w " * (ReadLimits().max_row_bytes // 2 + 10), "completion": "a"}) + "\n")
    with pytest.raises(DatasetError) as err:
        _read_all(load_task(path))
    assert str(err.value) == (f"{path}: line 2 is longer than the 4 MiB limit per row "
                              "(ADVISOR_MAX_ROW_BYTES raises it, e.g. ADVISOR_MAX_ROW_BYTES=64MiB)")


def test_the_row_limit_is_raised_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "x" * 5000, "completion": "a"}) + "\n", encoding="utf-8")
    monkeypatch.setenv("ADVISOR_MAX_ROW_BYTES", "4KiB")
    with pytest.raises(DatasetError, match=r"line 1 is longer than the 4 KiB limit per row"):
        _read_all(load_task(path))
    monkeypatch.setenv("ADVISOR_MAX_ROW_BYTES", "8KiB")
    assert len(_read_all(load_task(path))) == 1


def test_a_line_over_the_limit_fails_before_it_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 1024)  # the line spans many reads
    path = tmp_path / "endless.jsonl"
    path.write_text('{"prompt": "' + "y" * 200_000 + '", "completion": "a"}\n', encoding="utf-8")
    reads: list[int] = []
    real_read = readers._FileInput._read
    monkeypatch.setattr(readers._FileInput, "_read", lambda self, f, n: reads.append(n) or real_read(self, f, n))
    with pytest.raises(DatasetError, match="line 1 is longer than the 10 KiB limit"):
        _read_all(load_task(path, limits=ReadLimits(max_row_bytes=10 * 1024)))
    assert sum(n for n in reads if n > 0) < 20 * 1024


def test_a_csv_field_over_the_limit_names_its_line_in_either_reading_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    path = tmp_path / "big_field.csv"
    path.write_text('prompt,completion\nq,a\n"multi\nline",b\n"' + "z" * 30_000 + '",c\nq,d\n', encoding="utf-8")
    limits = ReadLimits(max_row_bytes=20_000)
    with pytest.raises(DatasetError, match=r"big_field.csv: line 5: a CSV row .* longer than the 19.5 KiB limit"):
        _read_all(load_task(path, limits=limits))  # the row fits in an Arrow block
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(readers, "_CSV_BLOCK_MARGIN", 16)
    with pytest.raises(DatasetError, match=r"big_field.csv: line 5: a CSV row .* longer than the 19.5 KiB limit"):
        _read_all(load_task(path, limits=limits))  # the row straddles Arrow's blocks


def test_a_valid_csv_with_a_field_bigger_than_a_block_is_read_when_the_limit_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import tasks.readers as readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 4096)  # Arrow's block would be smaller than the field
    path = tmp_path / "wide.csv"
    path.write_text('prompt,completion\n"' + "z" * 50_000 + '",c\nq,d\n', encoding="utf-8")
    got = _read_all(load_task(path, limits=ReadLimits(max_row_bytes=60_000)))
    assert [len(p) for p, _ in got] == [50_000, 1]


def test_an_in_memory_example_over_the_limit_names_its_row():
    rows = [{"prompt": "a", "completion": "b"}, {"prompt": "p" * 3000, "completion": "c"}]
    with pytest.raises(DatasetError, match=r"row 2: the example \(prompt \+ completion\) holds 3,001 bytes, more than the 2 KiB"):
        _read_all(load_task(rows, limits=ReadLimits(max_row_bytes=2048)))


# --- tracebacks that became one line ------------------------------------------------------------------------------

def test_a_duplicate_csv_header_column_that_is_read_is_named(tmp_path: Path):
    path = tmp_path / "dup.csv"
    path.write_text("prompt,completion,prompt\na,b,c\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dup.csv: column 'prompt' appears 2 times \(columns 1, 3\)"):
        load_task(path)
    assert _read_all(load_task(path, prompt_col="completion", completion_col="completion")) == [("b", "b")]


def test_a_duplicate_csv_header_is_one_line_in_finetune_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from advisor.cli import main

    path = tmp_path / "dup.csv"
    path.write_text("prompt,completion,prompt\na,b,c\n", encoding="utf-8")
    code = main(["finetune", "--base-model", "tiny", "--data", str(path), "--no-record"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("advisor finetune: error: ") and "appears 2 times" in err
    assert err.count("\n") == 1


def test_cr_only_line_endings_are_lines(tmp_path: Path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"prompt,completion\ra,b\rc,d\r")
    assert _read_all(load_task(path)) == [("a", "b"), ("c", "d")]
    jsonl = tmp_path / "mac.jsonl"
    jsonl.write_bytes(b'{"prompt": "a", "completion": "b"}\r{"prompt": "c", "completion": "d"}\r')
    assert _read_all(load_task(jsonl)) == [("a", "b"), ("c", "d")]
    bad = tmp_path / "mac_bad.jsonl"
    bad.write_bytes(b'{"prompt": "a", "completion": "b"}\r{"prompt": "c", "completion": }\r')
    with pytest.raises(DatasetError, match="mac_bad.jsonl: line 2: malformed JSON"):
        _read_all(load_task(bad))


def test_a_csv_header_over_128_kib_is_read(tmp_path: Path):
    wide = "x" * 140_000
    path = tmp_path / "wide_header.csv"
    path.write_text(f"prompt,{wide},completion\na,1,b\n", encoding="utf-8")
    task = load_task(path)
    assert task.columns == ["prompt", wide, "completion"] and _read_all(task) == [("a", "b")]


def test_a_jsonl_column_mixing_objects_and_text_names_line_and_column(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"prompt": "s", "completion": "y", "meta": "m"}\n'
                    '{"prompt": {"a": 1}, "completion": "x", "meta": {"k": 1}}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"mixed.jsonl: line 2: column 'prompt' holds a JSON object here but text on line 1"):
        _read_all(load_task(path))
    # The same mix in a column nobody reads does no harm.
    assert _read_all(load_task(path, prompt_col="completion", completion_col="completion")) == [("y", "y"), ("x", "x")]


def test_input_columns_that_are_not_names_are_one_line(tmp_path: Path):
    meta = tmp_path / "metadata.yaml"
    meta.write_text("prompt_template: '{x}'\ntarget_col: y\ninput_columns: 7\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"metadata.yaml: 'input_columns' must be a list of column names .* found the number 7"):
        TaskTemplate.from_metadata(meta)
    meta.write_text("prompt_template: '{x}'\ntarget_col: [y]\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"'target_col' must be text, found a list"):
        TaskTemplate.from_metadata(meta)


# --- clear messages ---------------------------------------------------------------------------------------------

def test_a_lone_surrogate_names_file_line_and_column(tmp_path: Path):
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"prompt": "fine", "completion": "x"}\n{"prompt": "a\\ud800b", "completion": "x"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"surrogate.jsonl: line 2: column 'prompt' holds a lone UTF-16 surrogate"):
        _read_all(load_task(path))
    paired = tmp_path / "paired.jsonl"
    paired.write_text('{"prompt": "smile \\ud83d\\ude00", "completion": "x"}\n', encoding="utf-8")
    assert _read_all(load_task(paired)) == [("smile \U0001F600", "x")]


@pytest.mark.parametrize("text, line", [
    ("prompt_template: '{x}\ntarget_col: y\n", 3),     # an unclosed quote
    ("a: 1\n b: 2\n", 2),                               # a bad indent
    ("prompt_template: [\n", 2),                        # an unclosed list
])
def test_a_yaml_error_is_one_line_with_file_and_line(tmp_path: Path, text: str, line: int):
    meta = tmp_path / "metadata.yaml"
    meta.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        TaskTemplate.from_metadata(meta)
    message = str(err.value)
    assert message.startswith(f"{meta}: line {line} column ") and "malformed YAML" in message and "\n" not in message


def test_a_template_file_that_is_a_directory_says_so(tmp_path: Path, qa_jsonl: Path, capsys: pytest.CaptureFixture[str]):
    from advisor.cli import main

    (tmp_path / "task").mkdir()
    (tmp_path / "task" / "metadata.yaml").write_text("prompt_template: '{question}'\ntarget_col: answer\n", encoding="utf-8")
    code = main(["profile", str(qa_jsonl), "--template-file", str(tmp_path / "task")])
    err = capsys.readouterr().err
    assert code == 2 and "task: is a directory; a template file is a metadata.yaml file (it holds a metadata.yaml" in err


def test_a_template_file_without_a_yaml_suffix_is_still_a_file(tmp_path: Path, qa_jsonl: Path):
    meta = tmp_path / "template.txt"
    meta.write_text("prompt_template: 'Q: {question}'\ntarget_col: answer\n", encoding="utf-8")
    assert load_task(qa_jsonl, template=meta).head(1)[0].prompt == "Q: What is two plus two?"


def test_a_prompt_column_with_no_text_is_refused_naming_the_column(tmp_path: Path):
    from featurizers import profile

    path = tmp_path / "null_prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": None, "completion": str(i % 2)}) + "\n" for i in range(50)), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"null_prompts.jsonl: column 'prompt' holds no text: it is empty or null in all 50 rows"):
        profile(load_task(path))
    template = load_task(path, template="Review: {prompt}", target_col="completion")  # the template's text is not the column's
    with pytest.raises(DatasetError, match="column 'prompt' holds no text"):
        _read_all(template)


def test_a_truncated_parquet_file_is_called_truncated(tmp_path: Path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"prompt": ["a"] * 100, "completion": ["b"] * 100}), good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"cut.parquet: a truncated Parquet file \(it starts like Parquet but its footer is missing"):
        load_task(cut)


# --- where a dataset comes from -------------------------------------------------------------------------------------

def test_a_bare_missing_name_is_a_missing_file_and_never_a_hub_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("looked up on the Hub"))
    for name in ("mydata", "mydata.csv", "data/train.jsonl"):
        with pytest.raises(DatasetError, match=rf"^{name}: no such file or directory"):
            load_task(name)
    (tmp_path / "data").mkdir()
    with pytest.raises(DatasetError, match="no such file"):
        load_task("data/train")  # a folder that exists: a local path, not owner/name


def test_hub_datasets_are_read_as_owner_name_or_hf_urls(monkeypatch: pytest.MonkeyPatch):
    datasets = pytest.importorskip("datasets")
    asked: list[str] = []

    def fake_load(repo_id: str, split: str, streaming: bool):
        asked.append(repo_id)
        return datasets.Dataset.from_list([{"prompt": "p", "completion": "c"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert load_task("owner/name").name == "owner/name"
    assert load_task("hf://squad").source == "hf://squad"
    assert asked == ["owner/name", "squad"]


def test_standard_input_is_read_by_the_cli(tmp_path: Path):
    done = _advisor("profile", "-", "--json", stdin=b"prompt,completion\na,b\nc,d\n")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    doc = json.loads(done.stdout)
    assert doc["n_profiled"] == 2 and doc["task"].startswith("stdin-") and doc["source"] == "<stdin>"


class _Stdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("data, options, rows", [
    (b'{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n', [], 2),   # sniffed: JSON Lines
    (gzip.compress(b"prompt,completion\na,b\n"), [], 1),                                      # gzip seen through
    (b'[{"prompt": "a", "completion": "b"}]', [], 1),                                           # a JSON array
    (b"prompt\tcompletion\na,1\tb\n", ["--format", "tsv"], 1),                                # said by --format
])
def test_standard_input_formats_are_sniffed_or_given(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                     data: bytes, options: list[str], rows: int):
    from advisor.cli import main

    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    assert main(["profile", "-", "--json", *options]) == 0
    assert json.loads(capsys.readouterr().out)["n_profiled"] == rows


def test_standard_input_in_the_wrong_format_is_one_line_naming_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from advisor.cli import main

    monkeypatch.setattr(sys, "stdin", _Stdin(b"prompt,completion\na,b\n"))
    assert main(["profile", "-", "--format", "jsonl"]) == 2
    assert capsys.readouterr().err.startswith("advisor profile: error: <stdin>: line 1: malformed JSON")
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    assert main(["profile", "-"]) == 2
    assert "<stdin>: the dataset is empty" in capsys.readouterr().err


def test_a_stream_is_copied_once_and_the_copy_goes_with_the_task(tmp_path: Path):
    import gc
    import io

    task = load_task(io.BytesIO(b'{"prompt": "a", "completion": "b"}\n'))
    spool = Path(task._source.keep_alive.name)
    assert spool.exists() and _read_all(task) == [("a", "b")] and _read_all(task) == [("a", "b")]
    del task
    gc.collect()
    assert not spool.exists()


@pytest.mark.parametrize("name, data", [
    ("d.csv.gz", b"prompt,completion\na,b\nc,d\n"),
    ("d.tsv.gz", b"prompt\tcompletion\na\tb\nc\td\n"),
    ("d.jsonl.gz", b'{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": "d"}\n'),
    ("d.json.gz", b'[{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}]'),
])
def test_gzip_compressed_text_formats_are_read(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data))
    task = load_task(path)
    assert _read_all(task) == [("a", "b"), ("c", "d")] and task.name == "d"


def test_truncated_gzip_data_is_one_error(tmp_path: Path):
    for name, data in (("t.jsonl.gz", b'{"prompt": "a", "completion": "b"}\n' * 5000),
                       ("t.csv.gz", b"prompt,completion\n" + b"a,b\n" * 50000)):
        packed = gzip.compress(data)
        path = tmp_path / name
        path.write_bytes(packed[: len(packed) // 2])
        with pytest.raises(DatasetError, match=rf"{name}: truncated or corrupt gzip data"):
            _read_all(load_task(path))


def test_in_memory_sources_are_named_by_kind_and_content():
    import pandas as pd

    rows = [{"prompt": "p", "completion": "c"}]
    df = pd.DataFrame(rows)
    name = load_task(df).name
    assert name.startswith("dataframe-") and len(name) == len("dataframe-") + 8
    assert load_task(df.copy()).name == name
    assert load_task(pd.DataFrame([{"prompt": "q", "completion": "c"}])).name != name
    assert load_task(pa.Table.from_pylist(rows)).name.startswith("table-")
    assert load_task(rows).name.startswith("records-")
    assert load_task(df, name="reviews").name == "reviews"
    datasets = pytest.importorskip("datasets")
    assert load_task(datasets.Dataset.from_list(rows)).name.startswith("dataset-")


def test_lines_holding_empty_objects_are_one_row_each(tmp_path: Path):
    # Found by the fuzzer in the CR-aware chunking: a chunk whose rows have no keys is a table without
    # columns, and Arrow does not clamp a slice of one (a batch of 64 rows from one).
    path = tmp_path / "empty_objects.jsonl"
    path.write_bytes(b'{"prompt": "a", "completion": "b"}\r{}\r')
    assert _read_all(load_task(path)) == [("a", "b"), ("", "")]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_file_with_thousands_of_distinct_keys_parses_only_the_columns_it_reads(tmp_path: Path, suffix: str):
    # Found attacking the loaders: 6 MB of JSON Lines with 400,000 distinct keys took 80 s and 12 GB (a JSON
    # array: 350 s and 4 GB) because every key became an Arrow column.
    rows = [{"prompt": f"p{i}", "completion": "c", **{f"k{i}_{j}": j for j in range(100)}} for i in range(300)]
    path = tmp_path / f"wide{suffix}"
    text = "".join(json.dumps(r) + "\n" for r in rows) if suffix == ".jsonl" else json.dumps(rows)
    path.write_text(text, encoding="utf-8")
    task = load_task(path)
    widths = {t.num_columns for t in task._source.iter_tables(64)}
    assert widths <= {1, 2}  # prompt and completion only (a chunk may lack one)
    assert _read_all(task)[:2] == [("p0", "c"), ("p1", "c")] and len(_read_all(task)) == 300


def test_standard_input_that_is_a_terminal_is_refused_rather_than_waited_on(monkeypatch: pytest.MonkeyPatch):
    class Terminal(_Stdin):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal(b""))
    with pytest.raises(DatasetError, match="standard input is a terminal; pipe a dataset into it"):
        load_task("-")
