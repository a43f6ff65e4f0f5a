"""Where base models are loaded from: ``NAME=PATH_OR_HF_ID`` options, checked offline before any work.

Registry names (``mistral-7b``) and new names alike map to a local model directory or a Hugging Face id;
a bare registry name stands for its Hugging Face id. Nothing is downloaded: an id must already be in the
local Hugging Face cache.

Example:
    >>> parse_model_paths(["mistral-7b=/models/mistral", "mine=./ckpt"], option="--base-model-path")
    {'mistral-7b': '/models/mistral', 'mine': './ckpt'}
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping


class ModelSourceError(ValueError):
    """A base model given badly (malformed ``NAME=PATH``) or not available offline."""


def parse_model_paths(pairs: Iterable[str], *, option: str = "--base-model") -> dict[str, str]:
    """``["name=path", ...]`` -> ``{name: path}``; malformed or repeated names raise :class:`ModelSourceError`."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ModelSourceError(f"{option} expects NAME=PATH, got {pair!r}")
        if name.strip() in mapping:
            raise ModelSourceError(f"{option} names {name.strip()!r} twice")
        mapping[name.strip()] = path.strip()
    return mapping


def resolve_model_sources(names: Iterable[str], paths: Mapping[str, str], *,
                          option: str = "--base-model-path") -> dict[str, str]:
    """``{name: what to load}`` for each of ``names``: its entry in ``paths`` (a directory, checked to hold a
    model, or a Hugging Face id), else the registry's Hugging Face id for it. Every source that cannot be
    found offline is named in one :class:`ModelSourceError` before anything is loaded.

    Example:
        >>> resolve_model_sources(["x"], {"x": "/no/such/dir"})
        Traceback (most recent call last):
        ...
        advisor.model_sources.ModelSourceError: base model x: '/no/such/dir': no such directory
    """
    from models.registry import lookup
    from training_runs.qlora.errors import ModelNotFoundError
    from training_runs.qlora.modeling import locate_model

    sources: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        wanted = paths.get(name)
        if wanted is None:
            info = lookup(name)
            wanted = info.hf_id if info is not None and info.hf_id else name
        try:
            located = locate_model(wanted)
        except ModelNotFoundError as exc:
            raise ModelSourceError(f"base model {name}: {_short(exc)}") from None
        if located == wanted and not _is_local(located) and not _in_hf_cache(located):
            missing.append(f"{name} ({located})")
            continue
        sources[name] = located
    if missing:
        raise ModelSourceError(
            f"base model(s) not available offline: {', '.join(missing)}; point to local copies with {option} NAME=PATH"
        )
    return sources


def _short(exc: Exception) -> str:
    text = str(exc)
    return text.removeprefix("base model ").replace(" is a path but not", ": a path but not")


def _is_local(source: str) -> bool:
    from pathlib import Path

    return Path(source).expanduser().exists()


def _in_hf_cache(hf_id: str) -> bool:
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(hf_id, local_files_only=True)
    except (OSError, ValueError):
        return False
    return True
