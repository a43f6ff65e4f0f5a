"""Published capability scores of the registry's base models, shipped as ``models/capabilities.csv``.

One row is one published number: a model's score on one benchmark, as its own model card or technical report
prints it (or, where the model's own sources give no few-shot numbers, the Open LLM Leaderboard results its card
embeds). Columns:

- ``model``: a registry name (``models/base_models.csv``);
- ``benchmark``: one of :data:`BENCHMARKS`;
- ``score``: the published value, in percent (0-100), never converted or averaged;
- ``shots``: the number of in-context examples as published; empty where the source does not say;
- ``variant``: ``base`` or ``instruct``, the checkpoint the number is for. A number is only attached to the
  registry row of that checkpoint, so the variant must agree with the row's ``instruction_tuned``;
- ``metric``: the metric detail where given (``acc_norm``, ``pass@1``, ``strict-prompt``, ``CoT`` ...);
- ``source_url``: the publication (model card, technical report, official blog or catalog entry);
- ``source_table``: the table or section of that publication;
- ``retrieved_from``: where the text was read when it was not read at ``source_url`` itself (a verbatim copy of
  a card, or a transcription of a report); empty otherwise;
- ``note``: anything a reader needs (e.g. the shots are not stated, the value comes from a leaderboard).

Missing stays missing: a model without a published number has no row. ``models/capabilities.md`` lists the
registry models without an MMLU 5-shot row and why.

Example:
    >>> scores = load_capabilities()
    >>> table = capability_table(scores)
    >>> table["llama-3.1-8b"]["mmlu"].score
    66.7
    >>> table["llama-3.1-8b"]["mmlu"].shots
    5
"""
from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from models.registry import BaseModelInfo, load_registry

CAPABILITIES_CSV = Path(__file__).resolve().parent / "capabilities.csv"
COLUMNS: tuple[str, ...] = (
    "model",
    "benchmark",
    "score",
    "shots",
    "variant",
    "metric",
    "source_url",
    "source_table",
    "retrieved_from",
    "note",
)
#: Benchmark names a row may use (lower case, as in the CSV).
BENCHMARKS: tuple[str, ...] = (
    "mmlu",
    "mmlu_pro",
    "arc_challenge",
    "hellaswag",
    "winogrande",
    "gsm8k",
    "truthfulqa",
    "bbh",
    "ifeval",
    "humaneval",
)
VARIANTS: tuple[str, ...] = ("base", "instruct")
#: The shots :func:`capability_table` prefers per benchmark when a model has several rows for it: the common
#: few-shot settings (the Open LLM Leaderboard's for the first six, the usual ones for the others).
PREFERRED_SHOTS: Mapping[str, int] = {
    "mmlu": 5,
    "mmlu_pro": 5,
    "arc_challenge": 25,
    "hellaswag": 10,
    "winogrande": 5,
    "gsm8k": 5,
    "truthfulqa": 0,
    "bbh": 3,
    "ifeval": 0,
    "humaneval": 0,
}
#: A capabilities file larger than this is refused before it is parsed (the shipped one is ~50 KB).
MAX_BYTES = 4 * 1024 * 1024
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)


@dataclass(frozen=True)
class CapabilityScore:
    """One published benchmark score of one registry model; see the module docstring for each field."""

    model: str
    benchmark: str
    score: float
    shots: int | None
    variant: str
    metric: str | None
    source_url: str
    source_table: str
    retrieved_from: str | None = None
    note: str | None = None

    @property
    def key(self) -> tuple[str, str, int | None, str, str | None]:
        """What makes a row unique: the same model, benchmark, shots, variant and metric twice is a duplicate."""
        return (self.model, self.benchmark, self.shots, self.variant, self.metric)


class CapabilityError(ValueError):
    """A capabilities CSV is malformed; the message names the file, line and column."""


def load_capabilities(
    path: str | Path | None = None, registry: Mapping[str, BaseModelInfo] | None = None
) -> list[CapabilityScore]:
    """Read and validate a capabilities CSV (default: the packaged one) against the base-model registry.

    Every row must name a registry model and a known benchmark, a score in [0, 100], shots that are a
    non-negative whole number or empty, the variant of the model's registry row, an http(s) ``source_url``
    and a ``source_table``; no two rows may share (model, benchmark, shots, variant, metric).

    Example:
        >>> any(s.model == "mistral-7b" and s.benchmark == "mmlu" for s in load_capabilities())
        True
    """
    path = Path(path) if path is not None else CAPABILITIES_CSV
    registry = load_registry() if registry is None else registry
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise CapabilityError(f"{path.name} is {size} bytes; a capabilities file may be at most {MAX_BYTES}")
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CapabilityError(f"cannot read the capabilities file {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            return _read(path.name, csv.DictReader(handle), registry)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CapabilityError(f"{path.name} is not a readable UTF-8 CSV file: {exc}") from exc


def capability_table(
    scores: Iterable[CapabilityScore] | None = None, preferred_shots: Mapping[str, int] = PREFERRED_SHOTS
) -> dict[str, dict[str, CapabilityScore]]:
    """A models x benchmarks table: for each model and benchmark with rows, the one row to use.

    Among a model's rows for a benchmark the choice is, in order: the row with the benchmark's preferred shots
    (:data:`PREFERRED_SHOTS`); else a row with stated shots, nearest to the preferred ones; else a row whose
    shots the source does not state. Ties go to the row listed first in the file. The variant needs no
    preference: every row of a model is for that model's own checkpoint (the loader checks it). Models and
    benchmarks without rows are absent: missing stays missing.

    Example:
        >>> table = capability_table()
        >>> "phi-2" in table  # no published few-shot score was found for phi-2
        False
        >>> sorted(table["qwen2.5-7b"])[:3]
        ['arc_challenge', 'bbh', 'gsm8k']
    """
    scores = load_capabilities() if scores is None else scores
    table: dict[str, dict[str, CapabilityScore]] = {}
    ranks: dict[tuple[str, str], tuple] = {}
    for order, score in enumerate(scores):
        rank = (*_shots_rank(score.shots, preferred_shots.get(score.benchmark)), order)
        cell = (score.model, score.benchmark)
        if cell not in ranks or rank < ranks[cell]:
            ranks[cell] = rank
            table.setdefault(score.model, {})[score.benchmark] = score
    return table


def _shots_rank(shots: int | None, preferred: int | None) -> tuple[int, int, int]:
    if shots is None:
        return (1, 1, 0)
    if preferred is None:
        return (1, 0, 0)
    return (0 if shots == preferred else 1, 0, abs(shots - preferred))


def _read(name: str, reader: csv.DictReader, registry: Mapping[str, BaseModelInfo]) -> list[CapabilityScore]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CapabilityError(f"{name} is missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    scores: list[CapabilityScore] = []
    first_line: dict[tuple, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:  # more cells than columns: csv.DictReader files the extras under None
            raise CapabilityError(f"{name} line {line}: more values than the {len(reader.fieldnames or [])} columns")
        cell = _Cell(name, line, row)
        score = CapabilityScore(
            model=_model(cell, registry),
            benchmark=cell.choice("benchmark", BENCHMARKS),
            score=_score(cell),
            shots=_shots(cell),
            variant=cell.choice("variant", VARIANTS),
            metric=cell.text("metric"),
            source_url=_url(cell, "source_url", required=True),
            source_table=cell.required("source_table"),
            retrieved_from=_url(cell, "retrieved_from", required=False),
            note=cell.text("note"),
        )
        _check_variant(cell, score, registry[score.model])
        if score.key in first_line:
            raise CapabilityError(
                f"{name} line {line}: {score.model} {score.benchmark} (shots {score.shots}, {score.variant}, metric "
                f"{score.metric}) is already given on line {first_line[score.key]}"
            )
        first_line[score.key] = line
        scores.append(score)
    return scores


@dataclass(frozen=True)
class _Cell:
    """One CSV row with the file name and line, so that every error names the file, line and column."""

    name: str
    line: int
    row: Mapping[str, str | None]

    def error(self, column: str, message: str) -> CapabilityError:
        return CapabilityError(f"{self.name} line {self.line}, column {column}: {message}")

    def text(self, column: str) -> str | None:
        value = (self.row.get(column) or "").strip()
        return value or None

    def required(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            raise self.error(column, "must not be empty")
        return value

    def choice(self, column: str, allowed: tuple[str, ...]) -> str:
        value = self.required(column)
        if value not in allowed:
            raise self.error(column, f"{value!r} is not one of {', '.join(allowed)}")
        return value


def _model(cell: _Cell, registry: Mapping[str, BaseModelInfo]) -> str:
    name = cell.required("model")
    if name not in registry:
        raise cell.error("model", f"{name!r} is not a model of the base-model registry")
    return name


def _score(cell: _Cell) -> float:
    text = cell.required("score")
    try:
        value = float(text)
    except ValueError as exc:
        raise cell.error("score", f"{text!r} is not a number") from exc
    if not math.isfinite(value) or not 0.0 <= value <= 100.0:
        raise cell.error("score", f"{text} is outside [0, 100] (scores are percentages)")
    return value


def _shots(cell: _Cell) -> int | None:
    text = cell.text("shots")
    if text is None:
        return None
    if not text.isdigit():
        raise cell.error("shots", f"{text!r} must be a non-negative whole number or empty")
    return int(text)


def _url(cell: _Cell, column: str, *, required: bool) -> str | None:
    text = cell.required(column) if required else cell.text(column)
    if text is not None and not _URL.fullmatch(text):
        raise cell.error(column, f"{text!r} is not an http(s) URL")
    return text


def _check_variant(cell: _Cell, score: CapabilityScore, info: BaseModelInfo) -> None:
    if info.instruction_tuned is None:
        return
    expected = "instruct" if info.instruction_tuned else "base"
    if score.variant != expected:
        raise cell.error(
            "variant",
            f"{score.variant!r} but {score.model} is the registry's {expected} checkpoint: a score belongs to the "
            "row of the checkpoint it was measured on",
        )


__all__ = [
    "BENCHMARKS",
    "CAPABILITIES_CSV",
    "COLUMNS",
    "PREFERRED_SHOTS",
    "VARIANTS",
    "CapabilityError",
    "CapabilityScore",
    "capability_table",
    "load_capabilities",
]
