"""Entry points that turn a file, a DataFrame, a Hugging Face dataset or a task folder into :class:`TaskData`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from tasks.errors import DatasetError
from tasks.readers import ArrowTableSource, HFDatasetSource, RecordSource, open_file
from tasks.task_data import ColumnSpec, TaskData
from tasks.template import TaskTemplate

DEFAULT_PROMPT_COL = "prompt"
DEFAULT_COMPLETION_COL = "completion"


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
) -> TaskData:
    """Open a task dataset: a path (.csv, .tsv, .jsonl, .json, .parquet, a saved ``datasets`` folder),
    a pandas DataFrame, a ``datasets.Dataset``/``DatasetDict``/``IterableDataset``, or a Hub id when online.

    Columns are chosen either as ``prompt_col``/``completion_col`` (default ``prompt``/``completion``) or as
    a ``template`` (a :class:`TaskTemplate`, a path to a ``metadata.yaml``, or a template string with
    ``{column}`` fields plus ``target_col``). The columns are checked now; the rows are read lazily.
    ``metric`` names the task's metric (default: a template file's ``metric_name``, else inferred where needed).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"sentence": ["a fine film"], "label": [1]})
        >>> task = load_task(df, template="Review: {sentence}\\nLabel:", target_col="label")
        >>> task.head(1)[0].completion
        '1'
    """
    spec = _column_spec(prompt_col, completion_col, template, input_columns, target_col)
    src = _open_source(source, split)
    # A template file's num_examples.train describes the study's task, not necessarily this file, so it
    # is not used as n_examples here (load_task_dir does use it).
    return TaskData(src, spec, name=name or _default_name(source), n_examples=n_examples, metric=metric)


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
        if str(template).endswith((".yaml", ".yml")):
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


def _open_source(source: Any, split: str) -> RecordSource:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return _saved_hf_dataset(path, split)
        if not path.exists() and _looks_like_hub_id(str(source)):
            return _hub_dataset(str(source), split)
        return open_file(path)
    mod = type(source).__module__
    if mod.startswith("pandas"):
        return _dataframe_source(source)
    if mod.startswith("datasets"):
        return _hf_object(source, split, "<datasets object>")
    if isinstance(source, pa.Table):
        return ArrowTableSource(source)
    if isinstance(source, list) and all(isinstance(r, dict) for r in source):
        try:
            return ArrowTableSource(pa.Table.from_pylist(source), description="<list of dicts>")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(f"<list of dicts>: values of one column have incompatible types ({exc})") from None
    raise DatasetError(
        f"cannot load a task from {type(source).__name__}; pass a file path, a pandas DataFrame, "
        "a datasets.Dataset, or a list of dicts"
    )


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
    parts = s.split("/")
    return len(parts) <= 2 and all(p and not p.startswith(".") for p in parts) and "." not in parts[-1][-8:]


def _hub_dataset(repo_id: str, split: str) -> HFDatasetSource:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover
        raise DatasetError(f"{repo_id}: no such file, and the 'datasets' package is missing to read it from the Hub") from exc
    try:
        ds = datasets.load_dataset(repo_id, split=split, streaming=True)
    except Exception as exc:  # the Hub raises many types (offline, missing repo, gated); all mean "cannot load"
        raise DatasetError(f"{repo_id}: no such file, and it could not be loaded from the Hugging Face Hub ({exc})") from None
    return HFDatasetSource(ds, description=f"hf://{repo_id}")


def _default_name(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).stem if Path(source).suffix else str(source)
    return type(source).__name__
