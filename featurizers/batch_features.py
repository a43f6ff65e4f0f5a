"""Per-batch intermediates shared by several heuristics, each computed once and cached."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from featurizers.text import gzip_sizes, rouge_words, token_counts


@dataclass
class BatchFeatures:
    """A batch of examples plus lazily computed token counts, ROUGE words and byte strings.

    Example:
        >>> b = BatchFeatures(["Is 2+2 4?"], ["yes"])
        >>> b.input_tokens.tolist(), b.output_tokens.tolist()
        ([8], [1])
    """

    prompts: list[str]
    completions: list[str]
    workers: int = 1

    def __len__(self) -> int:
        return len(self.prompts)

    @cached_property
    def input_tokens(self) -> np.ndarray:
        return token_counts(self.prompts, self.workers)

    @cached_property
    def output_tokens(self) -> np.ndarray:
        return token_counts(self.completions, self.workers)

    @cached_property
    def input_words(self) -> list[list[str]]:
        return [rouge_words(t) for t in self.prompts]

    @cached_property
    def output_words(self) -> list[list[str]]:
        return [rouge_words(t) for t in self.completions]

    @cached_property
    def example_bytes(self) -> list[bytes]:
        """UTF-8 bytes of each example: the prompt followed by the completion."""
        return [(p + c).encode("utf-8") for p, c in zip(self.prompts, self.completions)]

    @cached_property
    def example_gzip_sizes(self) -> np.ndarray:
        return gzip_sizes(self.example_bytes, self.workers)

    @cached_property
    def empty_outputs(self) -> np.ndarray:
        return np.fromiter((not c.strip() for c in self.completions), dtype=bool, count=len(self.completions))


@dataclass
class SampleView:
    """A bounded sample of examples for the dataset-level heuristics, with cached helpers.

    ``embed`` (optional) maps a list of texts to L2-normalised embeddings; heuristics that need it are
    skipped when it is ``None``. ``metric`` is the task's metric name when known (the simple-learner
    heuristics score with it).
    """

    prompts: list[str]
    completions: list[str]
    embed: Callable[[list[str]], np.ndarray] | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None

    def __len__(self) -> int:
        return len(self.prompts)

    @cached_property
    def outputs(self) -> list[str]:
        """Completions with surrounding whitespace removed (how labels are compared)."""
        return [c.strip() for c in self.completions]

    @cached_property
    def input_contents(self) -> list[str]:
        """Prompts without the prefix and suffix that every prompt of the sample shares (the template's
        fixed text), so diversity measures look at what varies."""
        if len(self.prompts) < 2:
            return list(self.prompts)
        prefix = _word_boundary_prefix(os.path.commonprefix(self.prompts))
        rest = [p[prefix:] for p in self.prompts]
        suffix = _word_boundary_prefix(os.path.commonprefix([r[::-1] for r in rest]))
        return [r[: len(r) - suffix] for r in rest]

    @cached_property
    def nonempty_outputs(self) -> list[str]:
        return [o for o in self.outputs if o]

    @cached_property
    def input_words(self) -> list[list[str]]:
        return [rouge_words(t) for t in self.prompts]


def _word_boundary_prefix(common: str) -> int:
    """Length of ``common`` cut back so it does not end inside a word (shared letters of different words stay)."""
    if not common or not common[-1].isalnum():
        return len(common)
    cut = len(common)
    while cut and common[cut - 1].isalnum():
        cut -= 1
    return cut
