"""Task catalogs: the YAML or CSV files that list many task datasets for batch scoring.

One entry per task: a ``name``, where its data is (``dataset``: a file path or a Hugging Face id;
or ``task_dir``: a folder with ``metadata.yaml`` + ``train.jsonl``), how its columns form
(prompt, completion) pairs (``prompt_col``/``completion_col``; or ``input_columns`` + ``template`` +
``target_col``; or ``metadata``: a metadata.yaml giving ``prompt_template``/``input_columns``/
``target_col``), and optionally the task's ``metric`` (as ``advisor profile --metric``), measured zero-shot
``base_scores`` per base model and a ``sample`` size.
Relative paths are relative to the catalog file.

YAML: a list of entries, or a mapping with a ``tasks`` list. CSV: one row per entry with the same
column names; ``input_columns`` is comma-separated and each ``base_score:<model>`` column holds a
measured base score.
The user-facing description (with examples and how resuming works) is README.md's "Catalog files"
section; ``advisor score-catalog --help`` summarizes it.

Example:
    >>> entries = read_catalog("catalog.yaml")     # doctest: +SKIP
    >>> entries[0].name, entries[0].load_kwargs()  # doctest: +SKIP
    ('tickets', {'prompt_col': 'question', 'completion_col': 'answer'})
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml


class CatalogError(ValueError):
    """The catalog file itself is malformed (the message names the entry and the problem)."""


ENTRY_KEYS = frozenset({
    "name", "dataset", "task_dir", "prompt_col", "completion_col", "template", "metadata",
    "input_columns", "target_col", "metric", "base_scores", "base_models", "sample",
})
_BASE_SCORE_PREFIX = "base_score:"


@dataclass(frozen=True)
class CatalogEntry:
    """One task of a catalog, with paths already resolved against the catalog's folder."""

    name: str
    dataset: str | None = None
    task_dir: str | None = None
    prompt_col: str | None = None
    completion_col: str | None = None
    template: str | None = None
    metadata: str | None = None
    input_columns: tuple[str, ...] | None = None
    target_col: str | None = None
    metric: str | None = None
    base_scores: dict[str, float] = field(default_factory=dict)
    base_models: tuple[str, ...] | None = None
    sample: int | None = None

    def load_kwargs(self) -> dict[str, Any]:
        """Column options for ``featurizers.load_task`` (a ``metadata`` file is passed as the template)."""
        kwargs: dict[str, Any] = {}
        if self.prompt_col or self.completion_col:
            kwargs["prompt_col"] = self.prompt_col
            kwargs["completion_col"] = self.completion_col
        template = self.metadata or self.template
        if template is not None:
            kwargs["template"] = template
        if self.input_columns:
            kwargs["input_columns"] = list(self.input_columns)
        if self.target_col is not None:
            kwargs["target_col"] = self.target_col
        if self.metric is not None:
            kwargs["metric"] = self.metric
        return kwargs

    def describe(self) -> str:
        """Where the entry's data comes from, for tables and error messages."""
        return self.task_dir or self.dataset or "?"


def _as_columns(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        cols = [c.strip() for c in value.split(",") if c.strip()]
    elif isinstance(value, (list, tuple)):
        cols = [str(c).strip() for c in value]
    else:
        raise CatalogError(f"entry {name!r}: input_columns must be a list or a comma-separated string")
    return tuple(cols) or None


def _resolve(value: Any, base: Path) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    text = os.path.expanduser(str(value).strip())
    path = Path(text)
    if path.is_absolute():
        return text
    candidate = base / path
    # A relative value that does not exist next to the catalog may be a Hugging Face id ("org/name").
    if candidate.exists() or path.suffix or text.startswith("."):
        return str(candidate)
    return text


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value)
    return s if s.strip() else None


def entry_from_mapping(raw: dict[str, Any], base: Path, index: int) -> CatalogEntry:
    """Validate one raw entry (from YAML or a CSV row) and resolve its paths against ``base``."""
    if not isinstance(raw, dict):
        raise CatalogError(f"catalog entry #{index + 1} must be a mapping of keys, got {type(raw).__name__}")
    raw = dict(raw)
    base_scores: dict[str, float] = {}
    for key in [k for k in raw if str(k).startswith(_BASE_SCORE_PREFIX)]:
        value = raw.pop(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value).strip():
            base_scores[str(key)[len(_BASE_SCORE_PREFIX):]] = value
    name = _text(raw.get("name"))
    label = repr(name) if name else f"#{index + 1}"
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise CatalogError(f"catalog entry {label}: unknown keys {sorted(unknown)}; known keys are {sorted(ENTRY_KEYS)}"
                           f" and {_BASE_SCORE_PREFIX}<model>")
    if not name:
        raise CatalogError(f"catalog entry {label} has no name")
    dataset, task_dir = _resolve(raw.get("dataset"), base), _resolve(raw.get("task_dir"), base)
    if bool(dataset) == bool(task_dir):
        raise CatalogError(f"catalog entry {label}: give exactly one of 'dataset' (a file or HF id) or 'task_dir'")
    scores = raw.get("base_scores") or {}
    if not isinstance(scores, dict):
        raise CatalogError(f"catalog entry {label}: base_scores must map base-model names to scores")
    base_scores.update(scores)
    checked: dict[str, float] = {}
    for model, value in base_scores.items():
        try:
            score = float(value)
        except (TypeError, ValueError):
            raise CatalogError(f"catalog entry {label}: base score of {model!r} is not a number: {value!r}") from None
        if not 0.0 <= score <= 1.0:
            raise CatalogError(f"catalog entry {label}: base score of {model!r} must be in [0, 1], got {score}")
        checked[str(model)] = score
    sample = raw.get("sample")
    if sample is not None and not (isinstance(sample, float) and math.isnan(sample)):
        try:
            sample = int(sample)
        except (TypeError, ValueError):
            raise CatalogError(f"catalog entry {label}: sample must be a whole number, got {sample!r}") from None
        if sample <= 0:
            raise CatalogError(f"catalog entry {label}: sample must be positive, got {sample}")
    else:
        sample = None
    if raw.get("template") and raw.get("metadata"):
        raise CatalogError(f"catalog entry {label}: give either 'template' or 'metadata', not both")
    models = _as_columns(raw.get("base_models"), name)
    metric = _text(raw.get("metric"))
    if metric is not None:
        from tasks.metrics import get_metric

        try:
            get_metric(metric)
        except ValueError as exc:
            raise CatalogError(f"catalog entry {label}: {exc}") from None
    return CatalogEntry(
        name=name, dataset=dataset, task_dir=task_dir,
        prompt_col=_text(raw.get("prompt_col")), completion_col=_text(raw.get("completion_col")),
        template=_text(raw.get("template")), metadata=_resolve(raw.get("metadata"), base),
        input_columns=_as_columns(raw.get("input_columns"), name), target_col=_text(raw.get("target_col")),
        metric=metric, base_scores=checked, base_models=models, sample=sample,
    )


def parse_entries(raw_entries: Iterable[dict[str, Any]], base: str | os.PathLike[str] = ".") -> list[CatalogEntry]:
    """Validate raw entries (dicts) into CatalogEntry objects; names must be unique."""
    base = Path(base)
    entries = [entry_from_mapping(raw, base, i) for i, raw in enumerate(raw_entries)]
    if not entries:
        raise CatalogError("the catalog lists no tasks")
    seen: set[str] = set()
    for e in entries:
        if e.name in seen:
            raise CatalogError(f"catalog entry name {e.name!r} appears more than once; names must be unique")
        seen.add(e.name)
    return entries


def read_catalog(path: str | os.PathLike[str]) -> list[CatalogEntry]:
    """Read a YAML (.yaml/.yml) or CSV (.csv) catalog; relative paths are taken relative to its folder.

    Example:
        >>> [e.name for e in read_catalog(example_catalog_path())]  # doctest: +SKIP
        ['sentiment_reviews', 'restaurant_json', 'support_tickets', 'word_problems']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"catalog not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path} is not UTF-8 text: {exc}") from exc
    return parse_catalog_text(text, path.suffix, base=path.parent, label=str(path))


def parse_catalog_text(text: str, suffix: str, *, base: str | os.PathLike[str] = ".",
                       label: str = "the catalog") -> list[CatalogEntry]:
    """Parse catalog text in the format ``suffix`` names (.yaml/.yml/.csv), e.g. an uploaded file.

    Example:
        >>> parse_catalog_text("- {name: a, dataset: a.csv}", ".yaml", base="/data")[0].dataset
        '/data/a.csv'
    """
    suffix = suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CatalogError(f"{label} is not valid YAML: {exc}") from exc
        if isinstance(data, dict):
            if "tasks" not in data:
                raise CatalogError(f"{label}: a YAML mapping must hold a 'tasks' list")
            data = data["tasks"]
        if not isinstance(data, list):
            raise CatalogError(f"{label} must be a list of task entries (or a mapping with 'tasks')")
        raw = data
    elif suffix == ".csv":
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise CatalogError(f"{label} is not a readable CSV: {exc}") from exc
        raw = [{k: (None if v == "" else v) for k, v in row.items()} for row in frame.to_dict("records")]
    else:
        raise CatalogError(f"cannot read catalog {label!r}: use a .yaml, .yml or .csv file")
    try:
        return parse_entries(raw, base)
    except CatalogError as exc:
        raise CatalogError(f"{label}: {exc}") from None
