"""Where finished adapters go, in the layout the multi-LoRA server (``training_runs.serve``) reads.

Layout::

    <adapters_root>/                      e.g. $ADVISOR_DATA_DIR/adapters
        <adapter_name>/                   name: [A-Za-z0-9][A-Za-z0-9._-]{0,127}
            adapter_config.json           peft's LoraConfig (base_model_name_or_path, r, alpha, targets...)
            adapter_model.safetensors     the LoRA weights (peft's save_pretrained)
            run.json                      {"adapter_name", "run_id", "base_model", "base_model_path", "task",
                                           "metric", "base_score", "finetuned_score", "lift",
                                           "created_at", "format": 1}

An adapter directory is complete or absent: it is assembled in a hidden temporary directory
(``.tmp-<name>-*``) inside ``adapters_root`` and renamed into place. Readers should skip names starting
with ``.``. An existing adapter is only ever replaced by one of the same run (a run killed after saving its
adapter and re-run); an adapter of another run under the same name is refused. :func:`list_adapters` and :func:`read_adapter` read the layout back; :func:`validate_adapter_name`
is the name check (no path separators, no ``..``) the server applies to request names too.

Example:
    >>> validate_adapter_name("boolq-tiny-20260101-ab12cd")
    'boolq-tiny-20260101-ab12cd'
    >>> default_adapter_name("My Task!", "meta-llama/Llama-2-7b-hf", "20260101120000-ab12cd")
    'my-task-llama-2-7b-hf-20260101120000-ab12cd'
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training_runs.qlora.errors import QLoRAError
from training_runs.qlora.paths import check_writable_dir
from training_runs.staging import staged_directory

RUN_FILE = "run.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
LAYOUT_FORMAT = 1
ADAPTER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class AdapterNameError(QLoRAError):
    """An adapter name that could escape the adapters directory or is otherwise not allowed."""


class AdapterExistsError(QLoRAError):
    """An adapter of another run already has the name a run would save its adapter under."""


def validate_adapter_name(name: str) -> str:
    """Return ``name`` if it is a safe adapter directory name, else raise :class:`AdapterNameError`."""
    if not isinstance(name, str) or not ADAPTER_NAME_PATTERN.fullmatch(name) or ".." in name:
        raise AdapterNameError(
            f"invalid adapter name {name!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (no path separators, no '..')"
        )
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def default_adapter_name(task: str, base_model: str, run_id: str) -> str:
    """``<task>-<base model's last path part>-<run id>``, lower-cased and made safe."""
    model = base_model.rstrip("/").rsplit("/", 1)[-1]
    name = f"{_slug(task)[:40]}-{_slug(model)[:40]}-{_slug(run_id)[:40]}"
    return validate_adapter_name(name)


def default_adapters_root() -> Path:
    """``$ADVISOR_DATA_DIR/adapters``, else the user data directory's ``adapters``."""
    from training_runs.qlora.paths import data_dir

    return data_dir() / "adapters"


@dataclass(frozen=True)
class AdapterInfo:
    """An adapter on disk and its ``run.json``."""

    name: str
    path: Path
    run_id: str
    base_model: str
    task: str
    metric: str
    base_score: float | None
    finetuned_score: float | None
    lift: float | None
    run: dict[str, Any]


def check_adapters_root(adapters_root: str | os.PathLike[str]) -> Path:
    """Raise :class:`QLoRAError` unless ``adapters_root`` is, or can be created as, a writable directory
    (the runner checks this before training, not after)."""
    return check_writable_dir(adapters_root, "the adapters directory", "--adapters-dir")


def check_name_free(adapters_root: str | os.PathLike[str], name: str, run_id: str) -> None:
    """Raise :class:`AdapterExistsError` if ``name`` is taken by an adapter that is not run ``run_id``'s."""
    target = Path(adapters_root) / validate_adapter_name(name)
    if not target.exists() and not target.is_symlink():
        return
    owner = _run_id_of(target)
    if owner != run_id:
        raise AdapterExistsError(
            f"an adapter named {name!r} already exists in {Path(adapters_root)} (from run {owner or 'unknown'}); "
            "choose another --adapter-name or --adapters-dir"
        )


def _run_id_of(path: Path) -> str | None:
    try:
        run = json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return str(run["run_id"]) if isinstance(run, dict) and run.get("run_id") else None


def save_adapter(model: Any, adapters_root: str | os.PathLike[str], name: str, run_info: dict[str, Any]) -> Path:
    """Write the peft ``model``'s adapter and ``run.json`` to ``<adapters_root>/<name>`` atomically.

    An adapter already there of the same run (``run_info["run_id"]``) is replaced in one step; one of
    another run raises :class:`AdapterExistsError`. Staging directories of killed saves of this name are
    cleared first.
    """
    root = check_adapters_root(adapters_root)
    root.mkdir(parents=True, exist_ok=True)
    check_name_free(root, name, str(run_info.get("run_id", "")))
    _clear_staging(root, name)
    with staged_directory(root / name, prefix=f".tmp-{name}-", mode=0o755) as staging:
        model.save_pretrained(str(staging))
        for required in (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE):
            if not (staging / required).is_file():
                raise QLoRAError(f"peft did not write {required} for adapter {name!r}")
        info = {"adapter_name": name, "format": LAYOUT_FORMAT,
                "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **run_info}
        (staging / RUN_FILE).write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    return root / name


def _clear_staging(root: Path, name: str) -> None:
    # tempfile.mkdtemp appends 8 characters without '-', so another adapter's staging never matches
    own = re.compile(rf"(\.retired-)?\.tmp-{re.escape(name)}-[a-z0-9_]{{8}}")
    for child in root.iterdir():
        if own.fullmatch(child.name):
            shutil.rmtree(child, ignore_errors=True)


def read_adapter(path: str | os.PathLike[str]) -> AdapterInfo:
    """Read one adapter directory; raises :class:`QLoRAError` if a required file is missing or malformed."""
    path = Path(path)
    for required in (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, RUN_FILE):
        if not (path / required).is_file():
            raise QLoRAError(f"{path} is not an adapter directory: {required} is missing")
    try:
        run = json.loads((path / RUN_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise QLoRAError(f"{path / RUN_FILE} is not valid JSON: {exc}") from exc

    def _float(key: str) -> float | None:
        value = run.get(key)
        return None if value is None else float(value)

    return AdapterInfo(
        name=path.name, path=path, run_id=str(run.get("run_id", "")), base_model=str(run.get("base_model", "")),
        task=str(run.get("task", "")), metric=str(run.get("metric", "")), base_score=_float("base_score"),
        finetuned_score=_float("finetuned_score"), lift=_float("lift"), run=run,
    )


def list_adapters(adapters_root: str | os.PathLike[str]) -> list[AdapterInfo]:
    """Every complete adapter under ``adapters_root``, sorted by name (hidden and partial ones skipped)."""
    root = Path(adapters_root)
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir() or not ADAPTER_NAME_PATTERN.fullmatch(child.name):
            continue
        try:
            found.append(read_adapter(child))
        except QLoRAError:
            continue
    return found


def remove_adapter(path: str | os.PathLike[str]) -> None:
    """Delete an adapter directory (used to roll back when recording its run fails)."""
    shutil.rmtree(Path(path), ignore_errors=True)
