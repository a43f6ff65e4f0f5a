"""The built distribution is self-contained: its data files ship inside it, and nothing reads ../shared at run time."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from testsupport import REPO_ROOT, SHARED

PACKAGES = ("advisor", "featurizers", "tasks", "training_runs", "models")
#: Files the code reads at run time; each must be inside the wheel.
REQUIRED_IN_WHEEL = (
    "training_runs/data/lora_land/base_models.csv",
    "training_runs/data/lora_land/results.csv",
    "training_runs/data/lora_land/tasks.csv",
    "training_runs/data/lora_land/api_references.csv",
    "training_runs/migrations/env.py",
    "training_runs/migrations/versions/0001_initial_schema.py",
    "training_runs/migrations/versions/0002_catalog_results.py",
    "models/base_models.csv",
    "models/registry.py",
)
DATA_SUFFIXES = (".csv", ".json", ".joblib")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a wheel from a copy of the source tree (so the build leaves nothing in the repository)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    wheels = list(out.glob("finetune_advisor-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed (without dependencies, which come from this environment) into its own directory."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def test_the_wheel_contains_the_study_numbers_migrations_and_registry(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in REQUIRED_IN_WHEEL if name not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_every_data_file_in_the_source_packages_is_in_the_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data_files = [
        path.relative_to(REPO_ROOT).as_posix()
        for package in ("training_runs", "models")
        for path in (REPO_ROOT / package).rglob("*")
        if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts
    ]
    assert data_files, "expected data files in the source tree"
    assert [name for name in data_files if name not in names] == []


def test_the_wheel_declares_the_advisor_command(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    entry_points = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "advisor = advisor.cli:main" in archive.read(entry_points).decode()


# Runs the installed `advisor` command in-process with an audit hook that records every file opened,
# then reports where each package was imported from.
_PROBE = textwrap.dedent(
    """
    import json, os, sys
    opened = []
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.path.realpath(os.fsdecode(args[0])))
    sys.addaudithook(hook)
    from advisor.cli import main
    codes = [main(["db", "init"]), main(["db", "stats", "--json"])]
    import advisor, featurizers, training_runs, models, training_runs.store
    origins = {m.__name__: m.__file__ for m in (advisor, featurizers, training_runs, models, training_runs.store)}
    print("PROBE " + json.dumps({"codes": codes, "opened": opened, "origins": origins}))
    """
)


@pytest.fixture(scope="module")
def probe(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    workdir = tmp_path_factory.mktemp("elsewhere")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(installed),
        "ADVISOR_DATA_DIR": str(workdir / "data"),
        "HOME": str(workdir),
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, result.stdout
    payload = json.loads(lines[-1][len("PROBE "):])
    payload["stdout"] = result.stdout
    return payload


def test_the_installed_package_is_imported_from_the_installation_not_the_repository(probe: dict, installed: Path) -> None:
    for module, origin in probe["origins"].items():
        assert Path(origin).resolve().is_relative_to(installed.resolve()), f"{module} came from {origin}"


def test_the_installed_advisor_seeds_and_counts_the_study(probe: dict) -> None:
    assert probe["codes"] == [0, 0]
    stats_line = next(line for line in probe["stdout"].splitlines() if line.startswith('{"base_models"'))
    stats = json.loads(stats_line)
    assert (stats["base_models"], stats["tasks"], stats["runs"]) == (10, 31, {"qlora": 310, "zero-shot": 310, "api": 62})


def test_nothing_under_shared_or_the_repository_is_read_at_run_time(probe: dict, installed: Path) -> None:
    shared = os.path.realpath(SHARED)
    repo = os.path.realpath(REPO_ROOT)
    venv = os.path.realpath(REPO_ROOT / ".venv")
    assert [p for p in probe["opened"] if p.startswith(shared + os.sep)] == []
    from_repo = [p for p in probe["opened"] if p.startswith(repo + os.sep) and not p.startswith(venv + os.sep)]
    assert from_repo == []
    # and the study numbers really were read, from the installation
    results_csv = os.path.realpath(installed / "training_runs" / "data" / "lora_land" / "results.csv")
    assert results_csv in probe["opened"]


def test_the_installed_advisor_command_runs_db_init_and_stats(installed: Path, tmp_path: Path) -> None:
    script = installed / "bin" / "advisor"
    assert script.is_file()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(installed), "HOME": str(tmp_path),
           "ADVISOR_DB_URL": f"sqlite:///{tmp_path / 'db' / 'advisor.db'}", "HF_HUB_OFFLINE": "1"}
    for args in (["db", "init"], ["db", "stats", "--json"]):
        result = subprocess.run([str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads(result.stdout)
    assert (stats["base_models"], stats["tasks"], stats["runs"]) == (10, 31, {"qlora": 310, "zero-shot": 310, "api": 62})
