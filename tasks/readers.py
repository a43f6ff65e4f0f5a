"""Record sources: stream a dataset's raw columns as Arrow tables, in bounded memory.

One class per kind of input (JSON Lines, CSV, Parquet, a JSON array, an in-memory Arrow table, a
Hugging Face dataset). Each knows its column names before reading the data, yields tables of at most
``batch_size`` rows, and reports problems as :class:`~tasks.errors.DatasetError` with a line
number where there is one.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tasks.errors import DatasetError

#: Bytes read per JSON Lines chunk (chunks end on a newline, so memory stays bounded).
CHUNK_BYTES = 8 << 20
#: Files up to this size are fingerprinted by a full content hash; larger ones by size, mtime and samples.
FULL_HASH_MAX_BYTES = 64 << 20
_SAMPLE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


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


def _sniff(path: Path) -> str | None:
    """A guess at what a file really holds, from its first bytes (for 'not what its suffix says')."""
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "Parquet"
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (e.g. an Excel workbook)"
    if b"\x00" in head:
        return "binary"
    stripped = head.lstrip(_BOM).lstrip()
    if stripped.startswith(b"{") or stripped.startswith(b"["):
        return "JSON"
    return None


def _is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), (dict, list))
    except json.JSONDecodeError:
        return line.strip() in ("[", "{")


def _utf8_error(path: Path, exc: UnicodeDecodeError, chunk: bytes, first_line: int) -> DatasetError:
    line = first_line + chunk.count(b"\n", 0, exc.start)
    return DatasetError(
        f"{path}: line {line}: bytes that are not valid UTF-8 text ({exc.reason}); re-save the file as UTF-8"
    )


def _check_utf8_file(path: Path) -> None:
    """Find the first undecodable byte of a file and raise with its line (used when Arrow rejects one)."""
    line = 1
    with path.open("rb") as f:
        for chunk in _line_chunks(f):
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _utf8_error(path, exc, chunk, line) from None
            line += chunk.count(b"\n")


def _line_chunks(f: io.BufferedReader, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Read ``f`` in chunks of about ``size`` bytes that end on a newline (except the last)."""
    rest = b""
    first = True
    while True:
        block = f.read(size)
        if first:
            block = block[len(_BOM):] if block.startswith(_BOM) else block
            first = False
        if not block:
            if rest:
                yield rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        yield block[: cut + 1]
        rest = block[cut + 1 :]


def _split(table: pa.Table, batch_size: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, batch_size):
        yield table.slice(start, batch_size)


@dataclass
class JsonLinesSource:
    """A JSON Lines file (one JSON object per line), parsed by Arrow chunk by chunk.

    Example:
        >>> src = JsonLinesSource(Path("train.jsonl"))  # doctest: +SKIP
        >>> src.columns  # doctest: +SKIP
        ['sentence', 'label']
    """

    path: Path
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.description = str(self.path)
        first = next(self._tables(CHUNK_BYTES // 8), None)
        self.columns = list(first.column_names) if first is not None else []

    def fingerprint(self) -> str:
        return "jsonl:" + file_fingerprint(self.path)

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        seen: list[str] = list(self.columns)
        for table in self._tables(CHUNK_BYTES):
            for name in table.column_names:
                if name not in seen:
                    seen.append(name)
            yield from _split(table, batch_size)
        self.columns = seen

    def _tables(self, chunk_size: int) -> Iterator[pa.Table]:
        line = 1
        with self.path.open("rb") as f:
            for chunk in _line_chunks(f, chunk_size):
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _utf8_error(self.path, exc, chunk, line) from None
                table = self._parse(chunk, line)
                line += chunk.count(b"\n")
                if table.num_rows:
                    yield table

    def _parse(self, chunk: bytes, first_line: int) -> pa.Table:
        try:
            return pajson.read_json(io.BytesIO(chunk), read_options=pajson.ReadOptions(block_size=len(chunk) + 1))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        # Arrow refused the chunk: parse it line by line to name the bad line, or to accept values
        # whose JSON type changes between rows (e.g. a label that is 1 here and "yes" there).
        rows: list[dict[str, Any]] = []
        for i, raw in enumerate(chunk.split(b"\n")):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                hint = self._not_jsonl_hint() if first_line + i == 1 else ""
                raise DatasetError(f"{self.path}: line {first_line + i}: malformed JSON ({exc.msg}){hint}") from None
            if not isinstance(obj, dict):
                raise DatasetError(
                    f"{self.path}: line {first_line + i}: expected a JSON object per line, found {type(obj).__name__}"
                )
            rows.append({k: _jsonish_text(v) for k, v in obj.items()})
        return pa.Table.from_pylist(rows)

    def _not_jsonl_hint(self) -> str:
        kind = _sniff(self.path)
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


@dataclass
class CsvSource:
    """A CSV (or TSV) file, streamed by Arrow; every column is read as text, exactly as written."""

    path: Path
    delimiter: str = ","
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.description = str(self.path)
        kind = _sniff(self.path)
        if kind in ("Parquet", "gzip-compressed", "a zip archive (e.g. an Excel workbook)", "binary"):
            raise DatasetError(f"{self.path}: not a CSV file; it looks like {kind}")
        with self.path.open("rb") as f:
            head = f.readline(1 << 20)
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _utf8_error(self.path, exc, head, 1) from None
        header = next(csv.reader([text], delimiter=self.delimiter), [])
        if not header:
            raise DatasetError(f"{self.path}: the dataset is empty (no header line)")
        if kind == "JSON" and _is_json(text):
            raise DatasetError(f"{self.path}: not a CSV file; it looks like JSON (use a .json or .jsonl suffix)")
        self.columns = header

    def fingerprint(self) -> str:
        return "csv:" + file_fingerprint(self.path)

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in self.columns}, strings_can_be_null=False, quoted_strings_can_be_null=False
        )
        try:
            reader = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True),
                convert_options=convert,
            )
            for batch in reader:
                yield from _split(pa.Table.from_batches([batch]), batch_size)
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "utf8" in str(exc).lower():
                _check_utf8_file(self.path)
            raise DatasetError(f"{self.path}: malformed CSV ({_arrow_message(exc)})") from None


def _arrow_message(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:300]


@dataclass
class ParquetSource:
    """A Parquet file, read one record batch at a time (only the columns needed)."""

    path: Path
    columns: list[str] = field(init=False)
    n_rows: int | None = field(init=False, default=None)
    needed: list[str] | None = None

    def __post_init__(self) -> None:
        self.description = str(self.path)
        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            kind = _sniff(self.path)
            what = f"; it looks like {kind}" if kind else ""
            raise DatasetError(f"{self.path}: not a Parquet file{what} ({_arrow_message(exc)})") from None
        self.columns = list(pf.schema_arrow.names)
        self.n_rows = pf.metadata.num_rows

    def fingerprint(self) -> str:
        return "parquet:" + file_fingerprint(self.path)

    def iter_tables(self, batch_size: int) -> Iterator[pa.Table]:
        pf = pq.ParquetFile(self.path)
        try:
            for batch in pf.iter_batches(batch_size=batch_size, columns=self.needed):
                yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid as exc:
            raise DatasetError(f"{self.path}: unreadable Parquet data ({_arrow_message(exc)})") from None


@dataclass
class ArrowTableSource:
    """Rows already in memory as an Arrow table (from a pandas DataFrame, a JSON array, a list of dicts)."""

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


def json_array_source(path: Path) -> ArrowTableSource:
    """A ``.json`` file holding one array of objects (or an object with one such array), loaded in memory.

    Use JSON Lines for files larger than memory. A ``.json`` file that is really JSON Lines is read as such
    by :func:`open_file`.
    """
    try:
        with path.open("rb") as f:
            raw = f.read()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc, raw, 1) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        kind = _sniff(path)
        hint = f"; the file looks like {kind}" if kind not in (None, "JSON") else ""
        raise DatasetError(f"{path}: line {exc.lineno} column {exc.colno}: malformed JSON ({exc.msg}){hint}") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DatasetError(f"{path}: expected a JSON array of objects (or an object holding one array); found keys {sorted(data)}")
        data = data[lists[0]]
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of objects, found {type(data).__name__}")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise DatasetError(f"{path}: element {i} of the JSON array is {type(row).__name__}, expected an object")
    rows = [{k: _jsonish_text(v) for k, v in r.items()} for r in data]
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"{path}: values of one column have incompatible types ({_arrow_message(exc)})") from None
    return ArrowTableSource(table, description=str(path))


def _json_file_is_lines(path: Path) -> bool:
    with path.open("rb") as f:
        first = f.readline(1 << 24).lstrip(_BOM).strip()
        rest = f.read(64).strip()
    if not first.startswith(b"{") or not rest:
        return False
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def open_file(path: Path) -> RecordSource:
    """Open a dataset file by its suffix (.csv, .tsv, .jsonl/.ndjson, .json, .parquet).

    Raises :class:`DatasetError` for a missing file, an unknown suffix, an empty file, or content that is
    not what the suffix says.
    """
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory; pass a file, a saved Hugging Face dataset, or use load_task_dir")
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DatasetError(f"{path}: unknown file type '{path.suffix}'; use one of {', '.join(sorted(_SUFFIXES))}")
    if os.path.getsize(path) == 0:
        raise DatasetError(f"{path}: the dataset is empty (0 bytes)")
    if kind == "parquet":
        return ParquetSource(path)
    sniffed = _sniff(path)
    if sniffed in ("Parquet", "gzip-compressed", "a zip archive (e.g. an Excel workbook)", "binary"):
        raise DatasetError(f"{path}: not a {kind.upper()} file; it looks like {sniffed}")
    if kind == "csv":
        return CsvSource(path)
    if kind == "tsv":
        return CsvSource(path, delimiter="\t")
    if kind == "json" and not _json_file_is_lines(path):
        return json_array_source(path)
    return JsonLinesSource(path)
