"""Input/output similarity: ROUGE-L F-measure between each input and its output.

The study's ``io_rougeL`` compares the whole prompt (the template's words included, which both dilute and
match the output); ``content_io_rougeL`` compares only the prompt's varying content.
"""
from __future__ import annotations

import numpy as np
from rapidfuzz.distance import LCSseq
from rapidfuzz.process import cpdist

from featurizers.batch_features import BatchFeatures
from featurizers.registry import measure


def rouge_l_f(a: list[list[str]], b: list[list[str]], workers: int = 1) -> np.ndarray:
    """ROUGE-L F-measure of each pair of word lists: 2·LCS / (len(a) + len(b)), 0 when either is empty.

    The longest common subsequence is rapidfuzz's bit-parallel LCS over the word sequences, so the
    value equals ``rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(...)["rougeL"].fmeasure``.

    Example:
        >>> rouge_l_f([["the", "cat", "sat"]], [["the", "cat"]]).tolist()
        [0.8]
    """
    if not a:
        return np.zeros(0)
    lcs = np.asarray(cpdist(a, b, scorer=LCSseq.similarity, workers=workers), dtype=np.float64)
    total = np.fromiter((len(x) + len(y) for x, y in zip(a, b)), dtype=np.float64, count=len(a))
    out = np.zeros(len(a))
    np.divide(2.0 * lcs, total, out=out, where=total > 0)
    return out


@measure("io_rougeL", summaries=("mean", "std"))
def io_rouge_l(batch: BatchFeatures) -> np.ndarray:
    """ROUGE-L F between input and output (lower-cased, non-alphanumerics split, no stemming)."""
    return rouge_l_f(batch.input_words, batch.output_words, batch.workers)


@measure("content_io_rougeL", summaries=("mean", "std"))
def content_io_rouge_l(batch: BatchFeatures) -> np.ndarray:
    """ROUGE-L F between the input's varying content (no template text) and the output."""
    return rouge_l_f(batch.content_words, batch.output_words, batch.workers)
