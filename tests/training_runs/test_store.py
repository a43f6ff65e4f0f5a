"""The results store, on SQLite and on PostgreSQL: seeding, reading, recording, profiles, catalog, export."""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from featurizers.profile_types import FEATURIZER_VERSION, TaskProfile
from store_backends import db_url, fresh_postgres_database, module_db_url  # noqa: F401  (fixtures)
from training_runs.store import (
    DuplicateRunError,
    RunValidationError,
    Store,
    StoreError,
)
from training_runs.store.study import STUDY_DIR, STUDY_QLORA_HYPERPARAMETERS

EXPECTED_COUNTS = {"base_models": 10, "tasks": 31, "runs": {"qlora": 310, "zero-shot": 310, "api": 62}}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811
    with Store.open(db_url) as opened:
        yield opened


@pytest.fixture
def seeded(store: Store) -> Store:
    store.seed_study()
    return store


@pytest.fixture(scope="module")
def study_store(module_db_url: str) -> Iterator[Store]:  # noqa: F811
    """A seeded store shared by the tests that only read it."""
    with Store.open(module_db_url) as opened:
        opened.seed_study()
        yield opened


def _csv_rows(name: str) -> list[dict[str, str]]:
    with (STUDY_DIR / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def _profile(**heuristics: float) -> TaskProfile:
    return TaskProfile(
        heuristics=dict(heuristics),
        n_examples=120,
        n_profiled=100,
        intervals={"example_tokens_mean": (10.5, 12.25)},
        task_type="classification",
        source="tests",
        fingerprint="abc123",
        sampled=True,
    )


def test_a_new_database_is_empty_and_at_the_newest_schema(store: Store) -> None:
    stats = store.stats()
    assert stats["base_models"] == 0 and stats["tasks"] == 0
    assert stats["runs"] == {"qlora": 0, "zero-shot": 0, "api": 0}
    assert stats["schema_revision"] == "0003"


def test_seeding_loads_10_base_models_31_tasks_and_682_runs(store: Store) -> None:
    report = store.seed_study()
    assert report.added == {"base_models": 10, "tasks": 31, "runs": 682, "task_profiles": report.added["task_profiles"]}
    stats = store.stats()
    assert {k: stats[k] for k in EXPECTED_COUNTS} == EXPECTED_COUNTS
    assert stats["local_runs"] == 0 and stats["local_tasks"] == 0


def test_seeding_twice_adds_nothing_and_keeps_run_ids(seeded: Store) -> None:
    before = seeded.runs_frame()
    report = seeded.seed_study()
    assert not report.changed
    assert report.unchanged["runs"] == 682
    after = seeded.runs_frame()
    pd.testing.assert_frame_equal(before, after)


def test_zero_shot_scores_are_the_finetuned_score_minus_the_published_lift(study_store: Store) -> None:
    runs = study_store.runs_frame(["qlora", "zero-shot"]).set_index(["task", "model", "kind"])["score"]
    for row in _csv_rows("results.csv"):
        finetuned = runs[(row["task"], row["model"], "qlora")]
        zero_shot = runs[(row["task"], row["model"], "zero-shot")]
        assert finetuned == pytest.approx(float(row["finetuned_score"]), abs=1e-12)
        assert zero_shot == pytest.approx(float(row["finetuned_score"]) - float(row["lift_over_base"]), abs=1e-9)


def test_study_runs_carry_metric_category_provenance_and_the_study_recipe(study_store: Store) -> None:
    runs = study_store.runs_frame()
    assert set(runs["provenance"]) == {"lora-land-2024"}
    stsb = runs[runs["task"] == "glue_stsb"]
    assert set(stsb["metric"]) == {"mae"} and set(stsb["category"]) == {"Knowledge"}
    qlora = runs[runs["kind"] == "qlora"]
    assert all(h == STUDY_QLORA_HYPERPARAMETERS for h in qlora["hyperparameters"])
    assert all(h == {} for h in runs[runs["kind"] != "qlora"]["hyperparameters"])
    assert list(runs.columns[:8]) == ["run_id", "task", "model", "kind", "score", "metric", "provenance", "category"]
    assert str(runs["created_at"].dt.tz) == "UTC"


def test_runs_frame_filters_by_kind_and_rejects_unknown_kinds(study_store: Store) -> None:
    api = study_store.runs_frame(["api"])
    assert len(api) == 62 and set(api["model"]) == {"gpt-4", "gpt-3.5-turbo"}
    assert len(study_store.runs_frame("qlora")) == 310
    with pytest.raises(StoreError, match="unknown run kind"):
        study_store.runs_frame(["lora"])


def test_base_models_and_tasks_frames_describe_the_study(study_store: Store) -> None:
    models = study_store.base_models_frame().set_index("model")
    assert len(models) == 10
    assert models.loc["zephyr-7b-beta", "hf_id"] == "HuggingFaceH4/zephyr-7b-beta"
    assert models.loc["phi-2", "context_length"] == 2048
    assert bool(models.loc["gemma-7b-instruct", "instruction_tuned"]) is True
    assert models.loc["mistral-7b", "params_billion"] == pytest.approx(7.24)
    assert str(models.loc["llama-2-7b", "release_date"]) == "2023-07-18"
    tasks = study_store.tasks_frame().set_index("task")
    assert len(tasks) == 31
    assert tasks.loc["boolq", "n_train"] == 9427 and pd.isna(tasks.loc["boolq", "n_test"])
    assert tasks.loc["magicoder", "metric"] == "humaneval"
    assert tasks["category"].value_counts().to_dict() == {
        "Reasoning": 13, "Knowledge": 8, "Classic NLP": 7, "Coding": 2, "Math": 1,
    }


def test_recording_a_local_run_creates_its_task_and_resolves_the_base_model_by_hf_id(seeded: Store) -> None:
    run_id = seeded.record_run(
        task="support-tickets",
        base_model="mistralai/Mistral-7B-v0.1",
        kind="qlora",
        score=0.81,
        metric="accuracy",
        provenance="local-run-7",
        hyperparameters={"lora_r": 8, "target_modules": ("q_proj", "v_proj")},
        wall_time_s=12.5,
        tokens_per_s=830.0,
        peak_memory_gb=5.5,
        metrics={"rouge": 0.7},
    )
    runs = seeded.runs_frame()
    row = runs[runs["run_id"] == run_id].iloc[0]
    assert (row["task"], row["model"], row["kind"], row["category"]) == ("support-tickets", "mistral-7b", "qlora", "local")
    assert row["hyperparameters"] == {"lora_r": 8, "target_modules": ["q_proj", "v_proj"]}
    assert row["metrics"] == {"rouge": 0.7}
    assert (row["wall_time_s"], row["tokens_per_s"], row["peak_memory_gb"]) == (12.5, 830.0, 5.5)
    stats = seeded.stats()
    assert (stats["tasks"], stats["base_models"], stats["local_runs"], stats["local_tasks"]) == (32, 10, 1, 1)


def test_an_unknown_base_model_is_added_with_what_is_known(store: Store) -> None:
    store.record_run(task="t", base_model="acme/tiny-llama", kind="zero-shot", score=0.1, metric="rouge", provenance="r1")
    store.record_run(task="t", base_model="phi-2", kind="qlora", score=0.2, metric="rouge", provenance="r1")
    models = store.base_models_frame().set_index("model")
    assert models.loc["acme/tiny-llama", "hf_id"] == "acme/tiny-llama"
    assert pd.isna(models.loc["acme/tiny-llama", "params_billion"])
    assert models.loc["phi-2", "hf_id"] == "microsoft/phi-2"  # filled in from the registry


def test_api_runs_name_the_api_model_and_no_base_model(store: Store) -> None:
    store.record_run(task="t", base_model="gpt-4o", kind="api", score=0.9, metric="accuracy", provenance="r1")
    assert store.base_models_frame().empty
    assert store.runs_frame()[["model", "kind"]].values.tolist() == [["gpt-4o", "api"]]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"score": 1.2}, "score must be a number in \\[0, 1\\]"),
        ({"score": -0.01}, "score must be a number in \\[0, 1\\]"),
        ({"score": math.nan}, "score must be a number in \\[0, 1\\]"),
        ({"score": "0.5"}, "score must be a number"),
        ({"kind": "lora"}, "kind must be one of qlora, zero-shot, api, learning-curve"),
        ({"task": " "}, "task must be a non-empty string"),
        ({"provenance": ""}, "provenance must be a non-empty string"),
        ({"wall_time_s": -1.0}, "wall_time_s must be a non-negative number"),
        ({"hyperparameters": {"lr": math.inf}}, "hyperparameters\\['lr'\\] cannot be stored as JSON"),
        ({"metrics": {"model": object()}}, "metrics\\['model'\\] cannot be stored as JSON"),
    ],
)
def test_an_invalid_run_is_rejected_with_a_message_and_nothing_is_written(store: Store, change: dict, message: str) -> None:
    run = {"task": "t", "base_model": "phi-2", "kind": "qlora", "score": 0.5, "metric": "accuracy", "provenance": "r1"}
    run.update(change)
    with pytest.raises(RunValidationError, match=message):
        store.record_run(**run)
    stats = store.stats()
    assert (stats["tasks"], stats["base_models"], sum(stats["runs"].values())) == (0, 0, 0)


def test_recording_the_same_run_twice_is_refused(store: Store) -> None:
    run = {"task": "t", "base_model": "phi-2", "kind": "qlora", "score": 0.5, "metric": "accuracy", "provenance": "r1"}
    store.record_run(**run)
    with pytest.raises(DuplicateRunError, match="already recorded"):
        store.record_run(**run)
    assert store.stats()["runs"]["qlora"] == 1
    store.record_run(**{**run, "provenance": "r2"})  # another local run of the same pair is fine
    assert store.stats()["runs"]["qlora"] == 2


def test_the_database_itself_refuses_scores_outside_the_unit_interval(seeded: Store) -> None:
    engine = create_engine(seeded.url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE runs SET score = 1.5 WHERE id = (SELECT MIN(id) FROM runs)"))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE runs SET kind = 'lora' WHERE id = (SELECT MIN(id) FROM runs)"))
    finally:
        engine.dispose()
    assert seeded.runs_frame()["score"].between(0, 1).all()


def test_task_profiles_round_trip_and_are_replaced_per_featurizer_version(store: Store) -> None:
    first = _profile(example_tokens_mean=11.0, label_entropy=math.nan)
    store.save_task_profile("support-tickets", first)
    loaded = store.task_profiles()
    assert list(loaded) == ["support-tickets"] and _same_profile(loaded["support-tickets"], first)
    second = _profile(example_tokens_mean=13.0, label_entropy=0.5)
    store.save_task_profile("support-tickets", second)
    other_version = TaskProfile(heuristics={"example_tokens_mean": 1.0}, n_examples=5, n_profiled=5, featurizer_version="0.9")
    store.save_task_profile("support-tickets", other_version)
    assert store.task_profiles() == {"support-tickets": second}
    assert store.task_profiles("0.9") == {"support-tickets": other_version}
    assert store.task_profiles("no-such-version") == {}
    assert store.stats()["task_profiles"] == 2
    assert store.tasks_frame()[["task", "category"]].values.tolist() == [["support-tickets", "local"]]


def _same_profile(a: TaskProfile, b: TaskProfile) -> bool:
    """Equality where NaN equals NaN (dataclass equality says NaN != NaN)."""
    return a.to_dict() == b.to_dict()


def test_a_profile_with_missing_values_keeps_them_missing(store: Store) -> None:
    profile = _profile(example_tokens_mean=11.0, label_entropy=math.nan)
    store.save_task_profile("t", profile)
    loaded = store.task_profiles()["t"]
    assert math.isnan(loaded["label_entropy"]) and loaded["example_tokens_mean"] == 11.0
    assert _same_profile(loaded, profile)


def test_seeding_loads_reference_profiles_from_the_given_file(store: Store, tmp_path: Path) -> None:
    profiles = {"boolq": _profile(example_tokens_mean=40.0), "gsm8k": _profile(example_tokens_mean=90.0)}
    path = tmp_path / "reference_profiles.json"
    path.write_text(json.dumps({"featurizer_version": FEATURIZER_VERSION,
                                "profiles": {t: p.to_dict() for t, p in profiles.items()}}))
    report = store.seed_study(reference_profiles=path)
    assert report.added["task_profiles"] == 2
    assert store.task_profiles() == profiles
    assert not store.seed_study(reference_profiles=path).changed
    assert store.tasks_frame().set_index("task").loc["boolq", "category"] == "Knowledge"


def test_catalog_results_are_found_by_name_fingerprint_and_versions_and_replaced(store: Store) -> None:
    key = ("support-tickets", "sha256:abc", "1.0", "p-3")
    assert store.find_catalog_result(*key) is None
    store.record_catalog_result(*key, status="error", result=None, error="empty file")
    found = store.find_catalog_result(*key)
    assert found is not None and (found["status"], found["error"], found["result"]) == ("error", "empty file", None)
    store.record_catalog_result(*key, status="ok", result={"best_model": "mistral-7b", "lift": 0.12}, error=None)
    found = store.find_catalog_result(*key)
    assert found is not None and found["status"] == "ok" and found["result"] == {"best_model": "mistral-7b", "lift": 0.12}
    assert found["created_at"].tzinfo is not None
    assert store.find_catalog_result("support-tickets", "sha256:abc", "1.0", "p-4") is None
    assert store.stats()["catalog_results"] == 1
    with pytest.raises(StoreError, match="status must be one of ok, error"):
        store.record_catalog_result(*key, status="done", result=None, error=None)
    with pytest.raises(StoreError, match="needs the error text"):
        store.record_catalog_result(*key, status="error", result=None, error=None)


def test_a_catalog_result_and_its_task_profile_are_recorded_together_or_not_at_all(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    key = ("support-tickets", "sha256:abc", FEATURIZER_VERSION, "p-3")
    profile = _profile(example_tokens_mean=11.0)
    store.record_catalog_result(*key, status="ok", result={"best_model": "phi-2"}, error=None, task_profile=profile)
    assert store.find_catalog_result(*key)["status"] == "ok"
    assert _same_profile(store.task_profiles()["support-tickets"], profile)

    import training_runs.store.store as store_module

    def fail(*args: object) -> None:
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(store_module, "_upsert_profile", fail)
    other = ("other-task", "sha256:def", FEATURIZER_VERSION, "p-3")
    with pytest.raises(RuntimeError, match="killed mid-write"):
        store.record_catalog_result(*other, status="ok", result={}, error=None, task_profile=profile)
    assert store.find_catalog_result(*other) is None and "other-task" not in set(store.tasks_frame()["task"])
    with pytest.raises(StoreError, match="profile must be a TaskProfile"):
        store.record_catalog_result(*other, status="ok", result={}, error=None, task_profile={"n": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_writes_every_run_with_the_documented_columns(seeded: Store, tmp_path: Path, suffix: str) -> None:
    seeded.record_run(task="t", base_model="phi-2", kind="qlora", score=0.5, metric="accuracy",
                      provenance="r1", hyperparameters={"lora_r": 16})
    out_dir = tmp_path / "export"
    out_dir.mkdir()
    out = out_dir / f"runs{suffix}"
    assert seeded.export_runs(out) == 683
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(frame) == 683
    assert {"task", "model", "kind", "score", "metric", "provenance"} <= set(frame.columns)
    assert frame.groupby("kind").size().to_dict() == {"api": 62, "qlora": 311, "zero-shot": 310}
    local = frame[frame["provenance"] == "r1"].iloc[0]
    assert json.loads(local["hyperparameters"]) == {"lora_r": 16}
    expected = seeded.runs_frame().set_index("run_id")["score"]
    assert frame.set_index("run_id")["score"].sort_index().equals(expected.sort_index())
    assert [p.name for p in out_dir.iterdir()] == [out.name]  # no temporary files left behind


def test_export_refuses_an_unknown_suffix_or_a_missing_directory_and_writes_nothing(seeded: Store, tmp_path: Path) -> None:
    out_dir = tmp_path / "export"
    out_dir.mkdir()
    with pytest.raises(StoreError, match="unknown suffix '.xlsx'; use .csv or .parquet"):
        seeded.export_runs(out_dir / "runs.xlsx")
    with pytest.raises(StoreError, match="does not exist"):
        seeded.export_runs(out_dir / "missing" / "runs.csv")
    assert list(out_dir.iterdir()) == []


@pytest.mark.postgres
def test_postgresql_and_sqlite_hold_identical_study_data(tmp_path: Path) -> None:
    frames = []
    for url in (f"sqlite:///{tmp_path / 'advisor.db'}", None):
        databases = fresh_postgres_database() if url is None else iter([url])
        for opened_url in databases:
            with Store.open(opened_url) as store:
                store.seed_study()
                frames.append((store.runs_frame().drop(columns=["run_id", "created_at"]),
                               store.base_models_frame(), store.tasks_frame()))
    for on_sqlite, on_postgres in zip(*frames):
        pd.testing.assert_frame_equal(on_sqlite, on_postgres)


def test_a_plain_postgresql_url_uses_the_psycopg_3_driver_the_postgres_extra_installs() -> None:
    from training_runs.store.engine import resolve_url

    assert resolve_url("postgresql://u@localhost/advisor").drivername == "postgresql+psycopg"
    assert resolve_url("postgres://u@localhost/advisor").drivername == "postgresql+psycopg"
    assert resolve_url("postgresql+psycopg://u@localhost/advisor").drivername == "postgresql+psycopg"


def test_concurrent_writers_all_succeed(db_url: str) -> None:  # noqa: F811
    # Separate stores (engines) in threads behave like separate processes writing to one database.
    def record(worker: int) -> list[int]:
        with Store.open(db_url) as store:
            return [
                store.record_run(task=f"task-{i % 2}", base_model="phi-2", kind="qlora", score=0.5,
                                 metric="accuracy", provenance=f"w{worker}-r{i}")
                for i in range(5)
            ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = [run_id for batch in pool.map(record, range(4)) for run_id in batch]
    assert len(set(ids)) == 20
    with Store.open(db_url) as store:
        stats = store.stats()
    assert (stats["runs"]["qlora"], stats["tasks"], stats["base_models"]) == (20, 2, 1)
