"""The shipped reference profiles: their format, the study's figure, and agreement with the current featurizer."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from featurizers import FEATURIZER_VERSION, STUDY_HEURISTICS, TaskProfile, load_task_dir, profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "training_runs" / "data" / "reference_profiles.json"
TASKS_CSV = REPO / "training_runs" / "data" / "lora_land" / "tasks.csv"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return json.loads(PROFILES.read_text(encoding="utf-8"))


def test_file_records_the_featurizer_version_and_one_profile_per_task(shipped):
    assert shipped["featurizer_version"] == FEATURIZER_VERSION
    for name, d in shipped["profiles"].items():
        prof = TaskProfile.from_dict(d)
        assert prof.featurizer_version == FEATURIZER_VERSION, name
        assert set(STUDY_HEURISTICS) <= set(prof.heuristics), name
        assert not d["source"].startswith("/"), name  # no machine-specific paths in package data


def test_n_examples_is_the_study_training_split_size(shipped):
    with TASKS_CSV.open(newline="", encoding="utf-8") as f:
        n_train = {r["task"]: int(r["n_train"]) for r in csv.DictReader(f)}
    for name, d in shipped["profiles"].items():
        assert d["n_examples"] == n_train[name] == d["heuristics"]["n_examples"], name


def test_glue_sst2_example_token_p95_is_the_study_figure(shipped):
    assert abs(shipped["profiles"]["glue_sst2"]["heuristics"]["example_tokens_p95"] - 63) <= 2


def test_every_reference_task_with_data_has_a_profile(shipped, reference_tasks: Path):
    with_data = {p.name for p in reference_tasks.iterdir() if (p / "train.jsonl").is_file()}
    assert with_data == set(shipped["profiles"])


def test_shipped_numbers_are_what_the_featurizer_computes_now(shipped, reference_tasks: Path):
    d = shipped["profiles"]["glue_wnli"]
    fresh = profile(load_task_dir(reference_tasks / "glue_wnli", n_examples=d["n_examples"]), embeddings=False)
    for name, value in fresh.heuristics.items():
        assert value == pytest.approx(d["heuristics"][name], rel=1e-9, nan_ok=True), name
    assert fresh.task_type == d["task_type"]
    assert fresh.fingerprint == d["fingerprint"]
