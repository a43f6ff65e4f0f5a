"""Duplicated rows: counted, reported, warned about, and left out of every heuristic; claimed sizes validated."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from task_samples import write_jsonl

from featurizers import DatasetError, INVARIANT_HEURISTICS, load_task, profile
from featurizers.dedup import SeenKeys, example_keys


def _rows(n: int) -> list[dict]:
    return [{"prompt": f"Is claim {i} about {'cats' if i % 2 else 'dogs'} plausible?", "completion": ["yes", "no"][i % 2]}
            for i in range(n)]


def _frame(rows: list[dict]):
    return load_task(pd.DataFrame(rows))


def test_a_file_with_99_percent_duplicates_reads_a_duplicate_share_of_099():
    rows = _rows(20) * 100
    p = profile(_frame(rows))
    assert p.n_rows == 2000 and p.n_unique == 20 and p.n_profiled == 20
    assert p.duplicate_share == pytest.approx(0.99)
    assert p.warnings[0] == (
        "1,980 of 2,000 rows (99.0%) repeat an earlier example exactly; the profile reads the 20 unique examples"
    )


def test_every_heuristic_is_computed_on_the_unique_examples(tmp_path: Path):
    once = profile(_frame(_rows(30)))
    for exact in (False, True):
        repeated = profile(load_task(write_jsonl(tmp_path / f"r{exact}.jsonl", _rows(30) * 152)), exact=exact)
        for name in once.heuristics:
            assert repeated[name] == pytest.approx(once[name], rel=1e-9, nan_ok=True), (exact, name)
        assert repeated["n_examples"] == 30 and repeated.n_examples == 30 and not repeated.sampled


def test_the_same_input_with_another_output_is_no_exact_duplicate_but_a_near_duplicate():
    rows = [{"prompt": "Is water wet?", "completion": "yes"}, {"prompt": "Is water wet?", "completion": "no"},
            {"prompt": "is WATER wet", "completion": "yes"}, {"prompt": "Is fire cold?", "completion": "no"}]
    p = profile(_frame(rows))
    assert p.n_unique == 4 and p.duplicate_share == 0 and p.warnings == ()
    assert p["near_duplicate_rate"] == pytest.approx(2 / 4)  # two inputs repeat "is water wet" after normalizing


def test_a_few_duplicates_are_reported_without_a_warning():
    p = profile(_frame(_rows(200) + _rows(1)))
    assert p.n_rows == 201 and p.n_unique == 200 and p.duplicate_share == pytest.approx(1 / 201)
    assert not any("repeat" in w for w in p.warnings)


def test_a_claimed_training_set_size_is_kept_apart_from_what_was_observed():
    p = profile(_frame(_rows(40) * 2), n_examples=10_000)
    assert p.n_examples_claimed == 10_000 and p.n_examples == 10_000 and p["n_examples"] == 10_000
    assert p.n_rows == 80 and p.n_unique == 40 and p.sampled and "input_tokens_mean" in p.intervals
    plain = profile(_frame(_rows(40) * 2))
    assert plain.n_examples_claimed is None and plain.n_examples == 40 and not plain.sampled


def test_a_claimed_size_below_the_unique_examples_found_is_a_clear_error(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"n_examples=10 is fewer than the 40 unique examples found in the data"):
        profile(_frame(_rows(40)), n_examples=10)
    task = load_task(write_jsonl(tmp_path / "d.jsonl", _rows(40) * 3), n_examples=39)
    with pytest.raises(DatasetError, match="at least 40"):
        profile(task)
    assert profile(task, n_examples=40).n_examples == 40  # the unique count itself is a valid claim
    with pytest.raises(ValueError, match="positive"):
        profile(task, n_examples=0)


def test_the_warnings_and_sizes_round_trip_through_json():
    from featurizers import TaskProfile

    p = profile(_frame(_rows(10) * 3 + [{"prompt": "empty?", "completion": ""}]))
    assert len(p.warnings) == 2 and "empty output" in p.warnings[1]
    assert TaskProfile.from_dict(p.to_dict()) == p


def test_a_profile_written_before_sizes_were_recorded_still_loads():
    from featurizers import TaskProfile

    old = {"heuristics": {"n_examples": 5.0}, "n_examples": 5, "n_profiled": 5, "featurizer_version": "1.1"}
    p = TaskProfile.from_dict(old)
    assert p.n_rows is None and p.n_unique is None and p.warnings == () and p.duplicate_share == 0.0


def test_seen_keys_count_each_key_once_across_batches_and_within_one():
    seen = SeenKeys()
    total = 0
    for start in range(0, 5000, 333):
        keys = example_keys([str(i % 1700) for i in range(start, start + 333)], ["x"] * 333)
        total += int(seen.add(keys).sum())
    assert seen.count == total == 1700


def test_example_keys_depend_on_input_output_and_seed_only():
    a = example_keys(["q"], ["a"]).tolist()
    assert a == example_keys(["q"], ["a"]).tolist()
    assert a != example_keys(["q"], ["b"]).tolist()
    assert a != example_keys(["q "], ["a"]).tolist()
    assert a != example_keys(["q"], ["a"], seed=1).tolist()


def test_invariant_heuristics_are_all_computed_by_profile():
    p = profile(_frame(_rows(12)))
    assert set(INVARIANT_HEURISTICS) <= set(p.heuristics)
