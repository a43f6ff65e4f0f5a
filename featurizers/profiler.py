"""``profile()``: stream a task dataset through the registered heuristics and summarize them."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Importing the heuristic modules registers their functions.
from featurizers import (  # noqa: F401
    compressibility, diversity, labels, lengths, readability, semantic, similarity, simple_learners,
)
from featurizers.batch_features import BatchFeatures, SampleView
from featurizers.labels import detect_task_type
from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile
from featurizers.registry import HEURISTICS, MEASURES, Measure
from featurizers.sampling import Reservoir
from featurizers.stats import IntegerHistogram, MomentAccumulator
from tasks import DatasetError, TaskData

#: Datasets up to this many rows are profiled whole by default; bigger ones get a sample of this size.
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


def profile(
    task_data: TaskData,
    sample: int | None = None,
    *,
    embeddings: bool | None = None,
    progress: bool = False,
    n_examples: int | None = None,
    exact: bool = False,
    seed: int = 0,
    workers: int | None = None,
) -> TaskProfile:
    """Profile a task dataset: the study's heuristics, the extra ones, and 95% intervals when sampled.

    * ``sample=N`` profiles a deterministic uniform sample of N rows (seeded bottom-k reservoir).
    * ``exact=True`` streams every row through the per-example heuristics (token counts, ROUGE-L,
      compressibility) in bounded memory; p95s come from exact histograms.
    * by default a dataset of up to 20,000 rows is profiled whole, a bigger one through a 20,000-row sample.

    The dataset-level heuristics (cardinality, entropy, diversity, readability, simple-learner scores, task
    type) always use a sample of at most 5,000 rows (semantic diversity, readability and the simple learners
    fewer, see their modules). The simple learners are scored with ``task_data.metric`` (else one inferred
    from the outputs), which the profile records as ``metric``.
    ``n_examples`` is the size of the training set the data stands for (default: ``task_data.n_examples``,
    else the rows read); when fewer rows were profiled, ``intervals`` holds a 95% interval per summary
    statistic (mean: normal with finite-population correction; std: delta method; p95: order statistics).
    ``embeddings`` (semantic diversity) defaults to on when sentence-transformers and the bundled
    all-MiniLM-L6-v2 are installed. ``workers`` threads share the tokenization (default: up to 2 cores).

    Example:
        >>> import pandas as pd
        >>> from featurizers import load_task
        >>> p = profile(load_task(pd.DataFrame({"prompt": ["Is it good?"], "completion": ["yes"]})), embeddings=False)
        >>> p["input_tokens_mean"], p["output_tokens_mean"], p.n_examples
        (4.0, 1.0, 1)
    """
    if not isinstance(task_data, TaskData):
        raise TypeError("profile() takes a TaskData; build one with featurizers.load_task(...)")
    if exact and sample is not None:
        raise ValueError("choose either exact=True or sample=N, not both")
    if sample is not None and sample < 1:
        raise ValueError(f"sample must be a positive number of rows, got {sample}")
    n_workers = _workers(workers)
    limit = None if exact else (sample or DEFAULT_SAMPLE)
    # Sampled mode: the reservoir is the sample. Exact mode: it only feeds the dataset-level heuristics.
    reservoir = Reservoir(limit or EXTRAS_SAMPLE, seed=seed)
    states = {
        name: _MeasureState(m, histogram=IntegerHistogram() if m.integer else None) for name, m in MEASURES.items()
    }
    empty = [0]

    def featurize(prompts: list[str], completions: list[str]) -> None:
        batch = BatchFeatures(prompts, completions, workers=n_workers)
        values = {name: np.asarray(st.measure.fn(batch)) for name, st in states.items()}
        for name, st in states.items():  # all computed before any update: no half-counted batch
            st.update(values[name])
        empty[0] += int(batch.empty_outputs.sum())

    bar = _progress_bar(progress, task_data)
    try:
        for prompts, completions in task_data.iter_arrow(FEATURIZE_BATCH):
            reservoir.add(prompts, completions)
            if exact:
                featurize(prompts.to_pylist(), completions.to_pylist())
            if bar is not None:
                bar.update(len(prompts))
    finally:
        if bar is not None:
            bar.close()
    rows_read = reservoir.seen
    if rows_read == 0:
        raise DatasetError(f"{task_data.source}: the dataset is empty (no rows)")
    if not exact:
        prompts, completions = reservoir.rows()
        for start in range(0, len(prompts), FEATURIZE_BATCH):
            featurize(prompts[start : start + FEATURIZE_BATCH], completions[start : start + FEATURIZE_BATCH])

    n_profiled = states["input_tokens"].moments.n
    population = max(n_examples or task_data.n_examples or 0, rows_read)
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

    use_embeddings = semantic.embeddings_available() if embeddings is None else embeddings
    view_p, view_c = reservoir.rows(EXTRAS_SAMPLE)
    view = SampleView(view_p, view_c, embed=semantic.load_embedder() if use_embeddings else None,
                      metric=task_data.metric)
    for name, h in HEURISTICS.items():
        if h.needs_embeddings and not use_embeddings:
            continue
        heuristics[name] = float(h.fn(view))

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
    )


def _progress_bar(enabled: bool, task_data: TaskData) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=task_data.n_rows, unit="rows", desc=f"profiling {task_data.name}", leave=False)
