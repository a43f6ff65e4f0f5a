"""Property-based fuzzing of the loaders: whatever bytes a file holds, loading it and reading every row either
works or raises DatasetError (never another exception, a crash or a hang), and well-formed files read exactly.

Each property runs a bounded number of examples with a deadline, so the whole file takes seconds;
``ADVISOR_FUZZ_EXAMPLES=5000`` runs more, for a thorough search by hand.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import DatasetError, load_task
from tasks.limits import ReadLimits

FUZZ = settings(max_examples=int(os.environ.get("ADVISOR_FUZZ_EXAMPLES", "120")), deadline=2000, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Small limits, so that the fuzzer reaches them with small inputs.
LIMITS = ReadLimits(max_row_bytes=2048, max_json_depth=8)

pytestmark = pytest.mark.timeout(120)


def _expected(pairs: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """What reading well-formed rows gives: the rows, unless a column holds no text at all (refused)."""
    no_text = not any(p for p, _ in pairs) or not any(c for _, c in pairs)
    return None if no_text else pairs


def _load_and_read(path: Path, **kw) -> list[tuple[str, str]] | None:
    """The examples, or None when the loader refused the data with a DatasetError."""
    try:
        task = load_task(path, limits=LIMITS, **kw)
        return [pair for batch in task.iter_batches(64) for pair in zip(batch.prompts, batch.completions)]
    except DatasetError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), "a DatasetError is one line"
        return None


json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)
keys = st.sampled_from(["prompt", "completion", "meta"]) | st.text(max_size=4)
rows = st.lists(st.dictionaries(keys, json_values, max_size=4), min_size=1, max_size=8)
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".jsonl", ".csv", ".tsv", ".json", ".parquet", ".jsonl.gz", ".csv.gz"]))
def test_random_bytes_load_or_raise_a_dataset_error(fuzz_dir: Path, data: bytes, suffix: str):
    path = fuzz_dir / f"random{suffix}"
    path.write_bytes(data)
    _load_and_read(path)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_inside_valid_gzip_load_or_raise_a_dataset_error(fuzz_dir: Path, data: bytes):
    for suffix in (".jsonl.gz", ".csv.gz", ".json.gz"):
        path = fuzz_dir / f"packed{suffix}"
        path.write_bytes(gzip.compress(data))
        _load_and_read(path)


@FUZZ
@given(table=rows, end=line_ends, ascii_only=st.booleans(), blank_lines=st.booleans())
def test_random_json_lines_load_or_raise_a_dataset_error(fuzz_dir: Path, table: list[dict], end: str, ascii_only: bool, blank_lines: bool):
    text = (end * 2 if blank_lines else end).join(json.dumps(r, ensure_ascii=ascii_only) for r in table) + end
    path = fuzz_dir / "random.jsonl"
    path.write_text(text, encoding="utf-8")
    got = _load_and_read(path)
    if got is not None:
        assert len(got) == len(table)


@FUZZ
@given(pairs=st.lists(st.tuples(st.text(max_size=40), st.text(max_size=40)), min_size=1, max_size=10), end=line_ends)
def test_json_lines_of_text_read_exactly(fuzz_dir: Path, pairs: list[tuple[str, str]], end: str):
    path = fuzz_dir / "text.jsonl"
    path.write_text(end.join(json.dumps({"prompt": p, "completion": c}, ensure_ascii=False) for p, c in pairs) + end,
                    encoding="utf-8")
    assert _load_and_read(path) == _expected(pairs)


@FUZZ
@given(depth=st.integers(1, 20), column=st.sampled_from(["meta", "prompt"]), in_string=st.booleans())
def test_nesting_beyond_the_limit_is_refused_and_within_it_read(fuzz_dir: Path, depth: int, column: str, in_string: bool):
    nested = "[" * depth + "]" * depth
    value = json.dumps(nested) if in_string else nested  # brackets inside a string do not nest
    path = fuzz_dir / "deep.jsonl"
    path.write_text(f'{{"prompt": "p", "completion": "c", "{column}": {value}}}\n', encoding="utf-8")
    try:
        got = [e for e in load_task(path, limits=LIMITS, prompt_col=column if column != "meta" else "prompt")]
    except DatasetError as exc:
        too_deep = not in_string and depth + 1 > LIMITS.max_json_depth
        assert too_deep == ("nested more than" in str(exc)), str(exc)
        assert too_deep or (column == "prompt" and not in_string)  # else: a list of lists is not text
        return
    assert in_string or depth + 1 <= LIMITS.max_json_depth
    assert len(got) == 1


text_cells = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)


def _csv(pairs: list[tuple[str, str]], delimiter: str, end: str) -> str:
    """RFC 4180 CSV: a field holding the delimiter, a quote or any line end is quoted (Python's csv module
    quotes only the characters of its own line terminator)."""
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in (delimiter, '"', "\r", "\n")) else v

    return "".join(delimiter.join(map(cell, row)) + end for row in [("prompt", "completion"), *pairs])


@FUZZ
@given(pairs=st.lists(st.tuples(text_cells, text_cells), min_size=1, max_size=10), delimiter=st.sampled_from([",", "\t"]), end=line_ends)
def test_well_formed_csv_reads_exactly(fuzz_dir: Path, pairs: list[tuple[str, str]], delimiter: str, end: str):
    pairs = [(p, c) for p, c in pairs if (p, c) != ("", "")]  # a row of empty fields is an empty line
    if not pairs:
        return
    path = fuzz_dir / ("exact.tsv" if delimiter == "\t" else "exact.csv")
    path.write_text(_csv(pairs, delimiter, end), encoding="utf-8", newline="")
    assert _load_and_read(path) == _expected(pairs)


@FUZZ
@given(pairs=st.lists(st.tuples(text_cells, text_cells), min_size=1, max_size=6),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=6)), min_size=1, max_size=5),
       gz=st.booleans())
def test_mutated_csv_loads_or_raises_a_dataset_error(fuzz_dir: Path, pairs: list, edits: list, gz: bool):
    data = bytearray(_csv(pairs, ",", "\n").encode())
    for at, cut, insert in edits:  # delete `cut` bytes at `at` and insert some there
        at %= len(data) + 1
        data[at: at + cut] = insert
    path = fuzz_dir / ("mutated.csv.gz" if gz else "mutated.csv")
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    _load_and_read(path)


@FUZZ
@given(table=rows, edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=6)), min_size=1, max_size=5),
       as_array=st.booleans())
def test_mutated_json_loads_or_raises_a_dataset_error(fuzz_dir: Path, table: list[dict], edits: list, as_array: bool):
    text = json.dumps(table) if as_array else "\n".join(json.dumps(r) for r in table)
    data = bytearray(text.encode())
    for at, cut, insert in edits:
        at %= len(data) + 1
        data[at: at + cut] = insert
    path = fuzz_dir / ("mutated.json" if as_array else "mutated.jsonl")
    path.write_bytes(bytes(data))
    _load_and_read(path)


@FUZZ
@given(size=st.integers(1, 6000), column=st.sampled_from(["prompt", "meta"]), kind=st.sampled_from(["jsonl", "csv"]))
def test_rows_over_the_limit_are_refused_and_others_read(fuzz_dir: Path, size: int, column: str, kind: str):
    big = "x" * size
    if kind == "jsonl":
        path = fuzz_dir / "sized.jsonl"
        path.write_text(json.dumps({"prompt": big if column == "prompt" else "p", "completion": "c",
                                    "meta": big if column == "meta" else ""}) + "\n", encoding="utf-8")
        row_bytes = len(path.read_bytes()) - 1
    else:
        path = fuzz_dir / "sized.csv"
        path.write_text(f"prompt,completion,meta\n{big if column == 'prompt' else 'p'},c,{big if column == 'meta' else ''}\n",
                        encoding="utf-8")
        row_bytes = size + 2  # the values of the row ("p" or the big one, "c" and the other)
    got = _load_and_read(path)
    assert (got is None) == (row_bytes > LIMITS.max_row_bytes)
