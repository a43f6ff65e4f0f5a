"""How big and how deep one row of a dataset may be: the bounds that keep reading it cheap and safe.

A row of tens of megabytes takes minutes and gigabytes to profile (a 50 MB JSON line took 62 s and
3.1 GB), and JSON nested tens of thousands deep overflows the stack of Arrow's JSON parser (a segfault)
and of Python's. The readers refuse such rows with a :class:`~tasks.errors.DatasetError` naming the file,
the line and the limit, before a parser sees them.

Example:
    >>> ReadLimits().max_row_bytes == 4 * 2**20
    True
    >>> ReadLimits.from_env({"ADVISOR_MAX_ROW_BYTES": "64MiB"}).max_row_bytes
    67108864
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

from tasks.errors import DatasetError

#: Environment variable that raises (or lowers) :attr:`ReadLimits.max_row_bytes`: bytes, or a size
#: such as ``64MiB`` / ``100MB``.
MAX_ROW_BYTES_ENV = "ADVISOR_MAX_ROW_BYTES"
#: Environment variable for :attr:`ReadLimits.max_json_depth`.
MAX_JSON_DEPTH_ENV = "ADVISOR_MAX_JSON_DEPTH"

DEFAULT_MAX_ROW_BYTES = 4 << 20
DEFAULT_MAX_JSON_DEPTH = 100
#: Python's own JSON parser recurses once per level and stops near 1,000 levels; stay well below.
MAX_SAFE_JSON_DEPTH = 500

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000**2, "mb": 1000**2, "mib": 1 << 20,
          "g": 1000**3, "gb": 1000**3, "gib": 1 << 30}


@dataclass(frozen=True)
class ReadLimits:
    """The bounds every reader applies to one row.

    ``max_row_bytes``: the most bytes one row may hold: a JSON Lines line, a CSV row, and (for every
    source, in-memory ones too) an example's prompt plus completion. Default 4 MiB: about a million
    tokens, beyond any base model's context (profiling one such row takes about 10 s and 500 MB); raise
    it with ``ADVISOR_MAX_ROW_BYTES`` or ``load_task(..., limits=ReadLimits(max_row_bytes=...))``. Reading
    holds a few times the limit in memory at most (a CSV block holds at least one whole row).

    ``max_json_depth``: how deeply JSON values (JSON Lines and ``.json`` files) may nest; default 100
    (``{"a": [1]}`` is depth 2), at most 500 (``ADVISOR_MAX_JSON_DEPTH``).

    Example:
        >>> ReadLimits(max_row_bytes=1 << 30).describe_row_limit()
        '1 GiB'
    """

    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        if not isinstance(self.max_row_bytes, int) or self.max_row_bytes < 1:
            raise DatasetError(f"max_row_bytes must be a positive number of bytes, got {self.max_row_bytes!r}")
        if not isinstance(self.max_json_depth, int) or not 1 <= self.max_json_depth <= MAX_SAFE_JSON_DEPTH:
            raise DatasetError(
                f"max_json_depth must be between 1 and {MAX_SAFE_JSON_DEPTH}, got {self.max_json_depth!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ReadLimits":
        """The limits set by ``ADVISOR_MAX_ROW_BYTES`` / ``ADVISOR_MAX_JSON_DEPTH``, else the defaults."""
        env = os.environ if environ is None else environ
        row = env.get(MAX_ROW_BYTES_ENV, "").strip()
        depth = env.get(MAX_JSON_DEPTH_ENV, "").strip()
        if depth and not depth.isdigit():
            raise DatasetError(f"{MAX_JSON_DEPTH_ENV}={depth!r}: expected a whole number")
        return cls(
            max_row_bytes=parse_size(row, MAX_ROW_BYTES_ENV) if row else DEFAULT_MAX_ROW_BYTES,
            max_json_depth=int(depth) if depth else DEFAULT_MAX_JSON_DEPTH,
        )

    def describe_row_limit(self) -> str:
        """The row limit for people: ``4 MiB``."""
        return format_size(self.max_row_bytes)

    def row_limit_hint(self) -> str:
        """The end of a 'row too big' message: the limit and how to raise it.

        Example:
            >>> ReadLimits().row_limit_hint()
            'the 4 MiB limit per row (ADVISOR_MAX_ROW_BYTES raises it, e.g. ADVISOR_MAX_ROW_BYTES=64MiB)'
        """
        return (f"the {self.describe_row_limit()} limit per row ({MAX_ROW_BYTES_ENV} raises it, "
                f"e.g. {MAX_ROW_BYTES_ENV}=64MiB)")

    def depth_hint(self) -> str:
        """The tail of a 'nested too deeply' message."""
        return (f"JSON nested more than {self.max_json_depth} levels deep (the limit; {MAX_JSON_DEPTH_ENV} "
                f"raises it up to {MAX_SAFE_JSON_DEPTH})")


def parse_size(text: str, what: str = "size") -> int:
    """``"16MiB"`` -> 16777216; plain numbers are bytes.

    Example:
        >>> parse_size("2 KiB"), parse_size("1.5MB"), parse_size("300")
        (2048, 1500000, 300)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise DatasetError(f"{what}={text!r}: expected a size in bytes such as 16777216, 64MiB or 100MB")
    return int(float(m.group(1)) * _UNITS[unit])


def format_size(n: int) -> str:
    """Bytes for people, in binary units: 16777216 -> ``16 MiB``.

    Example:
        >>> format_size(16 << 20), format_size(1536), format_size(10)
        ('16 MiB', '1.5 KiB', '10 bytes')
    """
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"
