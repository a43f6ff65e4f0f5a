"""Lexical diversity and near-duplicates, over the sample's words (ROUGE tokenization)."""
from __future__ import annotations

import math
from collections import Counter
from itertools import chain, islice

from featurizers.batch_features import SampleView
from featurizers.registry import heuristic
from featurizers.text import rouge_words

#: Window of the moving-average type-token ratio, and the most words it reads.
MATTR_WINDOW = 50
MATTR_MAX_WORDS = 200_000


def mattr(words: list[str], window: int = MATTR_WINDOW) -> float:
    """Moving-average type-token ratio: the mean share of distinct words in every window of ``window`` words.

    Unlike the plain type-token ratio it does not fall as the text grows. Texts shorter than the window
    get their plain type-token ratio; no words gives NaN.

    Example:
        >>> mattr(["a", "b", "a", "b"], window=2)
        1.0
        >>> mattr(["a", "a", "a", "b"], window=2)
        0.6666666666666666
    """
    n = len(words)
    if n == 0:
        return math.nan
    if n <= window:
        return len(set(words)) / n
    counts = Counter(words[:window])
    total = len(counts)
    for i in range(window, n):
        new, old = words[i], words[i - window]
        if new != old:
            counts[new] += 1
            counts[old] -= 1
            if counts[old] == 0:
                del counts[old]
        total += len(counts)
    return total / ((n - window + 1) * window)


def _corpus_words(texts: list[str]) -> list[str]:
    return list(islice(chain.from_iterable(rouge_words(t) for t in texts), MATTR_MAX_WORDS))


@heuristic("input_lexical_diversity")
def input_lexical_diversity(s: SampleView) -> float:
    """MATTR (window 50) of the inputs' varying text (the template's shared prefix and suffix removed)."""
    return mattr(_corpus_words(s.input_contents))


@heuristic("output_lexical_diversity")
def output_lexical_diversity(s: SampleView) -> float:
    """MATTR (window 50) of the outputs, read one after another: low for a few repeated labels."""
    return mattr(_corpus_words(s.completions))


@heuristic("near_duplicate_rate")
def near_duplicate_rate(s: SampleView) -> float:
    """Share of the (unique) examples whose input repeats an earlier one's, ignoring case, punctuation, spacing
    and the template's fixed text: the same input with another output, or nearly the same input.

    ``profile()`` removes exact duplicates (same input and output) first and reports their share as
    ``TaskProfile.duplicate_share``, so this counts only what de-duplication leaves.
    """
    if not len(s):
        return math.nan
    keys = Counter(" ".join(w) for w in s.content_words)
    return sum(c - 1 for c in keys.values()) / len(s)
