"""Length heuristics of the study: cl100k_base token counts of inputs, outputs and whole examples."""
from __future__ import annotations

import numpy as np

from featurizers.batch_features import BatchFeatures
from featurizers.registry import measure

_SUMMARIES = ("mean", "std", "p95")


@measure("input_tokens", summaries=_SUMMARIES, integer=True)
def input_tokens(batch: BatchFeatures) -> np.ndarray:
    """Tokens of the prompt (the template applied), cl100k_base."""
    return batch.input_tokens


@measure("output_tokens", summaries=_SUMMARIES, integer=True)
def output_tokens(batch: BatchFeatures) -> np.ndarray:
    """Tokens of the expected output, cl100k_base."""
    return batch.output_tokens


@measure("example_tokens", summaries=_SUMMARIES, integer=True)
def example_tokens(batch: BatchFeatures) -> np.ndarray:
    """Tokens of the whole example: input tokens + output tokens.

    Prompt and completion are tokenized separately, as fine-tuning frameworks (Ludwig, used by the study)
    do before concatenating them, so this is the sequence length the model trains on.
    """
    return batch.input_tokens + batch.output_tokens
