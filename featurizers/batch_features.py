"""Per-batch intermediates shared by several heuristics, each computed once and cached."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from featurizers.contents import FixedText
from featurizers.text import gzip_sizes, rouge_words, token_counts


@dataclass
class BatchFeatures:
    """A batch of examples plus lazily computed token counts, ROUGE words and byte strings.

    ``contents`` is the varying content of each prompt (see :mod:`featurizers.contents`; default: the
    prompts themselves); the ``content_*`` measures read it.

    Example:
        >>> b = BatchFeatures(["Is 2+2 4?"], ["yes"], contents=["2+2 4"])
        >>> b.input_tokens.tolist(), b.output_tokens.tolist(), b.content_tokens.tolist()
        ([8], [1], [5])
    """

    prompts: list[str]
    completions: list[str]
    workers: int = 1
    contents: list[str] | None = None

    def __post_init__(self) -> None:
        if self.contents is None:
            self.contents = self.prompts

    def __len__(self) -> int:
        return len(self.prompts)

    @cached_property
    def input_tokens(self) -> np.ndarray:
        return token_counts(self.prompts, self.workers)

    @cached_property
    def _contents_are_prompts(self) -> bool:
        # Prompt/completion data without fixed text: count once (list equality tests identity first).
        return self.contents is self.prompts or self.contents == self.prompts

    @cached_property
    def content_tokens(self) -> np.ndarray:
        if self._contents_are_prompts:
            return self.input_tokens
        return token_counts(self.contents, self.workers)

    @cached_property
    def content_words(self) -> list[list[str]]:
        if self._contents_are_prompts:
            return self.input_words
        return [rouge_words(t) for t in self.contents]

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

    ``contents`` is the varying content of each prompt (see :mod:`featurizers.contents`); without it the
    prompts' shared prefix and suffix are cut off. ``embed`` (optional) maps a list of texts to L2-normalised
    embeddings; heuristics that need it are skipped when it is ``None``. ``metric`` is the task's metric name
    when known (the simple-learner heuristics score with it).
    """

    prompts: list[str]
    completions: list[str]
    embed: Callable[[list[str]], np.ndarray] | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    contents: list[str] | None = None

    def __len__(self) -> int:
        return len(self.prompts)

    @cached_property
    def outputs(self) -> list[str]:
        """Completions with surrounding whitespace removed (how labels are compared)."""
        return [c.strip() for c in self.completions]

    @cached_property
    def input_contents(self) -> list[str]:
        """What varies from prompt to prompt: ``contents`` if given, else the prompts without the prefix and
        suffix that every prompt of the sample shares (the template's fixed text)."""
        if self.contents is not None:
            return list(self.contents)
        return FixedText.estimate(self.prompts).strip_all(self.prompts)

    @cached_property
    def nonempty_outputs(self) -> list[str]:
        return [o for o in self.outputs if o]

    @cached_property
    def content_words(self) -> list[list[str]]:
        """ROUGE words of each input's varying content."""
        return [rouge_words(t) for t in self.input_contents]
