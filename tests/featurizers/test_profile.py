"""profile(): sampling, exact streaming, intervals and invariants (property-based where it fits)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from task_samples import write_jsonl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurizers import load_task, profile
from featurizers.dedup import example_keys
from featurizers.sampling import Reservoir
from featurizers.stats import IntegerHistogram, MomentAccumulator

STUDY_SUMMARIES = [
    "input_tokens_mean", "input_tokens_std", "input_tokens_p95", "output_tokens_mean", "example_tokens_p95",
    "io_rougeL_mean", "io_rougeL_std", "compressibility_mean", "compressibility_std",
]


def _rows(n: int) -> list[dict]:
    return [{"prompt": f"question {i} " + "word " * (i % 17), "completion": ["yes", "no", f"maybe {i}"][i % 3]} for i in range(n)]


def _frame_task(prompts, completions):
    return load_task(pd.DataFrame({"prompt": prompts, "completion": completions}))


def test_small_data_is_profiled_whole_without_intervals():
    p = profile(load_task(pd.DataFrame(_rows(50))), embeddings=False)
    assert p.n_profiled == 50 and not p.sampled and p.intervals == {}


def test_a_sample_gets_a_95_percent_interval_around_every_summary_statistic():
    p = profile(load_task(pd.DataFrame(_rows(400))), 100, embeddings=False)
    assert p.sampled and p.n_profiled == 100 and p.n_examples == 400
    for name in STUDY_SUMMARIES:
        lo, hi = p.intervals[name]
        assert lo <= p[name] <= hi, name


def test_a_file_that_samples_a_bigger_training_set_reports_intervals_for_that_set(tmp_path: Path):
    task = load_task(write_jsonl(tmp_path / "s.jsonl", _rows(300)), n_examples=10_000)
    p = profile(task, embeddings=False)
    assert p.sampled and p.n_examples == 10_000 and p.n_profiled == 300
    assert "example_tokens_p95" in p.intervals


def test_sampling_is_deterministic_and_seeded():
    task = load_task(pd.DataFrame(_rows(500)))
    a, b = profile(task, 50, embeddings=False), profile(task, 50, embeddings=False)
    assert a.heuristics == b.heuristics
    c = profile(task, 50, embeddings=False, seed=1)
    assert c.heuristics != a.heuristics


def test_a_sample_as_large_as_the_data_equals_exact_mode(tmp_path: Path):
    task = load_task(write_jsonl(tmp_path / "d.jsonl", _rows(300)))
    sampled, exact = profile(task, 300, embeddings=False), profile(task, exact=True, embeddings=False)
    for name in STUDY_SUMMARIES:
        assert sampled[name] == pytest.approx(exact[name]), name
    assert not exact.sampled and exact.intervals == {}


def test_exact_mode_streams_in_chunks_with_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import featurizers.profiler as profiler
    import tasks.readers as readers

    path = write_jsonl(tmp_path / "d.jsonl", _rows(300))
    whole = profile(load_task(path), exact=True, embeddings=False)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 512)
    monkeypatch.setattr(profiler, "FEATURIZE_BATCH", 7)
    chunked = profile(load_task(path), exact=True, embeddings=False)
    for name in STUDY_SUMMARIES:
        assert chunked[name] == pytest.approx(whole[name]), name


def test_threads_do_not_change_the_values():
    task = load_task(pd.DataFrame(_rows(600)))
    one, two = profile(task, embeddings=False, workers=1), profile(task, embeddings=False, workers=2)
    assert one.heuristics == pytest.approx(two.heuristics, nan_ok=True)


def test_profile_round_trips_through_json():
    from featurizers import TaskProfile

    p = profile(load_task(pd.DataFrame(_rows(100))), 40, embeddings=False)
    assert TaskProfile.from_dict(json.loads(p.to_json())) == p


def test_progress_bar_does_not_change_the_result(capsys: pytest.CaptureFixture[str]):
    task = load_task(pd.DataFrame(_rows(100)))
    assert profile(task, embeddings=False, progress=True).heuristics == profile(task, embeddings=False).heuristics


def _keys(texts: list[str]) -> np.ndarray:
    return example_keys(texts, ["x"] * len(texts))


def test_reservoir_sample_does_not_depend_on_batch_boundaries():
    texts = [str(i) for i in range(1000)]
    whole, pieces = Reservoir(50), Reservoir(50)
    whole.add(_keys(texts), pa.array(texts))
    for start in range(0, 1000, 37):
        part = texts[start : start + 37]
        pieces.add(_keys(part), pa.array(part))
    assert whole.rows() == pieces.rows()
    assert len(set(whole.rows()[0])) == 50


def test_reservoir_sample_does_not_depend_on_row_order_or_repetition():
    texts = [str(i) for i in range(1000)]
    shuffled = [texts[i] for i in np.random.default_rng(1).permutation(1000)] * 3
    a, b = Reservoir(50), Reservoir(50)
    a.add(_keys(texts), pa.array(texts))
    b.add(_keys(shuffled), pa.array(shuffled))
    assert a.rows() == b.rows() and len(b) == 50 and b.seen == 3000


def test_reservoir_prefixes_are_nested_samples():
    texts = [str(i) for i in range(1000)]
    r = Reservoir(100)
    r.add(_keys(texts), pa.array(texts), pa.array(["x"] * 1000))
    assert r.rows(10)[0] == r.rows()[0][:10]


# --- statistics -------------------------------------------------------------------------------------------

@given(st.lists(st.integers(0, 5000), min_size=1, max_size=300))
def test_histogram_percentile_matches_numpy_and_lies_between_min_and_max(values):
    h = IntegerHistogram()
    h.update(np.array(values))
    p95 = h.percentile(95)
    assert p95 == pytest.approx(np.percentile(values, 95))
    assert min(values) <= p95 <= max(values)


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300), st.integers(1, 50))
def test_streamed_moments_match_numpy_whatever_the_batching(values, step):
    acc = MomentAccumulator()
    for i in range(0, len(values), step):
        acc.update(np.array(values[i : i + step]))
    assert acc.mean == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)
    assert acc.std == pytest.approx(np.std(values), rel=1e-6, abs=1e-3)


@given(st.lists(st.integers(0, 1000), min_size=2, max_size=200))
def test_intervals_contain_their_estimate(values):
    acc, h = MomentAccumulator(), IntegerHistogram()
    acc.update(np.array(values, dtype=float))
    h.update(np.array(values))
    lo, hi = acc.mean_interval(10 * len(values))
    assert lo <= acc.mean <= hi
    lo, hi = acc.std_interval(None)
    assert lo <= acc.std + 1e-9 and acc.std <= hi + 1e-9
    lo, hi = h.percentile_interval(95)
    assert lo <= h.percentile(95) <= hi


def test_mean_interval_shrinks_to_nothing_when_the_sample_is_the_population():
    acc = MomentAccumulator()
    acc.update(np.arange(100.0))
    lo, hi = acc.mean_interval(100)
    assert lo == hi == acc.mean


_texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40)
# The loaders refuse a prompt or completion column with no text at all (tests/tasks cover that).
_pairs = st.lists(st.tuples(_texts, _texts), min_size=1, max_size=12).filter(
    lambda ps: any(p.strip() for p, _ in ps) and any(c.strip() for _, c in ps)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pairs)
def test_duplicating_every_row_changes_no_mean_and_no_share(pairs):
    prompts, completions = [p for p, _ in pairs], [c for _, c in pairs]
    once = profile(_frame_task(prompts, completions), embeddings=False)
    twice = profile(_frame_task(prompts * 2, completions * 2), embeddings=False)
    for name in ["input_tokens_mean", "output_tokens_mean", "example_tokens_mean", "io_rougeL_mean",
                 "compressibility_mean", "input_tokens_std", "numeric_output_share", "label_entropy", "empty_output_share"]:
        a, b = once[name], twice[name]
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9), name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pairs)
def test_p95s_lie_between_the_smallest_and_largest_example(pairs):
    prompts, completions = [p for p, _ in pairs], [c for _, c in pairs]
    p = profile(_frame_task(prompts, completions), embeddings=False)
    from featurizers.text import token_counts

    counts = token_counts(prompts)
    assert counts.min() <= p["input_tokens_p95"] <= counts.max()
    assert 0 <= p["io_rougeL_mean"] <= 1
