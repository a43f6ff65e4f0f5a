"""Published capability scores: the shipped file loads against the registry, every number has a source, models
without an MMLU 5-shot score are exactly the documented ones, the table picks one row by the documented rule,
and malformed files are refused with the file, line and column named."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.capabilities import (
    BENCHMARKS,
    CAPABILITIES_CSV,
    COLUMNS,
    CapabilityError,
    CapabilityScore,
    capability_table,
    load_capabilities,
)
from models.registry import load_registry

DOC = CAPABILITIES_CSV.with_name("capabilities.md")
STUDY_MODELS = ("phi-2", "gemma-2b", "gemma-2b-instruct", "gemma-7b", "gemma-7b-instruct", "llama-2-7b",
                "llama-2-7b-chat", "mistral-7b", "mistral-7b-instruct", "zephyr-7b-beta")


@pytest.fixture(scope="module")
def scores() -> list[CapabilityScore]:
    return load_capabilities()


def _documented_without_mmlu_5_shot() -> dict[str, str]:
    """The models the doc's table lists as lacking an MMLU 5-shot row, with the reason given."""
    section = DOC.read_text(encoding="utf-8").split("## Models without an MMLU 5-shot row", 1)[1]
    rows = re.findall(r"^\| ([a-z0-9.\-]+) \| (.+) \|$", section, flags=re.MULTILINE)
    return {model: reason for model, reason in rows if model not in ("model", "---")}  # not the header rows


def test_the_shipped_file_loads_and_names_only_registry_models_and_known_benchmarks(scores):
    registry = load_registry()
    assert len(scores) >= 100
    assert {s.model for s in scores} <= set(registry)
    assert {s.benchmark for s in scores} <= set(BENCHMARKS)
    assert {s.benchmark for s in scores} == set(BENCHMARKS)  # every benchmark of the brief has some number


def test_the_study_models_are_registry_rows_and_most_have_published_scores(scores):
    registry = load_registry()
    assert set(STUDY_MODELS) <= set(registry)
    with_scores = {s.model for s in scores} & set(STUDY_MODELS)
    assert {"gemma-2b", "gemma-7b", "llama-2-7b", "llama-2-7b-chat", "mistral-7b", "zephyr-7b-beta"} <= with_scores


def test_every_registry_model_has_an_mmlu_5_shot_row_or_is_documented_without_one(scores):
    with_5_shot = {s.model for s in scores if s.benchmark == "mmlu" and s.shots == 5}
    without = [name for name in load_registry() if name not in with_5_shot]
    documented = _documented_without_mmlu_5_shot()
    assert sorted(without) == sorted(documented)
    assert all(reason.strip() for reason in documented.values())


def test_scores_are_percentages_and_shots_are_whole_numbers_or_unstated(scores):
    assert all(0.0 <= s.score <= 100.0 for s in scores)
    assert all(s.shots is None or (isinstance(s.shots, int) and s.shots >= 0) for s in scores)


def test_every_row_names_an_http_source_and_the_table_it_comes_from(scores):
    for s in scores:
        assert re.match(r"https?://\S+$", s.source_url), s
        assert s.source_table.strip(), s
        assert s.retrieved_from is None or re.match(r"https?://\S+$", s.retrieved_from), s


def test_every_row_is_for_the_checkpoint_of_its_registry_row(scores):
    registry = load_registry()
    for s in scores:
        assert s.variant == ("instruct" if registry[s.model].instruction_tuned else "base"), s


def test_no_two_rows_share_model_benchmark_shots_variant_and_metric(scores):
    keys = [s.key for s in scores]
    assert len(keys) == len(set(keys))


def test_the_table_gives_each_model_its_5_shot_mmlu_over_another_setting(scores):
    table = capability_table(scores)
    for s in scores:
        if s.benchmark == "mmlu" and s.shots == 5:
            assert table[s.model]["mmlu"].shots == 5
    assert "phi-2" not in table  # missing stays missing


def _row(**fields) -> dict[str, str]:
    base = dict(model="mistral-7b", benchmark="mmlu", score="60.1", shots="5", variant="base", metric="",
                source_url="https://example.org/paper", source_table="Table 2", retrieved_from="", note="")
    base.update(fields)
    return base


def _write(tmp_path: Path, rows: list[dict[str, str]], header: tuple[str, ...] = COLUMNS) -> Path:
    import csv

    path = tmp_path / "caps.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_table_prefers_the_benchmarks_shots_then_the_nearest_stated_then_the_first_listed(tmp_path):
    path = _write(tmp_path, [
        _row(shots="", score="1"), _row(shots="0", score="2"), _row(shots="3", score="3"), _row(shots="5", score="4"),
        _row(benchmark="gsm8k", shots="", score="5"), _row(benchmark="gsm8k", shots="8", score="6"),
        _row(benchmark="gsm8k", shots="4", score="7"),
        _row(benchmark="ifeval", shots="", metric="a", score="8"), _row(benchmark="ifeval", shots="", metric="b", score="9"),
    ])
    table = capability_table(load_capabilities(path))["mistral-7b"]
    assert table["mmlu"].score == 4.0           # the preferred 5 shots
    assert table["gsm8k"].score == 7.0          # 4 shots is nearer to the preferred 5 than 8; stated beats unstated
    assert table["ifeval"].score == 8.0         # a tie goes to the row listed first


def test_the_table_uses_an_unstated_shots_row_when_it_is_the_only_one(tmp_path):
    path = _write(tmp_path, [_row(shots="", score="45.3")])
    assert capability_table(load_capabilities(path))["mistral-7b"]["mmlu"].score == 45.3


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(model="gpt-5"), r"caps.csv line 2, column model: 'gpt-5' is not a model of the base-model registry"),
        (dict(benchmark="drop"), r"line 2, column benchmark: 'drop' is not one of mmlu, "),
        (dict(score="120"), r"line 2, column score: 120 is outside \[0, 100\]"),
        (dict(score="-1"), r"line 2, column score: -1 is outside \[0, 100\]"),
        (dict(score="0.601"), None),  # a fraction is a valid percentage value (0.601 %): not rejected, not converted
        (dict(score="nan"), r"line 2, column score: nan is outside"),
        (dict(score="60%"), r"line 2, column score: '60%' is not a number"),
        (dict(score=""), r"line 2, column score: must not be empty"),
        (dict(shots="-1"), r"line 2, column shots: '-1' must be a non-negative whole number or empty"),
        (dict(shots="5-shot"), r"line 2, column shots: '5-shot' must be"),
        (dict(shots="2.5"), r"line 2, column shots: '2.5' must be"),
        (dict(variant="chat"), r"line 2, column variant: 'chat' is not one of base, instruct"),
        (dict(variant="instruct"), r"line 2, column variant: 'instruct' but mistral-7b is the registry's base checkpoint"),
        (dict(source_url="arxiv.org/abs/2310.06825"), r"line 2, column source_url: 'arxiv.org/abs/2310.06825' is not an http"),
        (dict(source_url="ftp://example.org/x"), r"column source_url: 'ftp://example.org/x' is not an http"),
        (dict(source_url=""), r"line 2, column source_url: must not be empty"),
        (dict(retrieved_from="a copy somewhere"), r"column retrieved_from: 'a copy somewhere' is not an http"),
        (dict(source_table=" "), r"line 2, column source_table: must not be empty"),
    ],
)
def test_a_malformed_cell_is_named_with_its_file_line_and_column(tmp_path, fields, message):
    path = _write(tmp_path, [_row(**fields)])
    if message is None:
        assert load_capabilities(path)[0].score == pytest.approx(0.601)
        return
    with pytest.raises(CapabilityError, match=message):
        load_capabilities(path)


def test_a_duplicate_row_names_both_lines(tmp_path):
    path = _write(tmp_path, [_row(), _row(benchmark="gsm8k"), _row(score="61")])
    with pytest.raises(CapabilityError, match=r"line 4: mistral-7b mmlu \(shots 5, base, metric None\) is already given on line 2"):
        load_capabilities(path)


def test_the_same_benchmark_at_other_shots_or_metric_is_not_a_duplicate(tmp_path):
    path = _write(tmp_path, [_row(), _row(shots="0"), _row(metric="cloze")])
    assert len(load_capabilities(path)) == 3


def test_a_file_missing_a_column_is_refused_naming_it(tmp_path):
    path = _write(tmp_path, [_row()], header=tuple(c for c in COLUMNS if c != "source_table"))
    with pytest.raises(CapabilityError, match=r"caps.csv is missing column\(s\) source_table"):
        load_capabilities(path)


def test_a_row_with_more_cells_than_columns_is_refused(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text(",".join(COLUMNS) + "\nmistral-7b,mmlu,60.1,5,base,,https://x.org,T,,,extra\n", encoding="utf-8")
    with pytest.raises(CapabilityError, match=r"caps.csv line 2: more values than the 10 columns"):
        load_capabilities(path)


def test_an_unreadable_or_oversized_or_binary_file_is_refused(tmp_path, monkeypatch):
    with pytest.raises(CapabilityError, match=r"cannot read the capabilities file"):
        load_capabilities(tmp_path / "absent.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00" * 100)
    with pytest.raises(CapabilityError, match=r"binary.csv is not a readable UTF-8 CSV file"):
        load_capabilities(binary)
    monkeypatch.setattr("models.capabilities.MAX_BYTES", 10)
    with pytest.raises(CapabilityError, match=r"caps.csv is \d+ bytes; a capabilities file may be at most 10"):
        load_capabilities(_write(tmp_path, [_row()]))


def test_a_file_can_be_checked_against_another_registry(tmp_path):
    registry = load_registry()
    only = {"mistral-7b": registry["mistral-7b"]}
    assert len(load_capabilities(_write(tmp_path, [_row()]), registry=only)) == 1
    with pytest.raises(CapabilityError, match=r"'phi-2' is not a model of the base-model registry"):
        load_capabilities(_write(tmp_path, [_row(model="phi-2")]), registry=only)
