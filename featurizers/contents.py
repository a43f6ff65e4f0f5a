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


def _shared_end(texts: Sequence[str]) -> str:
    """The end every text shares, cut back so it starts at a word boundary of every text, and cut to start
    at its first line start when, in some text, it holds that line's whole value (what it leaves of the line
    is nothing or only a label): ``Context: the`` and ``Context: the the`` share `` the``, which a template
    given as a template keeps as content. Without a line start the shared end is then none.

    Example:
        >>> _shared_end(["C: the\\nA:", "C: the the\\nA:"]), _shared_end(["x y\\nA:", "z y\\nA:"])
        ('\\nA:', ' y\\nA:')
    """
    backwards = [t[::-1] for t in texts]
    n = len(os.path.commonprefix(backwards))
    if n and not all(len(b) == n or not b[n].isalnum() for b in backwards):
        n = _word_boundary_prefix(backwards[0][:n])
    suffix = texts[0][len(texts[0]) - n:] if n else ""
    if not suffix or suffix.startswith("\n"):
        return suffix
    for text in texts:
        line = text[: len(text) - len(suffix)].rsplit("\n", 1)[-1]
        label = _LINE_LABEL.match(line)
        if not line.strip() or (label and label.end() == len(line)):
            cut = suffix.find("\n")
            return suffix[cut:] if cut >= 0 else ""
    return suffix


def _without_label(line: str, labels: set[str] | frozenset[str]) -> str:
    """``line`` without its line-start label when that label is one of ``labels``."""
    m = _LINE_LABEL.match(line) if labels else None
    return line[m.end():] if m and m.group(0).strip() in labels else line


@dataclass(frozen=True)
class FixedText:
    """The fixed text of a sample of contents: the start every content has (``prefix``) and the end
    (``suffix``), cut at word boundaries, then the labels every content starts a line with (``labels``, e.g.
    ``Option 2:``) and the lines every content holds once those labels are cut off (``lines``, e.g. a
    question between two fields). :meth:`strip` removes them from any content that has them, and a line
    that held only a label with it.
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
        suffix = _shared_end(rest)
        middles = [r[: len(r) - len(suffix)] for r in rest]
        splits = [text.split("\n") for text in middles]
        labels: set[str] = set.intersection(
            *({m.group(0).strip() for m in map(_LINE_LABEL.match, split) if m} for split in splits))
        lines: set[str] = set()
        for i, split in enumerate(splits):
            mine = {value.strip() for value in (_without_label(line, labels) for line in split) if value.strip()}
            lines = mine if i == 0 else lines & mine
            if not lines:
                break
        return cls(prefix, suffix, frozenset(lines), frozenset(labels))

    def strip(self, text: str) -> str:
        """``text`` without the fixed text where it has it."""
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix):]
        if self.suffix and text.endswith(self.suffix):
            text = text[: len(text) - len(self.suffix)]
        if self.lines or self.labels:
            kept = []
            for line in text.split("\n"):
                value = _without_label(line, self.labels)
                if value.strip() not in self.lines and (value.strip() or not line.strip()):
                    kept.append(value)
            text = "\n".join(kept)
        return text

    def strip_all(self, texts: Sequence[str]) -> list[str]:
        if not (self.prefix or self.suffix or self.lines or self.labels):
            return list(texts)
        return [self.strip(t) for t in texts]
