"""The varying content of each prompt: what the heuristics read so that they do not depend on how a dataset
is worded.

With a :class:`tasks.TaskTemplate` the varying content of a prompt is its fields' values (joined by a
newline); with prompt/completion columns it is the prompt itself. Either way the text that every prompt of
the sample shares at its start and at its end (an instruction baked into the data, "Answer:") is then cut
off at word boundaries (:class:`FixedText`), so a template written into the data and the same template given
as a template read alike.

Example:
    >>> fixed = FixedText.estimate(["Q: alpha\\nA:", "Q: beta\\nA:", "Q: gamma\\nA:"])
    >>> fixed.prefix, fixed.suffix, fixed.strip("Q: delta\\nA:")
    ('Q: ', '\\nA:', 'delta')
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

#: Joins a template's field values into one content text (a separator tokenizers and ROUGE both split on).
FIELD_SEPARATOR = "\n"


def join_fields(prompts: pa.Array, fields: Mapping[str, pa.Array]) -> pa.Array:
    """The raw content of each prompt: the fields' values joined by a newline, or the prompts without fields.

    Example:
        >>> join_fields(pa.array(["Q: a B: b"]), {"q": pa.array(["a"]), "b": pa.array(["b"])}).to_pylist()
        ['a\\nb']
    """
    if not fields:
        return prompts
    values = list(fields.values())
    if len(values) == 1:
        return values[0]
    return pc.binary_join_element_wise(*values, FIELD_SEPARATOR)


def _word_boundary_prefix(common: str) -> int:
    """Length of ``common`` cut back so it does not end inside a word (shared letters of different words stay)."""
    if not common or not common[-1].isalnum():
        return len(common)
    cut = len(common)
    while cut and common[cut - 1].isalnum():
        cut -= 1
    return cut


@dataclass(frozen=True)
class FixedText:
    """The text every content of a sample starts with (``prefix``) and ends with (``suffix``), cut at word
    boundaries; :meth:`strip` removes them from any content that has them."""

    prefix: str = ""
    suffix: str = ""

    @classmethod
    def estimate(cls, texts: Sequence[str]) -> "FixedText":
        """The shared prefix and suffix of ``texts``; none when fewer than two distinct texts (nothing is known
        to be fixed). The suffix is looked for after the prefix, so the two never overlap."""
        if len(set(texts)) < 2:
            return cls()
        prefix = texts[0][: _word_boundary_prefix(os.path.commonprefix(list(texts)))]
        rest = [t[len(prefix):] for t in texts]
        n = _word_boundary_prefix(os.path.commonprefix([r[::-1] for r in rest]))
        return cls(prefix, rest[0][len(rest[0]) - n:] if n else "")

    def strip(self, text: str) -> str:
        """``text`` without the prefix and suffix where it has them."""
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix):]
        if self.suffix and text.endswith(self.suffix):
            text = text[: len(text) - len(self.suffix)]
        return text

    def strip_all(self, texts: Sequence[str]) -> list[str]:
        if not self.prefix and not self.suffix:
            return list(texts)
        return [self.strip(t) for t in texts]
