"""How far two trivial learners get on the task, scored with the task's own metric.

A task's fine-tuned score is on its own metric, and each metric has its own scale: 0.25 is chance on
four-way multiple choice, 0.2 ROUGE-L is a fair summary. These heuristics place the task on that scale.
Each learner predicts every example of a sample of the data:

* ``majority_score``: the most frequent output, for every prompt (what knowing nothing about the
  prompt gets);
* ``nearest_neighbor_score``: the output of the most similar other prompt (TF-IDF cosine over the part of
  the prompt that varies) among a window of 500 examples (so the pool, and the score, do not grow with the
  dataset), the crudest learner that reads the input;
* ``simple_learner_score``: the better of the two.

On the study's reference tasks with fair samples, ``simple_learner_score`` correlates with the mean
fine-tuned score more strongly than any of the study's heuristics (measured by ``advisor train``'s feature
signal table in the model card).

The metric is the task's (``TaskData.metric``, e.g. from its ``metadata.yaml``), else inferred from the
outputs and inputs (the task kind's metric, as :func:`tasks.metrics.infer_metric` chooses it). A metric that cannot be computed here (HumanEval
runs generated code) is replaced by ROUGE-L, as :mod:`tasks.metrics` advises; the profile records
which metric scored the learners.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from featurizers.batch_features import SampleView
from featurizers.labels import detect_task_type
from featurizers.registry import heuristic
from featurizers.sampling import windows
from tasks.metrics import Metric, UnsupportedMetricError, get_metric
from tasks.task_kinds import metric_for_kind

#: Examples (of the dataset-level sample) the learners are scored on: the all-pairs similarity is quadratic.
SIMPLE_LEARNER_SAMPLE = 2000
#: Used in place of a metric that cannot be computed here.
FALLBACK_METRIC = "rouge_l"


def scoring_metric(s: SampleView) -> Metric:
    """The metric that scores the learners: the sample's ``metric`` if computable, else inferred or ROUGE-L.

    Example:
        >>> scoring_metric(SampleView(["a?", "b?"], ["yes", "no"])).name
        'binary_flex'
        >>> scoring_metric(SampleView(["a?"], ["x"], metric="humaneval")).name
        'rouge_l'
    """
    if "scoring_metric" not in s.cache:
        name = s.metric or (metric_for_kind(detect_task_type(s), s.outputs) if s.outputs else FALLBACK_METRIC)
        try:
            metric = get_metric(name)
        except UnsupportedMetricError:
            metric = get_metric(FALLBACK_METRIC)
        s.cache["scoring_metric"] = metric
    return s.cache["scoring_metric"]


def majority_output(outputs: list[str]) -> str | None:
    """The most frequent output (ties: the first seen); None when there are none.

    Counted over the whole sample, itself included: leaving each example out would make a perfectly
    balanced label set score 0 (each held-out label is then the rarest), while the in-sample bias is at
    most one example in the sample's size.

    Example:
        >>> majority_output(["a", "b", "b"]), majority_output([])
        ('b', None)
    """
    return Counter(outputs).most_common(1)[0][0] if outputs else None


def nearest_neighbors(texts: list[str]) -> np.ndarray | None:
    """Index of the most similar *other* text for each text (TF-IDF cosine; ties: lowest index); None for < 2.

    Texts without a single word in common with any other (or no words at all) get the lowest-index other.

    Example:
        >>> nearest_neighbors(["red apple pie", "blue sky", "apple pie recipe"]).tolist()
        [2, 0, 0]
    """
    n = len(texts)
    if n < 2:
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        matrix = TfidfVectorizer(sublinear_tf=True, dtype=np.float32).fit_transform(texts)
        similarity = (matrix @ matrix.T).toarray()
    except ValueError:  # empty vocabulary: nothing tells the prompts apart
        similarity = np.zeros((n, n), dtype=np.float32)
    np.fill_diagonal(similarity, -1.0)
    return similarity.argmax(axis=1)


def _example_score(metric: Metric, prediction: str, reference: str) -> float | None:
    """The metric on one pair, or None for a reference it cannot score (empty; no number for ``first_number``):
    such examples are left out of the learners' scores rather than failing the profile."""
    if not reference:
        return None
    try:
        return metric.example(prediction, reference)
    except ValueError:
        return None


def _scores(s: SampleView) -> dict[str, float]:
    if "simple_learners" not in s.cache:
        outputs = s.outputs[:SIMPLE_LEARNER_SAMPLE]
        metric = scoring_metric(s)

        def mean_score(predictions: list[str] | None) -> float:
            if predictions is None:
                return math.nan
            values = [v for v in (_example_score(metric, p, r) for p, r in zip(predictions, outputs)) if v is not None]
            return float(np.mean(values)) if values else math.nan

        contents = s.input_contents[:SIMPLE_LEARNER_SAMPLE]
        top = majority_output(outputs)
        majority = mean_score(None if top is None else [top] * len(outputs))
        # Neighbours are looked for within windows of 500 examples: in a bigger pool the nearest prompt is
        # nearer, so a pool of the dataset's size would make the score grow with the dataset.
        predictions: list[str] = []
        for w in windows(len(outputs)):
            neighbors = nearest_neighbors(contents[w])
            if neighbors is not None:
                predictions += [outputs[w][j] for j in neighbors]
        # The windows cover the first len(predictions) outputs, which zip() pairs them with.
        nearest = mean_score(predictions) if predictions else math.nan
        best = max((v for v in (majority, nearest) if not math.isnan(v)), default=math.nan)
        s.cache["simple_learners"] = {"majority": majority, "nearest": nearest, "best": best}
    return s.cache["simple_learners"]


@heuristic("majority_score")
def majority_score(s: SampleView) -> float:
    """Task-metric score of predicting the most frequent output for every prompt."""
    return _scores(s)["majority"]


@heuristic("nearest_neighbor_score")
def nearest_neighbor_score(s: SampleView) -> float:
    """Task-metric score of predicting the output of the most similar other prompt (TF-IDF cosine) in its
    window of 500 examples."""
    return _scores(s)["nearest"]


@heuristic("simple_learner_score")
def simple_learner_score(s: SampleView) -> float:
    """The better of ``majority_score`` and ``nearest_neighbor_score``: what learning next to nothing reaches."""
    return _scores(s)["best"]
