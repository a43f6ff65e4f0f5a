"""Length heuristics: cl100k_base token counts of inputs, outputs and whole examples.

The study's ``input_tokens`` and ``example_tokens`` count the prompt as the model reads it, the template's
fixed text included; ``content_input_tokens`` and ``content_example_tokens`` count only what varies from
example to example (see :mod:`featurizers.contents`), so rewording an instruction does not move them.
"""
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


@measure("content_input_tokens", summaries=_SUMMARIES, integer=True)
def content_input_tokens(batch: BatchFeatures) -> np.ndarray:
    """Tokens of the prompt's varying content (the template's field values, without its fixed text), cl100k_base."""
    return batch.content_tokens


@measure("content_example_tokens", summaries=_SUMMARIES, integer=True)
def content_example_tokens(batch: BatchFeatures) -> np.ndarray:
    """Tokens of the varying content plus tokens of the output: the example without the template's fixed text."""
    return batch.content_tokens + batch.output_tokens
