"""Cheap scans of raw bytes that run before a parser sees them: line boundaries, long lines, JSON depth.

They run in C (``bytes.translate``, ``bytes.rfind``, numpy over the chunk), so checking a chunk costs a small
fraction of parsing it (``benchmarks/loader_bench.py`` measures it). Lines end at ``\\n``, ``\\r\\n`` or a
lone ``\\r``, as ``bytes.splitlines`` splits them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_QUOTE, _NL, _CR = ord('"'), ord("\n"), ord("\r")
#: For bytes.translate: every byte but opening brackets and line ends (deleting them is one fast C pass).
_ALL_BUT_OPENERS_AND_ENDS = bytes(b for b in range(256) if b not in b"[{\n\r")
_ALL_BUT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}\n\r')






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
    """What :func:`scan_json_depth` found, as line indexes (0 = the first line of the data).

    ``too_deep_line``: the first line holding a bracket that nests deeper than the limit, or None.
    ``malformed_line``: the first line that is certainly not valid JSON (a bracket or a string left open
    at its end), found before any too-deep point; the lines after it were not checked exactly, so read
    the data with a parser that stops at the first error (Python's ``json``, line by line).
    """

    too_deep_line: int | None = None
    malformed_line: int | None = None

    @property
    def ok(self) -> bool:
        return self.too_deep_line is None and self.malformed_line is None


def scan_json_depth(data: bytes, max_depth: int, *, per_line: bool) -> JsonDepthScan:
    """Find where JSON in ``data`` nests deeper than ``max_depth`` (JSON Lines with ``per_line``).

    Brackets inside JSON strings do not count (escaped quotes and backslashes are seen as JSON reads
    them). The scan is exact up to the first syntax error, where a strict parser stops. A line cannot
    nest deeper than it has opening brackets, so the exact scan runs only when some line (or, without
    ``per_line``, the whole text) has more than ``max_depth`` of them; that pre-check is what almost every
    chunk costs.

    Example:
        >>> scan_json_depth(b'{"a": [[1]]}', 3, per_line=True).ok
        True
        >>> scan_json_depth(b'{"ok": 1}\\n{"a": [[[1]]]}', 3, per_line=True).too_deep_line
        1
        >>> scan_json_depth(b'{"a": "[[[[[[[[["}', 3, per_line=True).ok
        True
    """
    if per_line:
        # The opening brackets and line ends alone, in order: the longest run between line ends is the
        # most opening brackets any line holds.
        marks = data.translate(None, _ALL_BUT_OPENERS_AND_ENDS)
        if len(marks) <= max_depth:
            return JsonDepthScan()
        ends = np.flatnonzero(np.frombuffer(marks, dtype=np.uint8) < 0x20)
        if int(np.diff(np.concatenate(([-1], ends, [len(marks)]))).max()) - 1 <= max_depth:
            return JsonDepthScan()
    elif data.count(b"[") + data.count(b"{") <= max_depth:
        return JsonDepthScan()
    return _exact_depth_scan(data, max_depth, per_line)


def _exact_depth_scan(data: bytes, max_depth: int, per_line: bool) -> JsonDepthScan:
    # Escapes first, as JSON reads them left to right: an escaped backslash, then an escaped quote, is
    # string content. What is left of the text is its structure: quotes, brackets and line ends, in order.
    if b"\r" in data:  # one byte per line end, so that line ends can be counted in what is left
        data = data.replace(b"\r\n", b"\n")
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(None, _ALL_BUT_STRUCTURE)
    vals = np.frombuffer(structure, dtype=np.uint8)
    is_quote = vals == _QUOTE
    in_string = ((np.cumsum(is_quote, dtype=np.int64) - is_quote) & 1).astype(bool)
    folded = vals | 0x20  # '[' and '{' differ only in bit 0x20, as do ']' and '}'
    step = (folded == 0x7B).astype(np.int64) - (folded == 0x7D)
    step[in_string] = 0
    depth = np.cumsum(step)
    line_end = (vals == _NL) | (vals == _CR)
    # Valid lines leave no string or bracket open, so one running count over the whole text equals the
    # per-line count until the first line that does (certainly malformed), which is reported instead.
    first_bad = None
    if per_line:
        bad = np.flatnonzero(line_end & ((depth != 0) | in_string))
        first_bad = int(bad[0]) if len(bad) else None
    over = np.flatnonzero(depth[:first_bad] > max_depth)
    if len(over):
        return JsonDepthScan(too_deep_line=int(np.count_nonzero(line_end[: over[0]])))
    if first_bad is not None:
        return JsonDepthScan(malformed_line=int(np.count_nonzero(line_end[:first_bad])))
    return JsonDepthScan()
