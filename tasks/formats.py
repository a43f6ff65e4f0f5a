"""What a dataset file holds: its format from the name (or an explicit ``format``), and a guess from its bytes.

Example:
    >>> file_format(Path("train.jsonl.gz"))
    FileFormat(kind='jsonl', gzip=True)
    >>> file_format(Path("notes.txt"), "csv")
    FileFormat(kind='csv', gzip=False)
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import DatasetError

#: The formats a dataset may have, by name, and the suffixes that say so.
FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".pq": "parquet"}
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
BOM = b"\xef\xbb\xbf"
#: What :func:`sniff` says of bytes that no text format can hold.
BINARY_KINDS = ("Parquet", "gzip-compressed", "a zip archive (e.g. an Excel workbook)", "binary")


@dataclass(frozen=True)
class FileFormat:
    """A dataset's format (one of :data:`FORMATS`) and whether the bytes are gzip-compressed around it."""

    kind: str
    gzip: bool = False

    def __str__(self) -> str:
        return self.kind.upper() + (" (gzip)" if self.gzip else "")


def suffixes_help() -> str:
    """The accepted suffixes, for messages: ``.csv, .json, ... (each also as .gz except .parquet)``."""
    return ", ".join(sorted(SUFFIXES)) + " (text formats also gzip-compressed: .csv.gz, .jsonl.gz, ...)"


def file_format(path: Path, format: str | None = None, where: str | None = None) -> FileFormat:
    """The format of ``path`` from its suffixes (``.csv``, ``.jsonl.gz`` ...), or ``format`` when given.

    With ``format``, a ``.gz`` suffix still means gzip. Raises :class:`DatasetError` for an unknown
    suffix or format, and for gzip around Parquet (Parquet compresses inside); ``where`` is how messages
    name the file (default: the path).
    """
    where = where or str(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if format is not None:
        kind = format.lower().lstrip(".")
        kind = SUFFIXES.get("." + kind, kind)
        if kind not in FORMATS:
            raise DatasetError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    else:
        inner = suffixes[-2] if compressed and len(suffixes) == 2 else (suffixes[-1] if suffixes else "")
        kind = SUFFIXES.get(inner, "")
        if not kind:
            shown = "".join(path.suffixes[-2:]) if compressed else path.suffix
            raise DatasetError(
                f"{where}: unknown file type '{shown}'; use one of {suffixes_help()}, "
                "or say the format (CLI: --format)"
            )
    if kind == "parquet" and compressed:
        raise DatasetError(f"{where}: gzip around a Parquet file is not read; Parquet compresses inside, so decompress it")
    return FileFormat(kind, compressed)


def sniff(head: bytes) -> str | None:
    """A guess at what bytes hold, from the first few KiB (for 'not what its suffix says').

    Example:
        >>> sniff(b"PAR1..."), sniff(b'  {"a": 1}'), sniff(b"a,b\\n1,2") is None
        ('Parquet', 'JSON', True)
    """
    if head.startswith(PARQUET_MAGIC):
        return "Parquet"
    if head.startswith(GZIP_MAGIC):
        return "gzip-compressed"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (e.g. an Excel workbook)"
    if b"\x00" in head:
        return "binary"
    stripped = head.lstrip(BOM).lstrip()
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        return "JSON"
    return None


def sniff_file(path: Path, gzipped: bool = False) -> str | None:
    """:func:`sniff` of a file's first 4 KiB (decompressed when ``gzipped``)."""
    try:
        if gzipped:
            with gzip.open(path, "rb") as f:
                return sniff(f.read(4096))
        with path.open("rb") as f:
            return sniff(f.read(4096))
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not readable gzip data ({exc})") from None


def guess_format(head: bytes) -> FileFormat:
    """The format of a stream from its first bytes (standard input without ``--format``).

    Parquet by its magic; text starting with ``{`` or ``[`` is JSON (read as JSON Lines when its first line
    is a whole object, see :func:`tasks.readers.open_file`); a first line with tabs and no commas is TSV;
    anything else is CSV. gzip is seen through by the caller, which passes the decompressed head.

    Example:
        >>> guess_format(b'{"prompt": "a"}\\n{"prompt": "b"}\\n').kind
        'json'
        >>> guess_format(b"prompt\\tcompletion\\na\\tb\\n").kind, guess_format(b"prompt,completion\\n").kind
        ('tsv', 'csv')
    """
    if head.startswith(PARQUET_MAGIC):
        return FileFormat("parquet")
    text = head.lstrip(BOM).lstrip()
    if text.startswith((b"{", b"[")):
        return FileFormat("json")
    first_line = text.split(b"\n", 1)[0]
    if b"\t" in first_line and b"," not in first_line:
        return FileFormat("tsv")
    return FileFormat("csv")
