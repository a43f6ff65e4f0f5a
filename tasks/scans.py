"""Cheap scans of raw bytes that run before a parser sees them: line boundaries, long lines, JSON depth.

They are vectorized (numpy over the chunk, or ``bytes.rfind``), so checking a chunk costs a small
fraction of parsing it (``benchmarks/loader_bench.py`` measures it). Lines end at ``\\n``, ``\\r\\n`` or a
lone ``\\r``, as ``bytes.splitlines`` splits them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_QUOTE, _BACKSLASH, _NL, _CR = ord('"'), ord("\\"), ord("\n"), ord("\r")








def count_lines(data: bytes) -> int:
    """How many line ends ``data`` holds (``\\r\\n`` counts once).

    Example:
        >>> count_lines(b"a\\nb\\r\\nc\\rd"), count_lines(b"no end")
        (3, 0)
    """
    n = data.count(b"\n")
    if b"\r" in data:
        n += data.count(b"\r") - data.count(b"\r\n")
    return n


def last_line_end(data: bytes) -> int:
    """The index just past the last complete line end of ``data``, or -1 when there is none.

    A ``\\r`` as the very last byte is not taken as a line end: its ``\\n`` may follow in the next chunk.

    Example:
        >>> last_line_end(b"a\\nb"), last_line_end(b"a\\rb\\r"), last_line_end(b"ab")
        (2, 2, -1)
    """
    cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
    return cut + 1 if cut >= 0 else -1


def first_long_line(data: bytes, limit: int) -> int | None:
    """The start offset of the first line of ``data`` longer than ``limit`` bytes (line end excluded), or None.

    Costs about ``2 * len(data) / limit`` ``rfind`` calls: each step jumps to the last line end within
    ``limit + 1`` bytes of the current line's start.

    Example:
        >>> first_long_line(b"short\\nmuch too long\\nok\\n", 8)
        6
        >>> first_long_line(b"short\\nok\\n", 8) is None
        True
    """
    start, n = 0, len(data)
    while n - start > limit:
        window_end = start + limit + 1
        # A line end within the window ends a line of at most `limit` bytes starting at `start`.
        nl = data.rfind(b"\n", start, window_end)
        cr = data.rfind(b"\r", start, window_end)
        cut = max(nl, cr)
        if cut < 0:
            return start
        start = cut + 1
        if cut == cr and start < n and data[start] == _NL:  # \r\n: the line ends after the \n
            start += 1
    return None


@dataclass(frozen=True)
class JsonDepthScan:
    """What :func:`scan_json_depth` found.

    ``too_deep_at``: offset of the first bracket nesting deeper than the limit, or None.
    ``malformed_at``: offset of the first line end where a line is certainly not valid JSON (a bracket or a
    string left open), before any too-deep point; the lines after it were not checked exactly, so read
    the data with a parser that stops at the first error (Python's ``json``, line by line).
    """

    too_deep_at: int | None = None
    malformed_at: int | None = None

    @property
    def ok(self) -> bool:
        return self.too_deep_at is None and self.malformed_at is None


def scan_json_depth(data: bytes, max_depth: int, *, per_line: bool) -> JsonDepthScan:
    """Find where JSON in ``data`` nests deeper than ``max_depth`` (JSON Lines with ``per_line``).

    Brackets inside JSON strings do not count (a quote is a string delimiter unless an odd run of
    backslashes precedes it). The scan is exact up to the first syntax error, where a strict parser stops.
    A line cannot nest deeper than it has opening brackets, so the exact scan runs only when some line (or,
    without ``per_line``, the whole text) has more than ``max_depth`` of them; that pre-check is what
    almost every chunk costs.

    Example:
        >>> scan_json_depth(b'{"a": [[1]]}', 3, per_line=True).ok
        True
        >>> scan_json_depth(b'{"a": [[[1]]]}', 3, per_line=True).too_deep_at
        8
        >>> scan_json_depth(b'{"a": "[[[[[[[[["}', 3, per_line=True).ok
        True
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    folded = buf | 0x20  # '[' and '{' differ only in bit 0x20, as do ']' and '}'
    opens_at = np.flatnonzero(folded == 0x7B)
    if len(opens_at) <= max_depth:
        return JsonDepthScan()
    if per_line:
        ends = np.flatnonzero(((buf == _NL) | (buf == _CR)) if b"\r" in data else (buf == _NL))
        bounds = np.concatenate(([0], np.searchsorted(opens_at, ends), [len(opens_at)]))
        if np.diff(bounds).max() <= max_depth:
            return JsonDepthScan()
    return _exact_depth_scan(data, buf, folded, max_depth, per_line)


def _exact_depth_scan(data: bytes, buf: np.ndarray, folded: np.ndarray, max_depth: int, per_line: bool) -> JsonDepthScan:
    special = (folded == 0x7B) | (folded == 0x7D) | (buf == _QUOTE)
    if per_line:
        special |= (buf == _NL) | (buf == _CR)
    pos = np.flatnonzero(special)
    vals = buf[pos]
    is_quote = vals == _QUOTE
    if b'\\"' in data:
        is_quote[is_quote] = ~_escaped(buf, pos[is_quote])
    # Valid lines leave no string or bracket open, so one running count over the whole text equals the
    # per-line count until the first line that does (certainly malformed), which is reported instead.
    quotes_before = np.cumsum(is_quote, dtype=np.int64) - is_quote
    in_string = (quotes_before & 1).astype(bool)
    folded_vals = vals | 0x20
    step = (folded_vals == 0x7B).astype(np.int64) - (folded_vals == 0x7D)
    step[in_string] = 0
    depth = np.cumsum(step)
    first_bad = None
    if per_line:
        line_end = (vals == _NL) | (vals == _CR)
        bad = np.flatnonzero(line_end & ((depth != 0) | in_string))
        first_bad = int(bad[0]) if len(bad) else None
    over = np.flatnonzero(depth[:first_bad] > max_depth)
    if len(over):
        return JsonDepthScan(too_deep_at=int(pos[over[0]]))
    return JsonDepthScan(malformed_at=int(pos[first_bad]) if first_bad is not None else None)


def _escaped(buf: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Which of the quotes at ``quotes`` follow an odd-length run of backslashes."""
    escaped = np.zeros(len(quotes), dtype=bool)
    cand = np.flatnonzero((quotes > 0) & (buf[np.maximum(quotes - 1, 0)] == _BACKSLASH))
    run = np.ones(len(cand), dtype=np.int64)
    active = np.ones(len(cand), dtype=bool)
    at = quotes[cand] - 1
    for _ in range(64):  # runs are short; a longer one is counted byte by byte below
        at = at - 1
        active &= at >= 0
        active[active] = buf[at[active]] == _BACKSLASH
        if not active.any():
            break
        run += active
    for i in np.flatnonzero(active):
        j = int(at[i]) - 1
        while j >= 0 and buf[j] == _BACKSLASH:
            run[i] += 1
            j -= 1
    escaped[cand] = run % 2 == 1
    return escaped
