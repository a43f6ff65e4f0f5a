"""Reading and validating the LoRA Land study's numbers (the CSVs shipped in ``training_runs/data``).

Everything is validated before anything is written, so a bad file never leaves a half-seeded
database. Errors name the file, the line and the problem.

Example:
    >>> study = load_study()
    >>> len(study.base_models), len(study.tasks), len(study.runs)
    (10, 31, 682)
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from models.registry import BaseModelInfo, RegistryError, read_base_models_csv
from training_runs.errors import SeedDataError

if TYPE_CHECKING:  # importing the featurizers package is slow (text libraries); only profiles need it
    from featurizers.profile_types import TaskProfile

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
STUDY_DIR = DATA_DIR / "lora_land"
REFERENCE_PROFILES_JSON = DATA_DIR / "reference_profiles.json"
#: Provenance of every run that comes from the published study.
STUDY_PROVENANCE = "lora-land-2024"

#: The recipe shared by all 310 fine-tuned models of the study (paper Figure 4, Ludwig config).
STUDY_QLORA_HYPERPARAMETERS: dict[str, Any] = {
    "quantization": "bitsandbytes-4bit",
    "compute_dtype": "bfloat16",
    "lora_r": 8,
    "target_modules": ["q_proj", "v_proj"],
    "optimizer": "adam",
    "learning_rate": 2e-4,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.03,
    "batch_size": 1,
    "gradient_accumulation_steps": 16,
    "train_steps": 40000,
}

TASK_COLUMNS = ("category", "task", "description", "dataset_link", "metric", "n_train", "n_validation", "n_test", "eval_split")
RESULT_COLUMNS = ("task", "category", "metric", "model", "finetuned_score", "lift_over_base", "base_score")
API_COLUMNS = ("task", "category", "metric", "model", "score")


@dataclass(frozen=True)
class TaskSpec:
    """One task's descriptors as published."""

    name: str
    category: str
    metric: str | None = None
    description: str | None = None
    dataset_link: str | None = None
    n_train: int | None = None
    n_validation: int | None = None
    n_test: int | None = None
    eval_split: str | None = None


@dataclass(frozen=True)
class RunSpec:
    """One published score (a run to store)."""

    task: str
    model: str
    kind: str
    score: float
    metric: str
    provenance: str = STUDY_PROVENANCE
    hyperparameters: dict[str, Any] | None = None


@dataclass(frozen=True)
class StudyData:
    """The whole study, validated: base models, tasks and 310 + 310 + 62 runs."""

    base_models: list[BaseModelInfo]
    tasks: list[TaskSpec]
    runs: list[RunSpec]
    profiles: dict[str, TaskProfile] = field(default_factory=dict)


def load_study(data_dir: str | Path | None = None, reference_profiles: str | Path | None = None) -> StudyData:
    """Read and validate the study CSVs in ``data_dir`` (default: the packaged copy).

    ``reference_profiles`` is a JSON file ``{"featurizer_version": str, "profiles": {task: TaskProfile.to_dict()}}``;
    by default the packaged ``training_runs/data/reference_profiles.json`` is read when it exists.
    """
    directory = Path(data_dir) if data_dir is not None else STUDY_DIR
    if not directory.is_dir():
        raise SeedDataError(f"the study data directory {directory} does not exist")
    base_path = directory / "base_models.csv"
    _require_file(base_path)
    try:
        base_models = read_base_models_csv(base_path)
    except RegistryError as exc:
        raise SeedDataError(str(exc)) from exc
    tasks = _read_tasks(directory / "tasks.csv")
    task_by_name = {t.name: t for t in tasks}
    model_names = {m.name for m in base_models}
    runs = _read_results(directory / "results.csv", task_by_name, model_names)
    runs += _read_api(directory / "api_references.csv", task_by_name)
    if reference_profiles is None:
        profiles = load_reference_profiles(REFERENCE_PROFILES_JSON) if REFERENCE_PROFILES_JSON.exists() else {}
    else:
        profiles = load_reference_profiles(Path(reference_profiles))
    unknown = sorted(set(profiles) - set(task_by_name))
    if unknown:
        raise SeedDataError(f"reference profiles name tasks that are not in tasks.csv: {', '.join(unknown)}")
    return StudyData(base_models=base_models, tasks=tasks, runs=runs, profiles=profiles)


def load_reference_profiles(path: Path) -> dict[str, TaskProfile]:
    """Read ``{"featurizer_version": ..., "profiles": {task: profile dict}}`` into TaskProfiles."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedDataError(f"cannot read reference profiles {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SeedDataError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("profiles"), dict):
        raise SeedDataError(f"{path.name} must be an object with a 'profiles' mapping of task name to profile")
    version = payload.get("featurizer_version")
    from featurizers.profile_types import TaskProfile

    profiles: dict[str, TaskProfile] = {}
    for task, raw in payload["profiles"].items():
        try:
            profile = TaskProfile.from_dict(raw)
        except (TypeError, ValueError) as exc:
            raise SeedDataError(f"{path.name}: the profile of task {task!r} is malformed: {exc}") from exc
        if version is not None and profile.featurizer_version != version:
            raise SeedDataError(
                f"{path.name}: the profile of task {task!r} has featurizer version "
                f"{profile.featurizer_version!r} but the file declares {version!r}"
            )
        profiles[task] = profile
    return profiles


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise SeedDataError(f"the study file {path} does not exist")


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(where, row)`` for each data row, after checking the header has every column."""
    _require_file(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SeedDataError(
                f"{path.name} is missing column(s) {', '.join(missing)}; expected {', '.join(columns)}"
            )
        for row in reader:
            if None in row:  # more fields than the header
                raise SeedDataError(f"{path.name} line {reader.line_num}: more fields than the header has columns")
            yield f"{path.name} line {reader.line_num}", {k: (v or "").strip() for k, v in row.items()}


def _required(row: dict[str, str], column: str, where: str) -> str:
    if not row[column]:
        raise SeedDataError(f"{where}: {column} is empty")
    return row[column]


def _optional_count(row: dict[str, str], column: str, where: str) -> int | None:
    text = row[column]
    if not text:
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise SeedDataError(f"{where}: {column} {text!r} is not a whole number") from exc
    if value < 0:
        raise SeedDataError(f"{where}: {column} must not be negative, got {value}")
    return value


def _score(row: dict[str, str], column: str, where: str, *, lower: float = 0.0) -> float:
    text = _required(row, column, where)
    try:
        value = float(text)
    except ValueError as exc:
        raise SeedDataError(f"{where}: {column} {text!r} is not a number") from exc
    if not math.isfinite(value) or not lower <= value <= 1.0:
        raise SeedDataError(f"{where}: {column} {text} is outside [{lower:g}, 1]")
    return value


def _read_tasks(path: Path) -> list[TaskSpec]:
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    for where, row in _rows(path, TASK_COLUMNS):
        name = _required(row, "task", where)
        if name in seen:
            raise SeedDataError(f"{where}: task {name!r} is listed twice")
        seen.add(name)
        tasks.append(
            TaskSpec(
                name=name,
                category=_required(row, "category", where),
                metric=_required(row, "metric", where),
                description=row["description"] or None,
                dataset_link=row["dataset_link"] or None,
                n_train=_optional_count(row, "n_train", where),
                n_validation=_optional_count(row, "n_validation", where),
                n_test=_optional_count(row, "n_test", where),
                eval_split=row["eval_split"] or None,
            )
        )
    return tasks


def _check_task(row: dict[str, str], where: str, tasks: dict[str, TaskSpec]) -> TaskSpec:
    name = _required(row, "task", where)
    if name not in tasks:
        raise SeedDataError(f"{where}: task {name!r} is not in tasks.csv")
    task = tasks[name]
    if row["metric"] and row["metric"] != task.metric:
        raise SeedDataError(f"{where}: metric {row['metric']!r} differs from tasks.csv's {task.metric!r} for {name}")
    return task


def _read_results(path: Path, tasks: dict[str, TaskSpec], models: set[str]) -> list[RunSpec]:
    runs: list[RunSpec] = []
    seen: set[tuple[str, str]] = set()
    for where, row in _rows(path, RESULT_COLUMNS):
        task = _check_task(row, where, tasks)
        model = _required(row, "model", where)
        if model not in models:
            raise SeedDataError(f"{where}: model {model!r} is not in base_models.csv")
        if (task.name, model) in seen:
            raise SeedDataError(f"{where}: {task.name} x {model} is listed twice")
        seen.add((task.name, model))
        finetuned = _score(row, "finetuned_score", where)
        lift = _score(row, "lift_over_base", where, lower=-1.0)
        base = _score(row, "base_score", where)
        if abs(finetuned - lift - base) > 1e-6:
            raise SeedDataError(
                f"{where}: base_score {base} is not finetuned_score - lift_over_base = {finetuned - lift:.3f}"
            )
        metric = task.metric or row["metric"]
        runs.append(RunSpec(task.name, model, "qlora", finetuned, metric, hyperparameters=dict(STUDY_QLORA_HYPERPARAMETERS)))
        runs.append(RunSpec(task.name, model, "zero-shot", base, metric))
    return runs


def _read_api(path: Path, tasks: dict[str, TaskSpec]) -> list[RunSpec]:
    runs: list[RunSpec] = []
    seen: set[tuple[str, str]] = set()
    for where, row in _rows(path, API_COLUMNS):
        task = _check_task(row, where, tasks)
        model = _required(row, "model", where)
        if (task.name, model) in seen:
            raise SeedDataError(f"{where}: {task.name} x {model} is listed twice")
        seen.add((task.name, model))
        runs.append(RunSpec(task.name, model, "api", _score(row, "score", where), task.metric or row["metric"]))
    return runs
