"""Prompt templates: how a task's input columns become the prompt, as in LoRA Land's ``metadata.yaml``."""
from __future__ import annotations

import difflib
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from tasks.errors import DatasetError


@dataclass(frozen=True)
class TaskTemplate:
    """A prompt template with ``{column}`` fields, the input columns it reads and the target column.

    Fields follow Python's ``str.format`` syntax (``{{`` and ``}}`` are literal braces), as in the
    study's task metadata. ``n_train`` is the full training-split size when the metadata knows it;
    ``metric`` the task's metric name (``metric_name``) when it says.

    Example:
        >>> t = TaskTemplate('Review: "{sentence}"\\nSentiment:', target_col="label")
        >>> t.fields
        ('sentence',)
        >>> t.format_row({"sentence": "great film"})
        'Review: "great film"\\nSentiment:'
    """

    prompt_template: str
    target_col: str
    input_columns: tuple[str, ...] = ()
    name: str | None = None
    n_train: int | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        fields = self.fields  # parses, so a malformed template fails here
        if not self.input_columns:
            object.__setattr__(self, "input_columns", fields)
        missing = [f for f in fields if f not in self.input_columns]
        if missing:
            raise DatasetError(
                f"prompt template field(s) {_names(missing)} are not among the input columns "
                f"{_names(self.input_columns)}"
            )
        if not self.target_col:
            raise DatasetError("the template needs a target column (target_col)")

    @property
    def fields(self) -> tuple[str, ...]:
        """Column names the template reads, in order of first use."""
        out: list[str] = []
        for _, field, _, _ in self._parts():
            if field is not None and field not in out:
                out.append(field)
        return tuple(out)

    def _parts(self) -> list[tuple[str, str | None, str | None, str | None]]:
        try:
            parts = list(string.Formatter().parse(self.prompt_template))
        except ValueError as exc:
            raise DatasetError(f"malformed prompt template ({exc}); write literal braces as {{{{ and }}}}") from exc
        for _, field, _, _ in parts:
            if field is not None and (field == "" or field.isdigit()):
                raise DatasetError("prompt template fields must name a column, e.g. {sentence}; found a positional {}")
        return parts

    @classmethod
    def from_metadata(cls, path: str | Path) -> "TaskTemplate":
        """Read a LoRA Land ``metadata.yaml`` (``prompt_template``, ``input_columns``, ``target_col``).

        Example:
            >>> TaskTemplate.from_metadata("../shared/reference_tasks/glue_sst2/metadata.yaml").target_col  # doctest: +SKIP
            'label'
        """
        path = Path(path)
        meta = _read_yaml(path)
        if not isinstance(meta, dict):
            raise DatasetError(f"{path}: expected a mapping with prompt_template and target_col")
        for key in ("prompt_template", "target_col"):
            if key in meta and not isinstance(meta[key], str):
                raise DatasetError(f"{path}: '{key}' must be text, found {_yaml_kind(meta[key])}")
            if not meta.get(key):
                raise DatasetError(f"{path}: missing '{key}' (found keys: {', '.join(sorted(map(str, meta)))})")
        n_train = (meta.get("num_examples") or {}).get("train") if isinstance(meta.get("num_examples"), dict) else None
        return cls(
            prompt_template=meta["prompt_template"],
            target_col=meta["target_col"],
            input_columns=_input_columns(meta.get("input_columns"), path),
            name=str(meta.get("dataset_name") or path.parent.name),
            n_train=n_train if isinstance(n_train, int) and not isinstance(n_train, bool) else None,
            metric=str(meta["metric_name"]) if meta.get("metric_name") else None,
        )

    def check_columns(self, columns: Iterable[str], where: str = "the dataset") -> None:
        """Raise :class:`DatasetError` naming any template field or target without a column."""
        columns = list(columns)
        for field in self.fields:
            if field not in columns:
                raise DatasetError(
                    f"prompt template field {{{field}}} has no column in {where}{_did_you_mean(field, columns)}; "
                    f"columns are: {_names(columns)}"
                )
        if self.target_col not in columns:
            raise DatasetError(
                f"target column '{self.target_col}' not found in {where}{_did_you_mean(self.target_col, columns)}; "
                f"columns are: {_names(columns)}"
            )

    def format_row(self, row: Mapping[str, object]) -> str:
        """The prompt for one row (a mapping from column name to value)."""
        out = []
        for literal, field, _, _ in self._parts():
            out.append(literal)
            if field is not None:
                value = row[field]
                out.append("" if value is None else str(value))
        return "".join(out)

    def format_columns(self, columns: Mapping[str, pa.Array]) -> pa.Array:
        """Vectorized :meth:`format_row` over Arrow string columns (nulls become empty strings)."""
        pieces: list[pa.Array | pa.Scalar] = []
        n = len(next(iter(columns.values()))) if columns else 0
        for literal, field, _, _ in self._parts():
            if literal:
                pieces.append(pa.scalar(literal, pa.string()))
            if field is not None:
                pieces.append(columns[field])
        if not any(isinstance(p, (pa.Array, pa.ChunkedArray)) for p in pieces):
            return pa.array([self.prompt_template.format()] * n, pa.string())
        return pc.binary_join_element_wise(*pieces, "", null_handling="replace", null_replacement="")


def _read_yaml(path: Path) -> object:
    """A YAML file's content; every way it can be unreadable is one line naming the file (and the line)."""
    if path.is_dir():
        inside = " (it holds a metadata.yaml: pass that file)" if (path / "metadata.yaml").is_file() else ""
        raise DatasetError(f"{path}: is a directory; a template file is a metadata.yaml file{inside}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such template file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise DatasetError(f"{path}: {where}malformed YAML ({what})") from None
    except yaml.YAMLError as exc:
        raise DatasetError(f"{path}: malformed YAML ({' '.join(str(exc).split())[:200]})") from None
    except RecursionError:
        raise DatasetError(f"{path}: malformed YAML (nested too deeply)") from None


def _input_columns(value: object, path: Path) -> tuple[str, ...]:
    """``input_columns``: a list of column names, or one string of names separated by commas."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        return tuple(c.strip() for c in value.split(",") if c.strip())
    if isinstance(value, list) and all(isinstance(c, (str, int)) and not isinstance(c, bool) and c != "" for c in value):
        return tuple(str(c) for c in value)  # a header name such as 2020 reads as a number in YAML
    raise DatasetError(
        f"{path}: 'input_columns' must be a list of column names (or one comma-separated string), "
        f"found {_yaml_kind(value)}"
    )


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list holding " + ", ".join(sorted({_yaml_kind(v) for v in value})) if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _names(columns: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in columns) or "(none)"


def _did_you_mean(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
