"""``profile()``: stream a task dataset through the registered heuristics and summarize them."""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

# Importing the heuristic modules registers their functions.
from featurizers import (  # noqa: F401
    compressibility, diversity, labels, lengths, readability, semantic, similarity, simple_learners,
)
from featurizers.batch_features import BatchFeatures, SampleView
from featurizers.contents import FixedText, join_fields
from featurizers.dedup import SeenKeys, example_keys
from featurizers.labels import detect_task_type
from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile
from featurizers.registry import HEURISTICS, MEASURES, Measure
from featurizers.sampling import Reservoir
from featurizers.stats import IntegerHistogram, MomentAccumulator
from featurizers.text import rouge_words
from tasks import DatasetError, TaskData

#: Datasets up to this many unique examples are profiled whole by default; bigger ones get a sample of this size.
DEFAULT_SAMPLE = 20_000
#: Rows kept for the dataset-level heuristics (label entropy, diversity, readability, task type...).
EXTRAS_SAMPLE = 5_000
#: Rows featurized per call in the per-example pass.
FEATURIZE_BATCH = 4096


@dataclass
class _MeasureState:
    measure: Measure
    moments: MomentAccumulator = field(default_factory=MomentAccumulator)
    histogram: IntegerHistogram | None = None

    def update(self, values: np.ndarray) -> None:
        self.moments.update(values)
        if self.histogram is not None:
            self.histogram.update(values)

    def summary(self, stat: str) -> float:
        if stat == "mean":
            return self.moments.mean
        if stat == "std":
            return self.moments.std
        if stat == "p95" and self.histogram is not None:
            return self.histogram.percentile(95)
        raise ValueError(f"no summary {stat!r} for measure {self.measure.name!r}")

    def interval(self, stat: str, population: int | None) -> tuple[float, float]:
        if stat == "mean":
            return self.moments.mean_interval(population)
        if stat == "std":
            return self.moments.std_interval(population)
        assert self.histogram is not None
        return self.histogram.percentile_interval(95)


def _workers(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    return max(1, min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@dataclass(frozen=True)
class _Rows:
    """One batch of rows: prompts, completions, each prompt's raw content (field values or the prompt) and
    the examples' keys."""

    prompts: pa.Array
    completions: pa.Array
    contents: pa.Array
    keys: np.ndarray


def _rows(task_data: TaskData, seed: int) -> Iterator[_Rows]:
    for prompts, completions, fields in task_data.iter_arrow_with_fields(FEATURIZE_BATCH):
        contents = join_fields(prompts, fields)
        # With a template an example is its field values and output, so rewording the template keeps the
        # same examples (and the same sample); without one it is the prompt and output.
        identity = contents if fields else prompts
        keys = example_keys(identity.to_pylist(), completions.to_pylist(), seed)
        yield _Rows(prompts, completions, contents, keys)


def profile(
    task_data: TaskData,
    sample: int | None = None,
    *,
    embeddings: bool = False,
    progress: bool = False,
    n_examples: int | None = None,
    exact: bool = False,
    seed: int = 0,
    workers: int | None = None,
) -> TaskProfile:
    """Profile a task dataset's unique examples: the study's heuristics, their content-only counterparts, the
    extra ones, and 95% intervals when sampled.

    Exact duplicates (same input and output) are counted once: ``n_rows`` rows read, ``n_unique`` distinct,
    ``duplicate_share`` and a warning when it is 1% or more; every heuristic is computed on unique examples.

    * ``sample=N`` profiles a deterministic uniform sample of N unique examples (bottom-k over seeded
      content hashes: the same whatever the rows' order or repetition).
    * ``exact=True`` streams every unique example through the per-example heuristics (token counts, ROUGE-L,
      compressibility) in bounded memory, in a second pass over the data; p95s come from exact histograms.
    * by default a dataset of up to 20,000 unique examples is profiled whole, a bigger one through a
      20,000-example sample.

    The template's fixed text is left out of the ``content_*`` heuristics and of the dataset-level ones:
    with a template they read the fields' values, otherwise the prompts; either way without the start and
    end that every sampled prompt shares (:mod:`featurizers.contents`). The dataset-level heuristics
    (cardinality, entropy, diversity, readability, simple-learner scores, task kind) use a sample of at most
    5,000 examples (readability and the simple learners fewer, see their modules). The simple learners are
    scored with ``task_data.metric`` (else the detected kind's metric), which the profile records as ``metric``.

    ``n_examples`` is the size of the training set the data stands for (default: ``task_data``'s claimed
    size, else the unique examples found); a claim below the unique examples found is a
    :class:`~tasks.DatasetError`. When fewer examples were profiled than it, ``intervals`` holds a 95%
    interval per summary statistic (mean: normal with finite-population correction; std: delta method; p95:
    order statistics). ``embeddings=True`` adds the semantic-diversity heuristics (sentence-transformers and
    the bundled all-MiniLM-L6-v2; a few seconds, and the shipped predictor reads none of them); ``progress``
    shows progress bars (model loading's too). ``workers`` threads share the tokenization (default: up to 2).

    Example:
        >>> import pandas as pd
        >>> from featurizers import load_task
        >>> df = pd.DataFrame({"prompt": ["Is it good?", "Is it good?"], "completion": ["yes", "yes"]})
        >>> p = profile(load_task(df))
        >>> p["input_tokens_mean"], p["output_tokens_mean"], p.n_rows, p.n_unique, p.n_examples
        (4.0, 1.0, 2, 1, 1)
        >>> p.warnings[0]
        '1 of 2 rows (50.0%) repeat an earlier example exactly; the profile reads the 1 unique examples'
    """
    if not isinstance(task_data, TaskData):
        raise TypeError("profile() takes a TaskData; build one with featurizers.load_task(...)")
    if exact and sample is not None:
        raise ValueError("choose either exact=True or sample=N, not both")
    if sample is not None and sample < 1:
        raise ValueError(f"sample must be a positive number of rows, got {sample}")
    if n_examples is not None and n_examples < 1:
        raise ValueError(f"n_examples must be a positive number of examples, got {n_examples}")
    n_workers = _workers(workers)
    limit = None if exact else (sample or DEFAULT_SAMPLE)
    # Sampled mode: the reservoir is the sample. Exact mode: it only feeds the dataset-level heuristics and
    # the estimate of the fixed text.
    reservoir = Reservoir(limit or EXTRAS_SAMPLE)
    unique = SeenKeys()
    with _progress_bar(progress, task_data, "reading") as bar:
        for rows in _rows(task_data, seed):
            unique.add(rows.keys)
            reservoir.add(rows.keys, rows.prompts, rows.completions, rows.contents)
            bar.update(len(rows.keys))
    n_rows, n_unique = reservoir.seen, unique.count
    if n_rows == 0:
        raise DatasetError(f"{task_data.source}: the dataset is empty (no rows)")
    claimed = n_examples if n_examples is not None else task_data.claimed_n_examples
    if claimed is not None and claimed < n_unique:
        raise DatasetError(
            f"{task_data.source}: n_examples={claimed:,} is fewer than the {n_unique:,} unique examples found "
            f"in the data; give the size of the whole training set (at least {n_unique:,}) or leave it out"
        )
    sample_prompts, sample_completions, sample_raw = reservoir.rows()
    fixed = FixedText.estimate(sample_raw)
    # The sample in the order of its examples' content keys (no fixed text; case, punctuation and spacing
    # normalized as ROUGE words), so the order-sensitive heuristics (MATTR, concatenated compressibility,
    # windows, tie-breaks) read the same sequence whether the template came as a template or written into
    # the prompts, and whatever blank lines separate its fields. Contents with the same words split into other
    # lines ("a\nb b" and "a b\nb") tie on that key and are ordered by their lines' words.
    stripped = fixed.strip_all(sample_raw)
    by_line = ["\n".join(w for w in (" ".join(rouge_words(line)) for line in c.split("\n")) if w) for c in stripped]
    normalized = [words.replace("\n", " ") for words in by_line]  # ROUGE words never span a line break
    order = np.lexsort((
        example_keys(by_line, sample_completions, seed), example_keys(normalized, sample_completions, seed),
    )).tolist()
    sample_prompts, sample_completions, sample_raw = (
        [col[i] for i in order] for col in (sample_prompts, sample_completions, sample_raw)
    )

    states = {
        name: _MeasureState(m, histogram=IntegerHistogram() if m.integer else None) for name, m in MEASURES.items()
    }
    empty = [0]

    def featurize(prompts: list[str], completions: list[str], raw: list[str]) -> None:
        batch = BatchFeatures(prompts, completions, workers=n_workers, contents=fixed.strip_all(raw))
        values = {name: np.asarray(st.measure.fn(batch)) for name, st in states.items()}
        for name, st in states.items():  # all computed before any update: no half-counted batch
            st.update(values[name])
        empty[0] += int(batch.empty_outputs.sum())

    if exact:
        featurized = SeenKeys()
        with _progress_bar(progress, task_data, "profiling") as bar:
            for rows in _rows(task_data, seed):
                idx = pa.array(np.flatnonzero(featurized.add(rows.keys)))
                if len(idx):
                    featurize(*(c.take(idx).to_pylist() for c in (rows.prompts, rows.completions, rows.contents)))
                bar.update(len(rows.keys))
    else:
        for start in range(0, len(sample_prompts), FEATURIZE_BATCH):
            part = slice(start, start + FEATURIZE_BATCH)
            featurize(sample_prompts[part], sample_completions[part], sample_raw[part])

    n_profiled = states["input_tokens"].moments.n
    population = claimed if claimed is not None else n_unique
    sampled = n_profiled < population

    heuristics: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for name, st in states.items():
        for stat in st.measure.summaries:
            key = f"{name}_{stat}"
            heuristics[key] = float(st.summary(stat))
            if sampled:
                intervals[key] = tuple(float(v) for v in st.interval(stat, population))  # type: ignore[assignment]
    heuristics["n_examples"] = float(population)
    heuristics["empty_output_share"] = empty[0] / n_profiled if n_profiled else math.nan

    n_view = min(EXTRAS_SAMPLE, len(sample_prompts))
    view = SampleView(
        sample_prompts[:n_view], sample_completions[:n_view], contents=fixed.strip_all(sample_raw[:n_view]),
        embed=semantic.load_embedder(progress=progress) if embeddings else None, metric=task_data.metric,
    )
    for name, h in HEURISTICS.items():
        if h.needs_embeddings and not embeddings:
            continue
        heuristics[name] = float(h.fn(view))

    duplicate_share = 1.0 - n_unique / n_rows
    return TaskProfile(
        heuristics=heuristics,
        n_examples=int(population),
        n_profiled=int(n_profiled),
        intervals=intervals,
        featurizer_version=FEATURIZER_VERSION,
        task_type=detect_task_type(view),
        source=task_data.source,
        fingerprint=task_data.fingerprint(),
        n_empty_outputs=int(empty[0]),
        sampled=sampled,
        metric=simple_learners.scoring_metric(view).name,
        n_rows=int(n_rows),
        n_unique=int(n_unique),
        duplicate_share=duplicate_share,
        n_examples_claimed=claimed,
        warnings=_warnings(n_rows, n_unique, int(empty[0]), int(n_profiled)),
    )


#: A duplicate share from which the profile warns.
DUPLICATE_WARNING_SHARE = 0.01


def _warnings(n_rows: int, n_unique: int, n_empty: int, n_profiled: int) -> tuple[str, ...]:
    out = []
    repeated = n_rows - n_unique
    if repeated and repeated / n_rows >= DUPLICATE_WARNING_SHARE:
        out.append(
            f"{repeated:,} of {n_rows:,} rows ({repeated / n_rows:.1%}) repeat an earlier example exactly; "
            f"the profile reads the {n_unique:,} unique examples"
        )
    if n_empty:
        out.append(f"{n_empty:,} of {n_profiled:,} profiled examples have an empty output")
    return tuple(out)


@contextmanager
def _progress_bar(enabled: bool, task_data: TaskData, what: str) -> Iterator[Any]:
    """A tqdm bar over the rows when ``enabled``, else a stand-in whose ``update`` does nothing."""
    if not enabled:
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=task_data.n_rows, unit="rows", desc=f"{what} {task_data.name}", leave=False)
    try:
        yield bar
    finally:
        bar.close()


class _NoBar:
    def update(self, n: int) -> None:
        pass
