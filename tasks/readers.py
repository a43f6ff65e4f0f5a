"""Record sources: stream a dataset's raw columns as Arrow tables, in bounded memory.

One class per kind of input (JSON Lines, CSV/TSV, Parquet, an in-memory Arrow table, a Hugging Face
dataset; a JSON array is read into an Arrow table). Each knows its column names before reading the data,
yields tables of at most ``batch_size`` rows, and reports problems as :class:`~tasks.errors.DatasetError`
naming the file and, where there is one, the line. Text formats may be gzip-compressed (``.csv.gz``,
``.jsonl.gz`` ...): they are decompressed as they are read.

Every file source applies :class:`~tasks.limits.ReadLimits` before a parser sees the bytes: a JSON line or
a CSV row over ``max_row_bytes``, or JSON nested deeper than ``max_json_depth``, is refused with the line.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tasks.errors import DatasetError
from tasks.formats import BINARY_KINDS, BOM, GZIP_MAGIC, PARQUET_MAGIC, FileFormat, file_format, sniff, sniff_file
from tasks.limits import ReadLimits
from tasks.scans import count_lines, first_long_line, last_line_end, scan_json_depth

#: Bytes read per JSON Lines chunk (chunks end on a line end, so memory stays bounded).
CHUNK_BYTES = 8 << 20
#: A JSON Lines file's columns (and their types) are learnt from its first CHUNK_BYTES / PROBE_FRACTION
#: bytes (at least one line) before the rows are read.
PROBE_FRACTION = 32
#: Files up to this size are fingerprinted by a full content hash; larger ones by size, mtime and samples.
FULL_HASH_MAX_BYTES = 64 << 20
_SAMPLE_BYTES = 1 << 20
#: CSV blocks hold at least one whole row of the largest allowed size plus this much.
_CSV_BLOCK_MARGIN = 1 << 16


class RecordSource(Protocol):
    """What :class:`~tasks.task_data.TaskData` needs from a source of rows."""

    description: str
    columns: list[str]
    n_rows: int | None

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]: ...

    def fingerprint(self) -> str: ...


def file_fingerprint(path: Path) -> str:
    """A stable content hash of a file, cheap for big files.

    Files up to :data:`FULL_HASH_MAX_BYTES` are hashed in full (SHA-256 of the bytes, so a copy has the
    same fingerprint). Bigger files hash their size, modification time (ns) and the first, middle and last
    MiB: an edit that keeps the size and the mtime and touches none of those bytes goes unnoticed.
    """
    st = path.stat()
    h = hashlib.sha256()
    with path.open("rb") as f:
        if st.st_size <= FULL_HASH_MAX_BYTES:
            h.update(b"full:")
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(f"sampled:{st.st_size}:{st.st_mtime_ns}:".encode())
            for offset in (0, st.st_size // 2, max(0, st.st_size - _SAMPLE_BYTES)):
                f.seek(offset)
                h.update(f.read(_SAMPLE_BYTES))
    return h.hexdigest()


@dataclass
class _FileInput:
    """Fields every file source shares: where the bytes are, how to open them, what errors call the file."""

    path: Path
    gzip: bool = False
    #: How messages name the file (default: the path); ``<stdin>`` for standard input.
    display: str | None = None
    limits: ReadLimits = field(default_factory=ReadLimits.from_env)
    #: Set by TaskData: the columns it reads (the others need not be parsed into values).
    needed: list[str] | None = None
    #: Something that must live as long as the source (the temporary copy of standard input).
    keep_alive: Any = field(default=None, repr=False)

    @property
    def description(self) -> str:
        return self.display or str(self.path)

    def _open(self) -> IO[bytes]:
        return gzip.open(self.path, "rb") if self.gzip else self.path.open("rb")

    def _read(self, f: IO[bytes], size: int) -> bytes:
        try:
            return f.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            if not self.gzip:
                raise
            raise DatasetError(f"{self.description}: truncated or corrupt gzip data ({exc})") from None

    def _fingerprint(self, kind: str) -> str:
        return f"{kind}:" + file_fingerprint(self.path)

    def _utf8_error(self, exc: UnicodeDecodeError, chunk: bytes, first_line: int) -> DatasetError:
        line = first_line + count_lines(chunk[: exc.start])
        return DatasetError(
            f"{self.description}: line {line}: bytes that are not valid UTF-8 text ({exc.reason}); "
            "re-save the file as UTF-8"
        )

    def _line_chunks(self, size: int) -> Iterator[tuple[int, bytes]]:
        """(first line number, chunk) pairs: chunks of about ``size`` bytes that end on a line end (except
        the last), with no line over the row limit (checked before the chunk is yielded)."""
        limit = self.limits.max_row_bytes
        line, rest, first = 1, b"", True
        with self._open() as f:
            while True:
                block = self._read(f, size)
                if first:
                    block = block[len(BOM):] if block.startswith(BOM) else block
                    first = False
                if not block:
                    if rest:
                        self._check_line_lengths(rest, line)
                        yield line, rest
                    return
                block = rest + block
                cut = last_line_end(block)
                if cut < 0:
                    if len(block) > limit:
                        raise self._long_line_error(line)
                    rest = block
                    continue
                chunk, rest = block[:cut], block[cut:]
                self._check_line_lengths(chunk, line)
                if len(rest) > limit:
                    raise self._long_line_error(line + count_lines(chunk))
                yield line, chunk
                line += count_lines(chunk)

    def _check_line_lengths(self, chunk: bytes, first_line: int) -> None:
        at = first_long_line(chunk, self.limits.max_row_bytes)
        if at is not None:
            raise self._long_line_error(first_line + count_lines(chunk[:at]))

    def _long_line_error(self, line: int) -> DatasetError:
        return DatasetError(f"{self.description}: line {line} is longer than {self.limits.row_limit_hint()}")


@dataclass
class JsonLinesSource(_FileInput):
    """A JSON Lines file (one JSON object per line), parsed by Arrow chunk by chunk.

    Example:
        >>> src = JsonLinesSource(Path("train.jsonl"))  # doctest: +SKIP
        >>> src.columns  # doctest: +SKIP
        ['sentence', 'label']
    """

    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)
    #: The types Arrow gave the columns of the first lines.
    _probe_types: dict[str, pa.DataType] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        first = next(self._tables(max(1, CHUNK_BYTES // PROBE_FRACTION)), None)
        self.columns = list(first.column_names) if first is not None else []
        self._probe_types = {f.name: f.type for f in first.schema} if first is not None else {}

    def fingerprint(self) -> str:
        return self._fingerprint("jsonl")

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        seen = dict.fromkeys(self.columns)  # ordered, and a set: files may have many thousands of keys
        for table in self._tables(CHUNK_BYTES):
            seen.update(dict.fromkeys(table.column_names))
            yield from _split(table, batch_size)
        self.columns = list(seen)

    def _parse_options(self) -> pajson.ParseOptions | None:
        """Once the needed columns are known, Arrow parses only those (with the types the first lines gave
        them) and skips every other key: a file with many distinct keys would otherwise become a table of
        as many columns (6 MB with 400,000 keys took 80 s and 12 GB)."""
        if self.needed is None:
            return None
        fields = [(n, pa.string() if pa.types.is_null(self._probe_types[n]) else self._probe_types[n])
                  for n in dict.fromkeys(self.needed) if n in self._probe_types]
        return pajson.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")

    def _tables(self, chunk_size: int) -> Iterator[pa.Table]:
        for line, chunk in self._line_chunks(chunk_size):
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._utf8_error(exc, chunk, line) from None
            scan = scan_json_depth(chunk, self.limits.max_json_depth, per_line=True)
            if scan.too_deep_line is not None:
                raise DatasetError(f"{self.description}: line {line + scan.too_deep_line}: {self.limits.depth_hint()}")
            # A line the scan saw to be malformed goes straight to the line-by-line parser, which stops there.
            table = self._parse(chunk, line) if scan.malformed_line is None else self._parse_lines(chunk, line)
            if table.num_rows:
                yield table

    def _parse(self, chunk: bytes, first_line: int) -> pa.Table:
        try:
            return pajson.read_json(
                io.BytesIO(chunk),
                read_options=pajson.ReadOptions(block_size=len(chunk) + 1),
                parse_options=self._parse_options(),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            # Arrow refused the chunk: parse it line by line to name the bad line, or to accept values
            # whose JSON type changes between rows (e.g. a label that is 1 here and "yes" there, or a type
            # other than the first lines').
            return self._parse_lines(chunk, first_line)

    def _parse_lines(self, chunk: bytes, first_line: int) -> pa.Table:
        rows: list[dict[str, Any]] = []
        lines: list[int] = []
        for i, raw in enumerate(chunk.splitlines()):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                hint = self._not_jsonl_hint() if first_line + i == 1 else ""
                raise DatasetError(f"{self.description}: line {first_line + i}: malformed JSON ({exc.msg}){hint}") from None
            except RecursionError:  # the depth scan stops this first; kept as a second guard
                raise DatasetError(f"{self.description}: line {first_line + i}: {self.limits.depth_hint()}") from None
            if not isinstance(obj, dict):
                raise DatasetError(
                    f"{self.description}: line {first_line + i}: expected a JSON object per line, "
                    f"found {type(obj).__name__}"
                )
            rows.append(obj)
            lines.append(first_line + i)
        return rows_to_table(rows, lines, "line", self.description, self.needed)

    def _not_jsonl_hint(self) -> str:
        kind = sniff_file(self.path, self.gzip)
        if kind == "JSON":
            return ""
        return f"; the file looks like {kind or 'plain text or CSV'}, not JSON Lines"


def _jsonish_text(v: Any) -> Any:
    """Scalars become text (so mixed types can share a column); nested values stay nested (and are rejected later)."""
    if v is None or isinstance(v, (dict, list)):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):  # written the way Arrow's fast path writes it (5.0 -> "5")
        return pa.array([v], pa.float64()).cast(pa.string())[0].as_py()
    return str(v)


def rows_to_table(
    rows: list[dict[str, Any]],
    numbers: list[int],
    unit: str,
    where: str,
    needed: list[str] | None,
) -> pa.Table:
    """Parsed JSON objects as an Arrow table, scalars as text (see :func:`_jsonish_text`).

    A column that cannot become one Arrow column (objects on one line and text on another, a lone UTF-16
    surrogate) is an error naming the ``unit`` ("line", "element") and column when the column is
    ``needed``; columns not needed are left out, so a bad column nobody reads does no harm. With
    ``needed=None`` (the columns are not known yet) every key is a column, a bad one all nulls.
    """
    if needed is None:
        names = list(dict.fromkeys(k for r in rows for k in r))
    else:  # only the needed keys: a row may hold thousands of others
        names = [n for n in dict.fromkeys(needed) if any(n in r for r in rows)]
    columns: dict[str, pa.Array] = {}
    for name in names:
        if not _is_text(name):
            n = next(num for r, num in zip(rows, numbers) if name in r)
            raise DatasetError(f"{where}: {unit} {n}: a key holds a lone UTF-16 surrogate (e.g. \\ud800), which is not text")
        values = [_jsonish_text(r.get(name)) for r in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:
            if needed is not None:
                raise _column_error(values, numbers, unit, name, where, exc) from None
            columns[name] = pa.nulls(len(rows), pa.string())
    # No keys at all ({} on every line): as many rows as objects, as Arrow's own reader gives.
    return pa.table(columns) if columns else pa.table({"": pa.nulls(len(rows))}).select([])


def _is_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_surrogate(v: Any) -> bool:
    if isinstance(v, str):
        return not _is_text(v)
    if isinstance(v, dict):
        return any(_has_surrogate(k) or _has_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_surrogate(x) for x in v)
    return False


def _kind(v: Any) -> str:
    return "a JSON object" if isinstance(v, dict) else "a JSON list" if isinstance(v, list) else "text"


def _column_error(values: list[Any], numbers: list[int], unit: str, name: str, where: str, exc: Exception) -> DatasetError:
    first: tuple[str, int] | None = None
    for v, n in zip(values, numbers):
        if v is None:
            continue
        if _has_surrogate(v):
            return DatasetError(
                f"{where}: {unit} {n}: column {name!r} holds a lone UTF-16 surrogate (an escape such as \\ud800 "
                "without its pair), which is not text; fix or remove that escape"
            )
        kind = _kind(v)
        if first is None:
            first = (kind, n)
        elif kind != first[0]:
            return DatasetError(
                f"{where}: {unit} {n}: column {name!r} holds {kind} here but {first[0]} on {unit} {first[1]}; "
                f"a column must hold the same kind of value on every {unit} (text or numbers for the prompt and "
                "completion)"
            )
    return DatasetError(f"{where}: column {name!r} holds JSON values of incompatible types ({_arrow_message(exc)})")


@dataclass
class CsvSource(_FileInput):
    """A CSV (or TSV) file, streamed by Arrow; every column is read as text, exactly as written.

    Rows end at ``\\n``, ``\\r\\n`` or a lone ``\\r``. Column names may repeat in the header, but a column
    that is read must be named once. A row is read whole in one block of at least
    ``limits.max_row_bytes`` (plus a margin), and a row over the limit is refused with its line.
    """

    delimiter: str = ","
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.gzip:
            kind = sniff_file(self.path)
            if kind in BINARY_KINDS:
                raise DatasetError(f"{self.description}: not a CSV file; it looks like {kind}")
        header = self._header_bytes()
        if not header.strip():
            raise DatasetError(f"{self.description}: the dataset is empty (no header line)")
        try:
            header.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._utf8_error(exc, header, 1) from None
        if header.lstrip().startswith((b"{", b"[")) and _is_json(header):
            raise DatasetError(f"{self.description}: not a CSV file; it looks like JSON (use a .json or .jsonl suffix)")
        try:
            names = pacsv.read_csv(
                io.BytesIO(header),
                read_options=pacsv.ReadOptions(block_size=len(header) + 1),
                parse_options=self._parse_options(),
            ).column_names
        except pa.ArrowInvalid as exc:
            raise DatasetError(f"{self.description}: malformed CSV header ({_arrow_message(exc)})") from None
        self.columns = list(names)

    def _parse_options(self) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)

    def _header_bytes(self) -> bytes:
        """The header row (BOM dropped): bytes up to the first line end outside double quotes."""
        limit = self.limits.max_row_bytes
        head = bytearray()
        with self._open() as f:
            while True:
                block = self._read(f, 1 << 16 if len(head) < 1 << 20 else 1 << 20)
                if not head and block.startswith(BOM):
                    block = block[len(BOM):]
                head += block
                end = _first_row_end(head)
                if end is not None:
                    return bytes(head[:end])
                if len(head) > limit:
                    raise DatasetError(
                        f"{self.description}: line 1 (the header) is longer than {self.limits.row_limit_hint()}"
                    )
                if not block:
                    return bytes(head)

    def fingerprint(self) -> str:
        return self._fingerprint("csv")

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        limit = self.limits.max_row_bytes
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in self.columns}, strings_can_be_null=False, quoted_strings_can_be_null=False
        )
        rows_done = 0
        with self._arrow_errors(lambda: rows_done):
            stream = pa.input_stream(str(self.path), compression="gzip" if self.gzip else None)
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=max(CHUNK_BYTES, limit + _CSV_BLOCK_MARGIN)),
                parse_options=self._parse_options(),
                convert_options=convert,
            )
            for batch in reader:
                table = pa.Table.from_batches([batch])
                if table.nbytes > limit and _max_row_bytes(table) > limit:
                    raise self._long_row_error(rows_done)
                rows_done += table.num_rows
                yield from _split(table, batch_size)

    @contextmanager
    def _arrow_errors(self, rows_done: Any) -> Iterator[None]:
        try:
            yield
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "straddl" in text:  # a row longer than a whole block
                raise self._long_row_error(rows_done()) from None
            if "utf8" in text.lower():
                self._check_utf8_file()
            raise DatasetError(f"{self.description}: malformed CSV ({_arrow_message(exc)})") from None
        except OSError as exc:
            if not self.gzip:
                raise
            raise DatasetError(f"{self.description}: truncated or corrupt gzip data ({exc})") from None

    def _long_row_error(self, rows_done: int) -> DatasetError:
        line = self._first_long_row_line()
        if line is not None:
            return DatasetError(
                f"{self.description}: line {line}: a CSV row (or a quoted field that is never closed) longer than "
                f"{self.limits.row_limit_hint()}"
            )
        return DatasetError(
            f"{self.description}: a CSV row after data row {rows_done:,} (or a quoted field that is never closed) "
            f"is longer than {self.limits.row_limit_hint()}"
        )

    def _first_long_row_line(self) -> int | None:
        """The line where the first row longer than the limit starts, with rows split at line ends outside
        double quotes (how a well-formed CSV file splits); None when no such row is found."""
        limit = self.limits.max_row_bytes
        offset, row_start, quotes_open = 0, 0, False
        with self._open() as f:
            while True:
                block = self._read(f, CHUNK_BYTES)
                if not block:
                    return self._line_at(row_start) if offset - row_start > limit else None
                buf = np.frombuffer(block, dtype=np.uint8)
                quotes = np.flatnonzero(buf == ord('"'))
                ends = np.flatnonzero((buf == ord("\n")) | (buf == ord("\r")))
                outside = (np.searchsorted(quotes, ends) + quotes_open) % 2 == 0
                row_ends = ends[outside] + offset
                starts = np.concatenate(([row_start], row_ends[:-1] + 1))
                long_rows = np.flatnonzero(row_ends - starts > limit)
                if len(long_rows):
                    return self._line_at(int(starts[long_rows[0]]))
                if len(row_ends):
                    row_start = int(row_ends[-1]) + 1
                quotes_open = bool((len(quotes) + quotes_open) % 2)
                offset += len(block)

    def _line_at(self, offset: int) -> int:
        line, done = 1, 0
        with self._open() as f:
            while done < offset:
                block = self._read(f, min(CHUNK_BYTES, offset - done))
                if not block:
                    break
                line += count_lines(block)
                done += len(block)
        return line

    def _check_utf8_file(self) -> None:
        """Find the first undecodable byte of the file and raise with its line (used when Arrow rejects one)."""
        for line, chunk in self._line_chunks(CHUNK_BYTES):
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self._utf8_error(exc, chunk, line) from None


def _first_row_end(data: bytes | bytearray) -> int | None:
    """The index just past the first line end of ``data`` outside double quotes, or None.

    The header is short and is read once, so rescanning it as it grows costs little.
    """
    start, quotes = 0, 0
    while True:
        nl = data.find(b"\n", start)
        cr = data.find(b"\r", start, nl if nl >= 0 else len(data))
        end = cr if cr >= 0 else nl
        if end < 0:
            return None
        quotes += data.count(b'"', start, end)
        if quotes % 2 == 0:
            return end + 1
        start = end + 1


def _max_row_bytes(table: pa.Table) -> int:
    """The most bytes any row's values hold (delimiters and quotes not counted)."""
    import pyarrow.compute as pc

    total = None
    for col in table.columns:
        lengths = pc.binary_length(col)
        total = lengths if total is None else pc.add(total, lengths)
    return int(pc.max(total).as_py() or 0) if total is not None else 0


def _is_json(head: bytes) -> bool:
    line = head.decode("utf-8", errors="replace")
    try:
        return isinstance(json.loads(line), (dict, list))
    except (json.JSONDecodeError, RecursionError):
        return line.strip() in ("[", "{")


def _arrow_message(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:300]


def _split(table: pa.Table, batch_size: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, batch_size):
        # The length is clamped here: Arrow does not clamp it for a table without columns.
        yield table.slice(start, min(batch_size, table.num_rows - start))


@dataclass
class ParquetSource:
    """A Parquet file, read one record batch at a time (only the columns needed)."""

    path: Path
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)
    needed: list[str] | None = None
    display: str | None = None
    keep_alive: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.description = self.display or str(self.path)
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise self._unreadable(exc) from None
        self.columns = list(pf.schema_arrow.names)
        self.n_rows = pf.metadata.num_rows

    def _unreadable(self, exc: Exception) -> DatasetError:
        with self.path.open("rb") as f:
            head = f.read(4)
            f.seek(max(0, os.path.getsize(self.path) - 4))
            tail = f.read(4)
        if head == PARQUET_MAGIC and tail != PARQUET_MAGIC:
            return DatasetError(
                f"{self.description}: a truncated Parquet file (it starts like Parquet but its footer is missing; "
                "was the copy cut short?)"
            )
        if head == PARQUET_MAGIC:
            return DatasetError(f"{self.description}: a corrupt Parquet file ({_arrow_message(exc)})")
        kind = sniff(head)
        what = f"; it looks like {kind}" if kind else ""
        return DatasetError(f"{self.description}: not a Parquet file{what} ({_arrow_message(exc)})")

    def fingerprint(self) -> str:
        return "parquet:" + file_fingerprint(self.path)

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        pf = pq.ParquetFile(self.path)
        try:
            for batch in pf.iter_batches(batch_size=batch_size, columns=self.needed):
                yield pa.Table.from_batches([batch])
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{self.description}: unreadable Parquet data, the file is corrupt ({_arrow_message(exc)})") from None


@dataclass
class ArrowTableSource:
    """Rows already in memory as an Arrow table (from a pandas DataFrame, an Arrow table, a list of dicts)."""

    table: pa.Table
    description: str = "<in-memory table>"
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.columns = list(self.table.column_names)
        self.n_rows = self.table.num_rows

    def fingerprint(self) -> str:
        h = hashlib.sha256(b"table:")
        for batch in self.table.to_batches(max_chunksize=65536):
            for col in batch.columns:
                for buf in col.buffers():
                    if buf is not None:
                        h.update(buf)
        h.update(",".join(self.columns).encode())
        return "table:" + h.hexdigest()

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        yield from _split(self.table, batch_size)


@dataclass
class HFDatasetSource:
    """A Hugging Face ``datasets.Dataset`` (Arrow-backed) or ``IterableDataset`` (streamed)."""

    dataset: Any
    description: str = "<datasets.Dataset>"
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        names = getattr(self.dataset, "column_names", None)
        if names is None and getattr(self.dataset, "features", None) is not None:
            names = list(self.dataset.features)
        self.columns = list(names or [])
        try:
            self.n_rows = len(self.dataset)
        except TypeError:
            self.n_rows = None

    def fingerprint(self) -> str:
        fp = getattr(self.dataset, "_fingerprint", None)
        if fp:  # the datasets library's own content fingerprint
            return "hf:" + str(fp)
        h = hashlib.sha256(b"hf-stream:")
        h.update(self.description.encode())
        return "hf:" + h.hexdigest()

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        if hasattr(self.dataset, "with_format") and self.n_rows is not None:
            for table in self.dataset.with_format("arrow").iter(batch_size=batch_size):
                yield table
            return
        rows: list[dict[str, Any]] = []
        for row in self.dataset:
            rows.append(row)
            if len(rows) == batch_size:
                yield pa.Table.from_pylist(rows)
                rows = []
        if rows:
            yield pa.Table.from_pylist(rows)


def json_array_source(
    path: Path, *, gzip: bool = False, display: str | None = None, limits: ReadLimits | None = None
) -> "JsonArraySource":
    """A ``.json`` file holding one array of objects (or an object with one such array), loaded in memory.

    Use JSON Lines for files larger than memory. A ``.json`` file that is really JSON Lines is read as such
    by :func:`open_file`.
    """
    where = display or str(path)
    limits = limits or ReadLimits.from_env()
    src = _FileInput(path, gzip=gzip, display=display, limits=limits)
    with src._open() as f:
        raw = src._read(f, -1)
    raw = raw[len(BOM):] if raw.startswith(BOM) else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise src._utf8_error(exc, raw, 1) from None
    scan = scan_json_depth(raw, limits.max_json_depth, per_line=False)
    if scan.too_deep_line is not None:
        raise DatasetError(f"{where}: line {1 + scan.too_deep_line}: {limits.depth_hint()}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        kind = sniff(raw[:4096])
        hint = f"; the file looks like {kind}" if kind not in (None, "JSON") else ""
        raise DatasetError(f"{where}: line {exc.lineno} column {exc.colno}: malformed JSON ({exc.msg}){hint}") from None
    except RecursionError:
        raise DatasetError(f"{where}: {limits.depth_hint()}") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DatasetError(f"{where}: expected a JSON array of objects (or an object holding one array); found keys {sorted(data)}")
        data = data[lists[0]]
    if not isinstance(data, list):
        raise DatasetError(f"{where}: expected a JSON array of objects, found {type(data).__name__}")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: element {i} of the JSON array is {type(row).__name__}, expected an object")
    return JsonArraySource(data, description=where, content_hash=hashlib.sha256(raw).hexdigest())


@dataclass
class JsonArraySource:
    """The objects of a JSON array, parsed in memory; the needed columns become an Arrow table when first
    read (and the parsed objects are let go), so keys nobody reads cost nothing: a 6 MB array with 400,000
    distinct keys took 350 s and 4 GB when every key became a column."""

    rows: list[dict[str, Any]] | None
    description: str
    #: SHA-256 of the (decompressed) bytes, taken while they were in memory: the file may be gone later
    #: (the temporary copy of standard input).
    content_hash: str
    needed: list[str] | None = None
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False)
    _table: pa.Table | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        assert self.rows is not None
        self.columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self.n_rows = len(self.rows)

    def fingerprint(self) -> str:
        return "json:" + self.content_hash

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        if self._table is None or (self.needed is None and self.rows is not None):
            assert self.rows is not None
            self._table = rows_to_table(self.rows, list(range(len(self.rows))), "element", self.description, self.needed)
            if self.needed is not None:
                self.rows = None  # the table holds all that is read from now on
        yield from _split(self._table, batch_size)


def _json_file_is_lines(src: _FileInput) -> bool:
    with src._open() as f:
        first = src._read(f, 1 << 16)
        while b"\n" not in first and len(first) < src.limits.max_row_bytes:
            more = src._read(f, 1 << 20)
            if not more:
                break
            first += more
    first = first.lstrip(BOM)
    line, _, rest = first.partition(b"\n")
    line = line.strip()
    if not line.startswith(b"{"):
        return False
    if not scan_json_depth(line, src.limits.max_json_depth, per_line=True).ok:
        return True  # JSON Lines whose first line is refused by the JSON Lines reader, naming it
    try:
        first_object = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return False
    if not isinstance(first_object, dict):
        return False
    if rest.strip():
        return True
    # One line holding one object: a row, unless it wraps the rows ({"data": [{...}, ...]}).
    return not any(isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for v in first_object.values())


def open_file(
    path: Path,
    *,
    format: str | None = None,
    limits: ReadLimits | None = None,
    display: str | None = None,
    keep_alive: Any = None,
) -> RecordSource:
    """Open a dataset file by its suffix (.csv, .tsv, .jsonl/.ndjson, .json, .parquet, and the text formats
    gzip-compressed: .csv.gz ...), or as ``format`` says.

    Raises :class:`DatasetError` for a missing file, an unknown suffix, an empty file, or content that is
    not what the suffix says. ``display`` is how messages name the file (e.g. ``<stdin>``).

    Example:
        >>> open_file(Path("train.jsonl.gz")).columns  # doctest: +SKIP
        ['prompt', 'completion']
    """
    where = display or str(path)
    if not path.exists():
        raise DatasetError(f"{where}: no such file or directory")
    if path.is_dir():
        raise DatasetError(f"{where}: is a directory; pass a file, a saved Hugging Face dataset, or use load_task_dir")
    fmt: FileFormat = file_format(path, format, where)
    limits = limits or ReadLimits.from_env()
    if os.path.getsize(path) == 0:
        raise DatasetError(f"{where}: the dataset is empty (0 bytes)")
    with path.open("rb") as f:
        magic = f.read(2)
    if fmt.gzip and magic != GZIP_MAGIC:
        raise DatasetError(f"{where}: not gzip-compressed, although its name ends in .gz")
    if fmt.kind == "parquet":
        return ParquetSource(path, display=display, keep_alive=keep_alive)
    sniffed = sniff_file(path, fmt.gzip)
    if sniffed in BINARY_KINDS:
        hint = f" (name it {path.name}.gz to read it compressed)" if sniffed == "gzip-compressed" else ""
        raise DatasetError(f"{where}: not a {fmt.kind.upper()} file; it looks like {sniffed}{hint}")
    if fmt.kind in ("csv", "tsv"):
        delimiter = "\t" if fmt.kind == "tsv" else ","
        return CsvSource(path, fmt.gzip, display, limits, keep_alive=keep_alive, delimiter=delimiter)
    if fmt.kind == "json" and not _json_file_is_lines(_FileInput(path, gzip=fmt.gzip, limits=limits)):
        return json_array_source(path, gzip=fmt.gzip, display=display, limits=limits)  # in memory: no keep_alive
    return JsonLinesSource(path, fmt.gzip, display, limits, keep_alive=keep_alive)
