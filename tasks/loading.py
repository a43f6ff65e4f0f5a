"""Entry points that turn a file, standard input, a DataFrame, a Hugging Face dataset or a task folder into
:class:`TaskData`."""
from __future__ import annotations

import io
import re
import shutil
import sys
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any, Sequence

import pyarrow as pa

from tasks.errors import DatasetError
from tasks.formats import GZIP_MAGIC, SUFFIXES, guess_format
from tasks.limits import ReadLimits
from tasks.readers import ArrowTableSource, HFDatasetSource, RecordSource, open_file
from tasks.task_data import ColumnSpec, TaskData
from tasks.template import TaskTemplate

DEFAULT_PROMPT_COL = "prompt"
DEFAULT_COMPLETION_COL = "completion"
#: The source that means standard input.
STDIN = "-"
#: The explicit form of a Hugging Face Hub dataset id.
HUB_PREFIX = "hf://"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def load_task(
    source: Any,
    *,
    prompt_col: str | None = None,
    completion_col: str | None = None,
    template: TaskTemplate | str | None = None,
    input_columns: Sequence[str] | str | None = None,
    target_col: str | None = None,
    name: str | None = None,
    n_examples: int | None = None,
    split: str = "train",
    metric: str | None = None,
    format: str | None = None,
    limits: ReadLimits | None = None,
) -> TaskData:
    """Open a task dataset: a path (.csv, .tsv, .jsonl, .json, .parquet, the text formats gzip-compressed
    as .csv.gz ..., a saved ``datasets`` folder), ``"-"`` or a binary stream (standard input), a pandas
    DataFrame, an Arrow table, a list of dicts, a ``datasets.Dataset``/``DatasetDict``/``IterableDataset``,
    or a Hugging Face Hub dataset: ``"hf://owner/name"``, or ``"owner/name"`` when no such file exists.

    ``format`` (csv, tsv, jsonl, json, parquet) overrides the suffix; standard input without it is sniffed
    from its first bytes (see :func:`tasks.formats.guess_format`; gzip is seen through).
    Columns are chosen either as ``prompt_col``/``completion_col`` (default ``prompt``/``completion``) or as
    a ``template`` (a :class:`TaskTemplate`, a :class:`~pathlib.Path` or ``.yaml`` path to a
    ``metadata.yaml``, or a template string with ``{column}`` fields plus ``target_col``). The columns are
    checked now; the rows are read lazily. ``metric`` names the task's metric (default: a template file's
    ``metric_name``, else inferred where needed). ``name`` defaults to the file's stem, the Hub id, or for
    in-memory data and standard input its kind and content fingerprint (``dataframe-1a2b3c4d``).
    ``limits`` bounds one row's size and JSON depth (default: :meth:`ReadLimits.from_env`).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"sentence": ["a fine film"], "label": [1]})
        >>> task = load_task(df, template="Review: {sentence}\\nLabel:", target_col="label")
        >>> task.head(1)[0].completion
        '1'
    """
    spec = _column_spec(prompt_col, completion_col, template, input_columns, target_col)
    limits = limits or ReadLimits.from_env()
    src = _open_source(source, split, format, limits)
    # A template file's num_examples.train describes the study's task, not necessarily this file, so it
    # is not used as n_examples here (load_task_dir does use it).
    return TaskData(src, spec, name=name or _default_name(source, src), n_examples=n_examples, metric=metric,
                    limits=limits)


def load_task_dir(directory: str | Path, *, n_examples: int | None = None, metric: str | None = None) -> TaskData:
    """Open a task folder holding ``metadata.yaml`` (template, input columns, target column) and ``train.jsonl``.

    ``n_examples`` defaults to the metadata's ``num_examples.train`` (the full training split, of which
    ``train.jsonl`` may be a sample); ``metric`` defaults to the metadata's ``metric_name``.

    Example:
        >>> task = load_task_dir("../shared/reference_tasks/glue_sst2")  # doctest: +SKIP
        >>> task.n_examples  # doctest: +SKIP
        67349
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory")
    meta = directory / "metadata.yaml"
    if not meta.is_file():
        raise DatasetError(f"{directory}: no metadata.yaml (a task folder holds metadata.yaml and train.jsonl)")
    data = [p for p in (directory / "train.jsonl", directory / "train.parquet", directory / "train.csv") if p.is_file()]
    if not data:
        raise DatasetError(f"{directory}: no train.jsonl (found: {', '.join(sorted(p.name for p in directory.iterdir()))})")
    template = TaskTemplate.from_metadata(meta)
    src = open_file(data[0])
    return TaskData(
        src,
        ColumnSpec(template=template),
        name=template.name or directory.name,
        n_examples=n_examples if n_examples is not None else template.n_train,
        metric=metric,
    )


def _column_spec(
    prompt_col: str | None,
    completion_col: str | None,
    template: TaskTemplate | str | None,
    input_columns: Sequence[str] | str | None,
    target_col: str | None,
) -> ColumnSpec:
    if template is not None and prompt_col is not None:
        raise DatasetError("choose either prompt_col/completion_col or a template, not both")
    if isinstance(template, TaskTemplate):
        if target_col and target_col != template.target_col:
            template = TaskTemplate(template.prompt_template, target_col, template.input_columns, template.name, template.n_train)
        return ColumnSpec(template=template)
    if isinstance(template, (str, Path)):
        path = Path(template)
        if isinstance(template, Path) or str(template).endswith((".yaml", ".yml")):
            t = TaskTemplate.from_metadata(path)
            if target_col:
                t = TaskTemplate(t.prompt_template, target_col, t.input_columns, t.name, t.n_train)
            return ColumnSpec(template=t)
        target = target_col or completion_col
        if not target:
            raise DatasetError("a template string needs target_col (the column holding the expected output)")
        cols = input_columns.split(",") if isinstance(input_columns, str) else (input_columns or ())
        return ColumnSpec(template=TaskTemplate(str(template), target, tuple(c.strip() for c in cols if c.strip())))
    if input_columns:
        cols = [c.strip() for c in (input_columns.split(",") if isinstance(input_columns, str) else input_columns)]
        target = target_col or completion_col or DEFAULT_COMPLETION_COL
        # No template: the input columns are joined with blank lines, each as "column: value".
        text = "\n\n".join(f"{c}: {{{c}}}" for c in cols) if len(cols) > 1 else f"{{{cols[0]}}}"
        return ColumnSpec(template=TaskTemplate(text, target, tuple(cols)))
    return ColumnSpec(
        prompt_col=prompt_col or DEFAULT_PROMPT_COL,
        completion_col=completion_col or target_col or DEFAULT_COMPLETION_COL,
    )


def _open_source(source: Any, split: str, format: str | None, limits: ReadLimits) -> RecordSource:
    if isinstance(source, str) and source == STDIN:
        if sys.stdin is None or (hasattr(sys.stdin, "isatty") and sys.stdin.isatty()):
            raise DatasetError("<stdin>: standard input is a terminal; pipe a dataset into it (e.g. advisor profile - < data.jsonl)")
        return _stream_source(sys.stdin.buffer, "<stdin>", format, limits)
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        return _hub_dataset(source[len(HUB_PREFIX):], split, explicit=True)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return _saved_hf_dataset(path, split)
        if not path.exists() and isinstance(source, str) and _looks_like_hub_id(source):
            return _hub_dataset(source, split)
        if not path.exists():
            raise DatasetError(_missing_file_message(str(source)))
        return open_file(path, format=format, limits=limits)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        return _stream_source(source, name if isinstance(name, str) else "<stream>", format, limits)
    mod = type(source).__module__
    if mod.startswith("pandas"):
        return _dataframe_source(source)
    if mod.startswith("datasets"):
        return _hf_object(source, split, "<datasets object>")
    if isinstance(source, pa.Table):
        return ArrowTableSource(source, description="<Arrow table>")
    if isinstance(source, list) and all(isinstance(r, dict) for r in source):
        try:
            return ArrowTableSource(pa.Table.from_pylist(source), description="<list of dicts>")
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError) as exc:
            raise DatasetError(f"<list of dicts>: values of one column have incompatible types ({exc})") from None
    raise DatasetError(
        f"cannot load a task from {type(source).__name__}; pass a file path, '-' (standard input), a pandas "
        "DataFrame, an Arrow table, a datasets.Dataset, or a list of dicts"
    )


def _missing_file_message(source: str) -> str:
    return (
        f"{source}: no such file or directory (a Hugging Face Hub dataset is read as owner/name or "
        f"{HUB_PREFIX}name)"
    )


def _stream_source(stream: IO[bytes], where: str, format: str | None, limits: ReadLimits) -> RecordSource:
    """Read a binary stream (standard input) through a temporary copy: the readers read a file more than
    once (columns first, rows later), and a copy on disk keeps memory bounded. The copy is deleted when
    the source is."""
    if isinstance(stream, io.TextIOBase):
        stream = getattr(stream, "buffer", None) or stream
    try:
        head = stream.read(1 << 16)
    except OSError as exc:
        raise DatasetError(f"{where}: could not be read ({exc})") from None
    if isinstance(head, str):
        raise DatasetError(f"{where}: a text stream; pass a binary one (e.g. open(path, 'rb'), sys.stdin.buffer)")
    if not head:
        raise DatasetError(f"{where}: the dataset is empty (no input)")
    gzipped = head.startswith(GZIP_MAGIC)
    kind = format or guess_format(_gunzip_head(head, where) if gzipped else head).kind
    # The copy's name says its format and compression, as a file's would.
    spool = tempfile.NamedTemporaryFile(prefix="advisor-stdin-", suffix=f".{kind}" + (".gz" if gzipped else ""))
    try:
        spool.write(head)
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.flush()
        return open_file(Path(spool.name), format=kind, limits=limits, display=where, keep_alive=spool)
    except OSError as exc:
        spool.close()
        raise DatasetError(f"{where}: could not be read ({exc})") from None
    except BaseException:
        spool.close()
        raise


def _gunzip_head(head: bytes, where: str) -> bytes:
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 1 << 16)
    except zlib.error as exc:
        raise DatasetError(f"{where}: corrupt gzip data ({exc})") from None


def _dataframe_source(df: Any) -> ArrowTableSource:
    df = df.reset_index(drop=True)
    cols = [str(c) for c in df.columns]
    try:
        table = pa.Table.from_pandas(df.set_axis(cols, axis=1), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        bad = [c for c in df.columns if df[c].dtype == object and df[c].map(type).nunique() > 1]
        which = f" (column {bad[0]!r} mixes types)" if bad else ""
        raise DatasetError(f"<DataFrame>: a column holds values that are not text{which}: {exc}") from None
    return ArrowTableSource(table, description="<pandas.DataFrame>")


def _hf_object(ds: Any, split: str, description: str) -> HFDatasetSource:
    kind = type(ds).__name__
    if kind in ("DatasetDict", "IterableDatasetDict"):
        if split not in ds:
            raise DatasetError(f"{description}: no split '{split}'; splits are: {', '.join(ds)}")
        ds = ds[split]
    return HFDatasetSource(ds, description=description)


def _saved_hf_dataset(path: Path, split: str) -> HFDatasetSource:
    if (path / "metadata.yaml").is_file():
        raise DatasetError(f"{path}: a task folder (metadata.yaml); use load_task_dir / advisor profile --task-dir")
    if not any((path / f).is_file() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        raise DatasetError(f"{path}: a directory that is not a saved Hugging Face dataset (no dataset_info.json)")
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - the hf extra is missing
        raise DatasetError("reading a saved dataset needs the 'datasets' package (pip install finetune-advisor[hf])") from exc
    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable saved dataset ({exc})") from None
    return _hf_object(ds, split, str(path))


def _looks_like_hub_id(s: str) -> bool:
    """``owner/name`` (a Hub dataset id), unless it reads as a local path: a file suffix, or a folder that exists."""
    if not _HUB_ID.fullmatch(s):
        return False
    owner, name = s.split("/")
    if Path(owner).exists():
        return False
    return not name.lower().endswith((*SUFFIXES, ".gz", ".yaml", ".yml", ".txt", ".xlsx"))


def _hub_dataset(repo_id: str, split: str, explicit: bool = False) -> HFDatasetSource:
    what = f"{HUB_PREFIX}{repo_id}" if explicit else f"{repo_id}: no such file, and as a Hub dataset id it"
    if not repo_id:
        raise DatasetError(f"{HUB_PREFIX}: give a Hub dataset id, e.g. {HUB_PREFIX}owner/name")
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - the hf extra is missing
        raise DatasetError(f"{what}: reading from the Hub needs the 'datasets' package (pip install finetune-advisor[hf])") from exc
    try:
        ds = datasets.load_dataset(repo_id, split=split, streaming=True)
    except Exception as exc:  # the Hub raises many types (offline, missing repo, gated); all mean "cannot load"
        message = _arrow_free_message(exc)
        raise DatasetError(f"{what} could not be loaded from the Hugging Face Hub ({message})") from None
    return HFDatasetSource(ds, description=f"{HUB_PREFIX}{repo_id}")


def _arrow_free_message(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return (text[:300] + "...") if len(text) > 300 else text or type(exc).__name__


#: How a default name calls each kind of in-memory or streamed source (followed by its content fingerprint).
_KIND_NAMES = {"pandas": "dataframe", "pyarrow": "table", "builtins": "records", "datasets": "dataset"}


def _default_name(source: Any, src: RecordSource) -> str:
    """A file's stem (``data`` for ``data.jsonl.gz``), a Hub id, a folder's name; for in-memory data and
    streams, their kind and the first 8 hex digits of their content fingerprint (``dataframe-1a2b3c4d``), so
    the same rows get the same name and different rows different ones."""
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        return source[len(HUB_PREFIX):]
    if isinstance(source, (str, Path)) and source != STDIN:
        path = Path(source)
        if not path.exists():  # a Hub id
            return str(source)
        name = path.name[: -len(".gz")] if path.name.lower().endswith(".gz") else path.name
        return Path(name).stem if Path(name).suffix else name
    if isinstance(source, str) or hasattr(source, "read"):  # "-" or a stream
        kind = "stdin" if src.description == "<stdin>" else "stream"
    else:
        kind = _KIND_NAMES.get(type(source).__module__.split(".")[0], type(source).__name__.lower())
    digest = src.fingerprint().split(":", 1)[-1]
    return f"{kind}-{digest[:8]}"
