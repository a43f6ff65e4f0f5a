"""Learning-curve runs: one run per rung of a validation's learning curve, kept apart from the study's kinds."""
from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from store_backends import db_url  # noqa: F401  (fixture)
from training_runs.store import RUN_KINDS, STUDY_RUN_KINDS, Store
from training_runs.store import migrate


def rungs(validation: str = "validate-7f3a") -> list[dict[str, object]]:
    """Three rungs of one validation: provenance ``<validation>/n=<size>`` links them and keeps each unique."""
    return [
        {"task": "tickets", "base_model": "phi-2", "kind": "learning-curve", "score": score, "metric": "accuracy",
         "provenance": f"{validation}/n={n}", "metrics": {"n_examples": n, "eval_loss": loss}}
        for n, score, loss in ((100, 0.41, 1.9), (200, 0.52, 1.6), (400, 0.58, 1.4))
    ]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811
    with Store.open(db_url) as opened:
        yield opened


def test_learning_curve_is_a_run_kind_next_to_the_studys_kinds() -> None:
    assert STUDY_RUN_KINDS == ("qlora", "zero-shot", "api")
    assert RUN_KINDS == (*STUDY_RUN_KINDS, "learning-curve")


def test_the_rungs_of_a_validation_are_recorded_together_with_their_metrics(store: Store) -> None:
    store.record_runs(rungs())
    curve = store.runs_frame(["learning-curve"]).sort_values("score")
    assert curve["provenance"].tolist() == ["validate-7f3a/n=100", "validate-7f3a/n=200", "validate-7f3a/n=400"]
    assert [m["n_examples"] for m in curve["metrics"]] == [100, 200, 400]
    assert curve["metrics"].iloc[0] == {"n_examples": 100, "eval_loss": 1.9}
    assert set(curve["model"]) == {"phi-2"}


def test_stats_count_learning_curve_runs_only_when_there_are_some(store: Store) -> None:
    assert store.stats()["runs"] == {"qlora": 0, "zero-shot": 0, "api": 0}
    store.record_runs(rungs())
    assert store.stats()["runs"] == {"qlora": 0, "zero-shot": 0, "api": 0, "learning-curve": 3}


def test_the_predictors_training_table_ignores_learning_curve_runs(store: Store) -> None:
    from advisor.training_data import training_table_from_store

    store.seed_study()
    before = training_table_from_store(store)
    # Rungs on a study task and base model: were they read, they would change its fine-tuned score.
    store.record_runs([{**rung, "task": "boolq", "base_model": "mistral-7b"} for rung in rungs()])
    after = training_table_from_store(store)
    pd.testing.assert_frame_equal(before.finetuned, after.finetuned)
    pd.testing.assert_frame_equal(before.base, after.base)
    pd.testing.assert_series_equal(before.gpt4, after.gpt4)


def test_a_database_at_0002_is_upgraded_to_accept_learning_curve_runs_and_keeps_its_rows(db_url: str) -> None:  # noqa: F811
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine, "test", revision="0002")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO tasks (name, category) VALUES ('old', 'local')"))
            connection.execute(text("INSERT INTO base_models (name) VALUES ('phi-2')"))
            connection.execute(text(
                "INSERT INTO runs (task_id, model, base_model_id, kind, score, metric, provenance, created_at) "
                "SELECT t.id, 'phi-2', b.id, 'qlora', 0.7, 'accuracy', 'r-old', CURRENT_TIMESTAMP "
                "FROM tasks t, base_models b"))
        with pytest.raises(IntegrityError), engine.begin() as connection:  # the old schema refuses the kind
            connection.execute(text("UPDATE runs SET kind = 'learning-curve'"))
    finally:
        engine.dispose()

    with Store.open(db_url) as store:
        assert store.schema_revision() == "0003"
        assert store.runs_frame()[["task", "model", "kind", "score"]].values.tolist() == [["old", "phi-2", "qlora", 0.7]]
        store.record_runs(rungs())
        assert store.stats()["runs"]["learning-curve"] == 3


def test_the_upgraded_database_still_refuses_unknown_kinds_and_keeps_its_other_constraints(store: Store) -> None:
    store.record_runs(rungs())
    engine = create_engine(store.url)
    try:
        for statement in ("UPDATE runs SET kind = 'lora'", "UPDATE runs SET score = 1.5",
                          "UPDATE runs SET base_model_id = NULL"):
            with pytest.raises(IntegrityError), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
    assert len(store.runs_frame(["learning-curve"])) == 3


def test_downgrading_to_0002_removes_learning_curve_runs_and_keeps_the_rest(store: Store) -> None:
    store.record_run(task="tickets", base_model="phi-2", kind="qlora", score=0.6, metric="accuracy", provenance="r1")
    store.record_runs(rungs())
    engine = create_engine(store.url)
    try:
        with engine.begin() as connection:
            from alembic import command

            command.downgrade(migrate.alembic_config(connection), "0002")
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == "0002"
            kinds = connection.execute(text("SELECT kind FROM runs")).scalars().all()
        assert kinds == ["qlora"]
    finally:
        engine.dispose()
