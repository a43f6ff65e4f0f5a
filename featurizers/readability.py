"""Readability of inputs and outputs (textstat's Automated Readability Index)."""
from __future__ import annotations

import math

import numpy as np
import textstat

from featurizers.batch_features import SampleView
from featurizers.registry import heuristic

#: Texts scored per side; ARI costs ~40 µs a text, and the mean settles long before this.
READABILITY_CAP = 2000


def mean_ari(texts: list[str]) -> float:
    """Mean Automated Readability Index (a US grade level) over the non-empty texts, NaN if none.

    ARI needs only characters, words and sentences, so it works offline (textstat's syllable-based scores
    need NLTK's CMU dictionary, a download).

    Example:
        >>> round(mean_ari(["The cat sat on the mat.", ""]), 2)
        -4.3
    """
    scores = [textstat.automated_readability_index(t) for t in texts[:READABILITY_CAP] if t.strip()]
    return float(np.mean(scores)) if scores else math.nan


@heuristic("input_readability")
def input_readability(s: SampleView) -> float:
    """Mean ARI grade level of the inputs' varying content (the template's fixed text left out)."""
    return mean_ari(s.input_contents)


@heuristic("output_readability")
def output_readability(s: SampleView) -> float:
    """Mean ARI grade level of the outputs."""
    return mean_ari(s.completions)
