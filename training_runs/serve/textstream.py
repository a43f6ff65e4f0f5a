"""Generated token ids to streamed text, in work proportional to the text: incremental decoding and stop strings.

``IncrementalDecoder`` decodes only a short window of the latest tokens per step (the scheme of TGI and
vLLM: the text of ``ids[prefix:]`` minus the text of ``ids[prefix:read]``), holding back a character
whose UTF-8 bytes are not complete yet. ``StopMatcher`` looks for several stop strings at once, one
character at a time (Knuth-Morris-Pratt), and knows how many trailing characters could still begin one.
``TextAssembler`` combines them: per token it does work proportional to the new text, never to all the
text so far or to the stop strings' length squared (what let four 250,000-character stop strings freeze
the server).

A stop string ends the text where it *completes* first in the stream; when two complete at the same
character, the longer one wins. The text before it is returned, without it.

Example:
    >>> class Chars:  # a toy tokenizer: token id = character code
    ...     def decode(self, ids, skip_special_tokens=True): return "".join(map(chr, ids))
    >>> text = TextAssembler(Chars(), stop=["END"])
    >>> [text.add(ord(c)) for c in "hiEN"], text.add(ord("D")), text.stopped
    ([('h', False), ('i', False), ('', False), ('', False)], ('', True), True)
"""
from __future__ import annotations

from collections.abc import Sequence

_INCOMPLETE = "\ufffd"  # what an incomplete UTF-8 sequence decodes to until its last byte arrives


class IncrementalDecoder:
    """Token ids in, newly complete text out; the concatenated pieces equal ``tokenizer.decode(all_ids)``.

    Example:
        >>> class Chars:
        ...     def decode(self, ids, skip_special_tokens=True): return "".join(map(chr, ids))
        >>> decoder = IncrementalDecoder(Chars())
        >>> decoder.add(ord("o")) + decoder.add(ord("k")), decoder.flush()
        ('ok', '')
    """

    def __init__(self, tokenizer, *, skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        self.ids: list[int] = []
        self._prefix = 0  # ids[prefix:read] is context already emitted: decoding it again keeps spacing right
        self._read = 0
        self._prefix_text = ""

    def add(self, token_id: int) -> str:
        """Append one token; return the text it completes (often '', for part of a character)."""
        self.ids.append(int(token_id))
        return self._advance(final=False)

    def flush(self) -> str:
        """The text still held back (an incomplete character at the very end decodes as U+FFFD)."""
        return self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        text = self._decode(self.ids[self._prefix:])
        if len(text) <= len(self._prefix_text) or (text.endswith(_INCOMPLETE) and not final):
            return ""
        delta = text[len(self._prefix_text):]
        self._prefix, self._read = self._read, len(self.ids)
        self._prefix_text = self._decode(self.ids[self._prefix:self._read])
        return delta

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip) if ids else ""


class StopMatcher:
    """Finds the first completion of any of ``stops`` in text fed piece by piece, in time linear in the text.

    Example:
        >>> matcher = StopMatcher(["\\nUser:", "###"])
        >>> matcher.feed("Sure.\\nUs"), matcher.pending
        (None, 3)
        >>> matcher.feed("er: hi")   # completes at offset 5 of all the text fed
        5
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._failure = [_failure_table(s) for s in self.stops]
        self._states = [0] * len(self.stops)  # per stop: how many of its first characters end the text so far
        self.position = 0

    @property
    def pending(self) -> int:
        """How many trailing characters of the text could be the beginning of a stop string."""
        return max(self._states, default=0)

    def feed(self, text: str) -> int | None:
        """Consume ``text``; return the offset (in all the text fed) where the first completed stop string
        starts, or None. After a match the matcher's state is undefined: stop feeding it."""
        if not self.stops:
            self.position += len(text)
            return None
        for char in text:
            self.position += 1
            found = None
            for i, stop in enumerate(self.stops):
                state, failure = self._states[i], self._failure[i]
                while state and stop[state] != char:
                    state = failure[state - 1]
                if stop[state] == char:
                    state += 1
                if state == len(stop):
                    start = self.position - len(stop)
                    found = start if found is None else min(found, start)
                    state = failure[state - 1]
                self._states[i] = state
            if found is not None:
                return found
        return None


def _failure_table(pattern: str) -> list[int]:
    """KMP: ``table[i]`` is the length of the longest proper prefix of ``pattern[:i + 1]`` that is also its suffix."""
    table = [0] * len(pattern)
    k = 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = table[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        table[i] = k
    return table


class TextAssembler:
    """Turns generated token ids into text deltas, holding back partial characters and partial stop strings
    (see the module docstring)."""

    def __init__(self, tokenizer, stop: Sequence[str] = ()) -> None:
        self._decoder = IncrementalDecoder(tokenizer)
        self._matcher = StopMatcher(stop)
        self._held = ""  # decoded text not handed out yet: at most a partial stop string plus the newest piece
        self._held_at = 0  # its offset in the whole text
        self.stopped = False

    def add(self, token_id: int) -> tuple[str, bool]:
        """Add one token; return ``(new_text, stopped)``. After a stop string nothing more is emitted."""
        if self.stopped:
            return "", True
        return self._take(self._decoder.add(token_id), final=False)

    def finish(self) -> str:
        """The text still held back (a partial stop string that never completed, an incomplete character)."""
        if self.stopped:
            return ""
        return self._take(self._decoder.flush(), final=True)[0]

    @property
    def token_count(self) -> int:
        return len(self._decoder.ids)

    def _take(self, piece: str, *, final: bool) -> tuple[str, bool]:
        cut = self._matcher.feed(piece) if piece else None
        self._held += piece
        if cut is not None:
            self.stopped = True
            return self._release(cut), True
        end = self._held_at + len(self._held) - (0 if final else self._matcher.pending)
        return self._release(end), False

    def _release(self, end: int) -> str:
        """Hand out the held text up to offset ``end`` of the whole text."""
        count = end - self._held_at
        if count <= 0:
            return ""
        delta, self._held = self._held[:count], self._held[count:]
        self._held_at = end
        return delta
