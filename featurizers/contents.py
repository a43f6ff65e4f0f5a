"""The varying content of each prompt: what the heuristics read so that they do not depend on how a dataset
is worded.

With a :class:`tasks.TaskTemplate` the varying content of a prompt is its fields' values (joined by a
newline); with prompt/completion columns it is the prompt itself. Either way the text that every prompt of
the sample shares is then cut off (:class:`FixedText`): its start and end at word boundaries (an instruction
baked into the data, "Answer:"), the lines every prompt holds and the labels every prompt starts a line with
("Passage:", "Option 2:"), so a template written into the data and the same template given as a template
read alike. Text that is not on a line of its own or after a line-start label (a fixed word inside a
sentence) stays.

Example:
    >>> fixed = FixedText.estimate(["Q: alpha\\nA:", "Q: beta\\nA:", "Q: gamma\\nA:"])
    >>> fixed.prefix, fixed.suffix, fixed.strip("Q: delta\\nA:")
    ('Q: ', '\\nA:', 'delta')
"""
from __future__ import annotations

import os
import re
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


#: A label at the start of a line: ``Question: ``, ``### Option 2:``, ``answer:`` (at most 40 characters).
_LINE_LABEL = re.compile(r"^[^\S\n]*[^\s:][^\n:]{0,39}:(?=[ \t]|$)[ \t]*")


@dataclass(frozen=True)
class FixedText:
    """The fixed text of a sample of contents: the start every content has (``prefix``) and the end
    (``suffix``), cut at word boundaries, then the lines every content holds (``lines``, e.g. a question
    between two fields) and the labels every content starts a line with (``labels``, e.g. ``Option 2:``).
    :meth:`strip` removes them from any content that has them.
    """

    prefix: str = ""
    suffix: str = ""
    lines: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    @classmethod
    def estimate(cls, texts: Sequence[str]) -> "FixedText":
        """The fixed text of ``texts``; none when fewer than two distinct texts (nothing is known to be fixed).

        The suffix is looked for after the prefix, and the shared lines and labels between the two, so none
        of them overlap.

        Example:
            >>> f = FixedText.estimate(["Q: a\\nWhich one?\\nOption 1: x", "Q: b\\nWhich one?\\nOption 1: y z"])
            >>> f.prefix, sorted(f.lines), sorted(f.labels), f.strip("Q: c\\nWhich one?\\nOption 1: w")
            ('Q: ', ['Which one?'], ['Option 1:'], 'c\\nw')
        """
        if len(set(texts)) < 2:
            return cls()
        prefix = texts[0][: _word_boundary_prefix(os.path.commonprefix(list(texts)))]
        rest = [t[len(prefix):] for t in texts]
        n = _word_boundary_prefix(os.path.commonprefix([r[::-1] for r in rest]))
        suffix = rest[0][len(rest[0]) - n:] if n else ""
        middles = [r[: len(r) - len(suffix)] for r in rest]
        lines: set[str] | None = None
        labels: set[str] | None = None
        for text in middles:
            split = text.split("\n")
            mine = {line.strip() for line in split if line.strip()}
            theirs = {m.group(0).strip() for m in map(_LINE_LABEL.match, split) if m}
            lines = mine if lines is None else lines & mine
            labels = theirs if labels is None else labels & theirs
            if not lines and not labels:
                break
        return cls(prefix, suffix, frozenset(lines or ()), frozenset(labels or ()))

    def strip(self, text: str) -> str:
        """``text`` without the fixed text where it has it."""
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix):]
        if self.suffix and text.endswith(self.suffix):
            text = text[: len(text) - len(self.suffix)]
        if self.lines or self.labels:
            text = "\n".join(self._strip_line(line) for line in text.split("\n") if line.strip() not in self.lines)
        return text

    def _strip_line(self, line: str) -> str:
        m = _LINE_LABEL.match(line) if self.labels else None
        return line[m.end():] if m and m.group(0).strip() in self.labels else line

    def strip_all(self, texts: Sequence[str]) -> list[str]:
        if not (self.prefix or self.suffix or self.lines or self.labels):
            return list(texts)
        return [self.strip(t) for t in texts]
