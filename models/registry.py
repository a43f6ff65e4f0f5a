"""The base-model registry: the open-weights models the advisor knows, shipped as ``models/base_models.csv``.

The CSV has the columns ``model, hf_id, creator, family, params_billion, instruction_tuned,
release_date, max_position_embeddings`` (the LoRA Land study's Table 2 plus each model's context length).

Example:
    >>> registry = load_registry()
    >>> registry["mistral-7b"].hf_id
    'mistralai/Mistral-7B-v0.1'
    >>> lookup("HuggingFaceH4/zephyr-7b-beta", registry).name
    'zephyr-7b-beta'
"""
from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REGISTRY_CSV = Path(__file__).resolve().parent / "base_models.csv"
REGISTRY_COLUMNS: tuple[str, ...] = (
    "model",
    "hf_id",
    "creator",
    "family",
    "params_billion",
    "instruction_tuned",
    "release_date",
    "max_position_embeddings",
)


@dataclass(frozen=True)
class BaseModelInfo:
    """Descriptors of one base model; ``name`` is the short name used throughout (e.g. ``phi-2``)."""

    name: str
    hf_id: str | None = None
    creator: str | None = None
    family: str | None = None
    params_billion: float | None = None
    instruction_tuned: bool | None = None
    release_date: dt.date | None = None
    context_length: int | None = None


class RegistryError(ValueError):
    """A registry CSV is malformed; the message names the file, line and column."""


def load_registry(path: str | Path | None = None) -> dict[str, BaseModelInfo]:
    """Read a registry CSV (default: the packaged one) into ``{name: BaseModelInfo}``, in file order."""
    path = Path(path) if path is not None else REGISTRY_CSV
    return {info.name: info for info in read_base_models_csv(path)}


def lookup(name_or_hf_id: str, registry: Mapping[str, BaseModelInfo] | None = None) -> BaseModelInfo | None:
    """The registry entry whose short name or Hugging Face id is ``name_or_hf_id`` (case-insensitive)."""
    registry = load_registry() if registry is None else registry
    if name_or_hf_id in registry:
        return registry[name_or_hf_id]
    wanted = name_or_hf_id.casefold()
    for info in registry.values():
        if info.name.casefold() == wanted or (info.hf_id or "").casefold() == wanted:
            return info
    return None


def read_base_models_csv(path: Path) -> list[BaseModelInfo]:
    """Parse and validate a base-models CSV; errors name the file, line and column."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read the base-model registry {path}: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REGISTRY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RegistryError(f"{path.name} is missing column(s) {', '.join(missing)}; expected {', '.join(REGISTRY_COLUMNS)}")
        models: list[BaseModelInfo] = []
        seen: set[str] = set()
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            name = (row["model"] or "").strip()
            if not name:
                raise RegistryError(f"{where}: empty model name")
            if name in seen:
                raise RegistryError(f"{where}: model {name!r} is listed twice")
            seen.add(name)
            models.append(
                BaseModelInfo(
                    name=name,
                    hf_id=_text(row["hf_id"]),
                    creator=_text(row["creator"]),
                    family=_text(row["family"]),
                    params_billion=_number(row["params_billion"], where, "params_billion", float),
                    instruction_tuned=_boolean(row["instruction_tuned"], where),
                    release_date=_date(row["release_date"], where),
                    context_length=_number(row["max_position_embeddings"], where, "max_position_embeddings", int),
                )
            )
    return models


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _number(value: str | None, where: str, column: str, kind: type) -> float | int | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = kind(text)
    except ValueError as exc:
        raise RegistryError(f"{where}: {column} {text!r} is not a {'number' if kind is float else 'whole number'}") from exc
    if number <= 0:
        raise RegistryError(f"{where}: {column} must be positive, got {text}")
    return number


def _boolean(value: str | None, where: str) -> bool | None:
    text = _text(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise RegistryError(f"{where}: instruction_tuned must be true or false, got {text!r}")


def _date(value: str | None, where: str) -> dt.date | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise RegistryError(f"{where}: release_date {text!r} is not a YYYY-MM-DD date") from exc
