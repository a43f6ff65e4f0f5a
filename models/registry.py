"""The base-model registry: the open-weights models the advisor knows, shipped as ``models/base_models.csv``.

The CSV has the columns ``model, hf_id, creator, family, params_billion, instruction_tuned, release_date,
max_position_embeddings`` (the LoRA Land study's Table 2 plus each model's context length) and, optional
in other files of this shape such as the study's own table, ``architecture, license, lora_target_modules``:

- ``architecture``: the ``model_type`` of the model's ``config.json`` (``llama``, ``qwen2``, ``phi3``...);
- ``license``: the licence identifier of the model card (``apache-2.0``, ``mit``, ``llama3.1``, ``gemma``...);
- ``lora_target_modules``: ``;``-separated module names that play the part of the study's LoRA targets,
  ``q_proj`` and ``v_proj`` (the attention query and value projections); architectures that fuse the
  projections name the fused module (Phi-3's ``qkv_proj``).

The first ten rows are the study's base models; the others are current open models without study runs.
``params_billion`` is the total parameter count, ``release_date`` the day the weights were first published
and ``max_position_embeddings`` the native context length in tokens (without RoPE-scaling extensions).

Example:
    >>> registry = load_registry()
    >>> registry["mistral-7b"].hf_id
    'mistralai/Mistral-7B-v0.1'
    >>> lookup("HuggingFaceH4/zephyr-7b-beta", registry).name
    'zephyr-7b-beta'
    >>> registry["phi-3.5-mini-instruct"].lora_target_modules
    ('qkv_proj',)
"""
from __future__ import annotations

import csv
import datetime as dt
import re
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
#: Columns a registry may have beyond :data:`REGISTRY_COLUMNS` (missing ones read as unknown).
OPTIONAL_COLUMNS: tuple[str, ...] = ("architecture", "license", "lora_target_modules")
#: The study's LoRA targets, used for models whose targets are not known.
STUDY_TARGET_MODULES: tuple[str, ...] = ("q_proj", "v_proj")
_HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class BaseModelInfo:
    """Descriptors of one base model; ``name`` is the short name used throughout (e.g. ``phi-2``).

    ``architecture``, ``license`` and ``lora_target_modules`` are described in the module docstring; an
    empty ``lora_target_modules`` means not known.
    """

    name: str
    hf_id: str | None = None
    creator: str | None = None
    family: str | None = None
    params_billion: float | None = None
    instruction_tuned: bool | None = None
    release_date: dt.date | None = None
    context_length: int | None = None
    architecture: str | None = None
    license: str | None = None
    lora_target_modules: tuple[str, ...] = ()


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
        seen_ids: dict[str, str] = {}
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            if None in row:  # more cells than columns: csv.DictReader files the extras under None
                raise RegistryError(f"{where}: more values than the {len(reader.fieldnames or [])} columns")
            name = (row["model"] or "").strip()
            if not name:
                raise RegistryError(f"{where}: empty model name")
            if name in seen:
                raise RegistryError(f"{where}: model {name!r} is listed twice")
            seen.add(name)
            hf_id = _hf_id(row["hf_id"], where)
            if hf_id is not None:
                if hf_id.casefold() in seen_ids:
                    raise RegistryError(f"{where}: hf_id {hf_id!r} is also the id of {seen_ids[hf_id.casefold()]!r}")
                seen_ids[hf_id.casefold()] = name
            models.append(
                BaseModelInfo(
                    name=name,
                    hf_id=hf_id,
                    creator=_text(row["creator"]),
                    family=_text(row["family"]),
                    params_billion=_number(row["params_billion"], where, "params_billion", float),
                    instruction_tuned=_boolean(row["instruction_tuned"], where),
                    release_date=_date(row["release_date"], where),
                    context_length=_number(row["max_position_embeddings"], where, "max_position_embeddings", int),
                    architecture=_text(row.get("architecture")),
                    license=_text(row.get("license")),
                    lora_target_modules=_modules(row.get("lora_target_modules"), where),
                )
            )
    return models


def target_modules_for(
    name_or_hf_id: str | None, architecture: str | None = None, registry: Mapping[str, BaseModelInfo] | None = None
) -> tuple[str, ...]:
    """The LoRA target modules for a base model: the registry entry's, else those the registry gives models of
    the same ``architecture`` (a ``config.json`` ``model_type``), else the study's ``q_proj``/``v_proj``.

    Example:
        >>> target_modules_for("microsoft/Phi-3.5-mini-instruct")
        ('qkv_proj',)
        >>> target_modules_for("my-local-copy", architecture="phi3")
        ('qkv_proj',)
        >>> target_modules_for("acme/unknown")
        ('q_proj', 'v_proj')
    """
    registry = load_registry() if registry is None else registry
    info = lookup(name_or_hf_id, registry) if name_or_hf_id else None
    if info is not None and info.lora_target_modules:
        return info.lora_target_modules
    if architecture:
        known = {i.lora_target_modules for i in registry.values() if i.architecture == architecture and i.lora_target_modules}
        if len(known) == 1:
            return known.pop()
    return STUDY_TARGET_MODULES


def _hf_id(value: str | None, where: str) -> str | None:
    text = _text(value)
    if text is not None and not _HF_ID.fullmatch(text):
        raise RegistryError(f"{where}: hf_id {text!r} is not a Hugging Face id of the form owner/name")
    return text


def _modules(value: str | None, where: str) -> tuple[str, ...]:
    text = _text(value)
    if text is None:
        return ()
    names = tuple(part.strip() for part in text.split(";"))
    bad = [n for n in names if not _MODULE_NAME.fullmatch(n)]
    if bad:
        raise RegistryError(
            f"{where}: lora_target_modules {text!r} must be module names separated by ';' (e.g. q_proj;v_proj)"
        )
    if len(set(names)) != len(names):
        raise RegistryError(f"{where}: lora_target_modules {text!r} names a module twice")
    return names


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
