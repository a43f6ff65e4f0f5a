"""TaskData: a task dataset as (prompt, completion) pairs, streamed in batches from any record source."""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from tasks.errors import DatasetError
from tasks.limits import ReadLimits
from tasks.readers import RecordSource
from tasks.template import TaskTemplate

DEFAULT_BATCH_SIZE = 4096


@dataclass(frozen=True)
class Example:
    """One training example: the prompt the model reads and the completion it should write."""

    prompt: str
    completion: str


@dataclass(frozen=True)
class ExampleBatch:
    """A batch of examples as two parallel lists of strings."""

    prompts: list[str]
    completions: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass(frozen=True)
class ColumnSpec:
    """Which columns make the prompt and the completion: a pair of columns, or a template + target column."""

    prompt_col: str | None = None
    completion_col: str | None = None
    template: TaskTemplate | None = None

    @property
    def needed(self) -> list[str]:
        if self.template is not None:
            return list(dict.fromkeys([*self.template.fields, self.template.target_col]))
        return [c for c in (self.prompt_col, self.completion_col) if c]

    def check(self, columns: list[str], where: str) -> None:
        """Raise :class:`DatasetError` naming the columns that exist when a needed one is missing, or
        naming a needed column that appears more than once (a CSV header may repeat a name)."""
        self._check_columns_exist(columns, where)
        for name in self.needed:
            at = [i + 1 for i, c in enumerate(columns) if c == name]
            if len(at) > 1:
                raise DatasetError(
                    f"{where}: column {name!r} appears {len(at)} times (columns {', '.join(map(str, at))}); "
                    "rename all but one so it is clear which to read"
                )

    def _check_columns_exist(self, columns: list[str], where: str) -> None:
        if self.template is not None:
            self.template.check_columns(columns, where)
            return
        for role, name in (("prompt", self.prompt_col), ("completion", self.completion_col)):
            if name not in columns:
                close = difflib.get_close_matches(str(name), columns, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise DatasetError(
                    f"{role} column {name!r} not found in {where}{hint}; columns are: "
                    f"{', '.join(repr(c) for c in columns) or '(none)'}. Choose columns with "
                    f"prompt_col=/completion_col= (CLI: --prompt-col/--completion-col) or a template"
                )

    @property
    def completion_column(self) -> str:
        return self.template.target_col if self.template is not None else str(self.completion_col)

    def select(self, table: pa.Table, where: str) -> tuple[pa.Array, pa.Array]:
        """The prompts and completions of ``table`` as Arrow string arrays (nulls become "")."""
        return self.examples(self.texts(table, where))

    def texts(self, table: pa.Table, where: str) -> dict[str, pa.Array]:
        """The needed columns of ``table`` as text (nulls kept), by name."""
        cols: dict[str, pa.Array] = {}
        for name in self.needed:
            if name not in table.column_names:  # a JSON chunk where no row has this key
                cols[name] = pa.nulls(table.num_rows, pa.string())
            else:
                cols[name] = as_text(table.column(name), name, where)
        return cols

    def examples(self, texts: dict[str, pa.Array]) -> tuple[pa.Array, pa.Array]:
        """Prompts and completions (nulls become "") from the needed columns' :meth:`texts`."""
        if self.template is not None:
            prompts = self.template.format_columns(texts)
        else:
            prompts = texts[str(self.prompt_col)]
        return _fill(prompts), _fill(texts[self.completion_column])

    def field_values(self, table: pa.Table, where: str) -> dict[str, pa.Array]:
        """The template's field values in ``table`` as text (nulls ""), by field name; empty without a template.

        They are the part of each prompt that varies, without the template's fixed text.
        """
        if self.template is None:
            return {}
        out: dict[str, pa.Array] = {}
        for name in self.template.fields:
            if name not in table.column_names:
                out[name] = pa.array([""] * table.num_rows, pa.string())
            else:
                out[name] = _fill(as_text(table.column(name), name, where))
        return out

    def describe(self) -> str:
        if self.template is not None:
            return f"template[{self.template.prompt_template!r}] -> {self.template.target_col}"
        return f"{self.prompt_col} -> {self.completion_col}"


def _holds_text(arr: pa.Array) -> bool:
    longest = pc.max(pc.binary_length(arr)).as_py()
    return bool(longest)


def _fill(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "") if arr.null_count else arr


def as_text(arr: pa.Array | pa.ChunkedArray, name: str, where: str) -> pa.Array:
    """Cast a column to text: strings pass, numbers and booleans become their text, nested values are an error."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = pc.cast(arr, t.value_type)
        t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_null(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return pc.cast(arr, pa.string())
        except pa.ArrowInvalid:
            raise DatasetError(f"{where}: column {name!r} holds bytes that are not valid UTF-8 text") from None
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_scalar_type(t.value_type):
        # A list of strings or numbers (e.g. multiple-choice endings) is written the way the study's CSV
        # exports wrote list columns: as the Python list's text, "['a', 'b']".
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())
    raise DatasetError(
        f"{where}: column {name!r} holds non-text values ({_type_text(t)}); the prompt and completion columns must hold "
        f"text (or numbers). Flatten or serialize that column first"
    )


def _type_text(t: pa.DataType) -> str:
    """An Arrow type for a one-line message: field names (the data's own keys) escaped, long types cut."""
    text = str(t).encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."


def _is_scalar_type(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
        or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)
    )


class TaskData:
    """A task dataset: (prompt, completion) pairs read lazily from a source, in batches.

    Build one with :func:`tasks.load_task` or :func:`tasks.load_task_dir`. ``n_rows`` is the
    number of rows when the source knows it without reading (Parquet, in-memory data), else ``None``;
    ``n_examples`` is the size of the training set this data stands for (for a reference task, the full
    training split of which the file is a sample), defaulting to ``n_rows``. ``metric`` is the name of the
    task's metric (see :mod:`tasks.metrics`): the one given, else the template's, else ``None``.

    Example:
        >>> import pandas as pd
        >>> from tasks import load_task
        >>> task = load_task(pd.DataFrame({"prompt": ["2+2="], "completion": ["4"]}))
        >>> task.head(1)
        [Example(prompt='2+2=', completion='4')]
    """

    def __init__(
        self,
        source: RecordSource,
        columns: ColumnSpec,
        *,
        name: str | None = None,
        n_examples: int | None = None,
        metric: str | None = None,
        limits: ReadLimits | None = None,
    ) -> None:
        columns.check(source.columns, source.description)
        if metric is not None:
            from tasks.metrics import get_metric

            get_metric(metric)  # an unknown name fails now, naming the known ones
        self._metric = metric
        self._source = source
        self._columns = columns
        self.name = name or source.description
        self._n_examples = n_examples
        self._limits = limits or getattr(source, "limits", None) or ReadLimits.from_env()
        if hasattr(source, "needed"):
            source.needed = columns.needed  # read (and check) only the needed columns

    @property
    def source(self) -> str:
        """Where the rows come from (a path or a description of the in-memory object)."""
        return self._source.description

    @property
    def columns(self) -> list[str]:
        """The raw columns of the source."""
        return list(self._source.columns)

    @property
    def column_spec(self) -> ColumnSpec:
        return self._columns

    @property
    def n_rows(self) -> int | None:
        return self._source.n_rows

    @property
    def n_examples(self) -> int | None:
        return self._n_examples if self._n_examples is not None else self._source.n_rows

    @property
    def claimed_n_examples(self) -> int | None:
        """The training-set size given explicitly (``n_examples=``, a task folder's ``num_examples.train``), else
        None; unlike :attr:`n_examples` it never falls back to the rows the source holds."""
        return self._n_examples

    @property
    def metric(self) -> str | None:
        """The task's metric name, if known (given, or from the template's metadata)."""
        if self._metric is not None:
            return self._metric
        return self._columns.template.metric if self._columns.template is not None else None

    def iter_arrow(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[tuple[pa.Array, pa.Array]]:
        """Batches of (prompts, completions) as Arrow string arrays; memory stays bounded by the batch.

        An example (prompt + completion) over ``limits.max_row_bytes`` raises :class:`DatasetError` with its
        row; so does, once every row has been read, a needed column that held no text in any row.
        """
        for prompts, completions, _ in self._checked_batches(batch_size):
            yield prompts, completions

    def iter_arrow_with_fields(
        self, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> Iterator[tuple[pa.Array, pa.Array, dict[str, pa.Array]]]:
        """:meth:`iter_arrow` plus the template's field values by field name (empty without a template), read
        from the same rows: what varies from prompt to prompt, without the template's fixed text."""
        fields = self._columns.template.fields if self._columns.template is not None else ()
        for prompts, completions, texts in self._checked_batches(batch_size):
            yield prompts, completions, {name: _fill(texts[name]) for name in fields}

    def _checked_batches(self, batch_size: int) -> Iterator[tuple[pa.Array, pa.Array, dict[str, pa.Array]]]:
        where = self._source.description
        without_text = list(self._columns.needed)  # needed columns with no text seen yet
        rows = 0
        for table in self._source.iter_tables(batch_size):
            if not table.num_rows:
                continue
            texts = self._columns.texts(table, where)
            prompts, completions = self._columns.examples(texts)
            self._check_example_sizes(prompts, completions, rows)
            if without_text:
                without_text = [name for name in without_text if not _holds_text(texts[name])]
            yield prompts, completions, texts
            rows += table.num_rows
        if rows and without_text:
            raise DatasetError(
                f"{where}: column '{without_text[0]}' holds no text: it is empty or null in all {rows:,} rows; "
                "choose the columns that hold the prompt and the completion"
            )

    def _check_example_sizes(self, prompts: pa.Array, completions: pa.Array, rows_before: int) -> None:
        limit = self._limits.max_row_bytes
        if prompts.nbytes + completions.nbytes <= limit:
            return
        sizes = pc.add(pc.binary_length(prompts), pc.binary_length(completions))
        if pc.max(sizes).as_py() > limit:
            i = pc.index(pc.greater(sizes, limit), True).as_py()
            raise DatasetError(
                f"{self._source.description}: row {rows_before + i + 1}: the example (prompt + completion) holds "
                f"{sizes[i].as_py():,} bytes, more than {self._limits.row_limit_hint()}"
            )

    def iter_batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[ExampleBatch]:
        """Batches of examples as Python strings (the template applied).

        Example:
            >>> for batch in task.iter_batches(1024):  # doctest: +SKIP
            ...     print(len(batch), batch.prompts[0][:40])
        """
        for prompts, completions in self.iter_arrow(batch_size):
            yield ExampleBatch(prompts.to_pylist(), completions.to_pylist())

    def __iter__(self) -> Iterator[Example]:
        for batch in self.iter_batches():
            for p, c in zip(batch.prompts, batch.completions):
                yield Example(p, c)

    def head(self, n: int = 5) -> list[Example]:
        """The first ``n`` examples, formatted (for previews)."""
        out: list[Example] = []
        for batch in self.iter_batches(batch_size=max(1, min(n, DEFAULT_BATCH_SIZE))):
            out.extend(Example(p, c) for p, c in zip(batch.prompts, batch.completions))
            if len(out) >= n:
                break
        return out[:n]

    def fingerprint(self) -> str:
        """A stable hash of the data and of how prompts and completions are made from it.

        The data part is the source's content hash (see :func:`tasks.readers.file_fingerprint`:
        a full SHA-256 for files up to 64 MiB, size + mtime + first/middle/last MiB beyond that).
        """
        h = hashlib.sha256()
        h.update(self._source.fingerprint().encode())
        h.update(b"\0" + self._columns.describe().encode())
        return h.hexdigest()[:32]

    def __repr__(self) -> str:
        return f"TaskData(name={self.name!r}, source={self.source!r}, columns={self._columns.describe()!r}, n_rows={self.n_rows})"
