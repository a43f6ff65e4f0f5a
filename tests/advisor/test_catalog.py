"""advisor.catalog.score_catalog and `advisor score-catalog`: one row per task, resumable, robust, parallel."""
from __future__ import annotations

import os
import sys

import pandas as pd
import pytest
import yaml

import featurizers
from advisor.catalog import CatalogEngineError, score_catalog
from advisor.cli import main
from advisor.examples import example_catalog_path, list_examples
from testsupport import free_port
from training_runs.store import Store

REFERENCE_SUBSET = ("boolq", "glue_wnli", "dbpedia")


@pytest.fixture(scope="module")
def advisor():
    """The shipped predictor (``ADVISOR_MODEL_DIR`` may point at another artifact)."""
    from advisor.api import Advisor

    return Advisor.load(os.environ.get("ADVISOR_MODEL_DIR") or None)


@pytest.fixture
def store():
    with Store.open() as s:  # the tmp database of tests/conftest.py
        yield s


def reference_catalog(tmp_path, reference_tasks):
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump({"tasks": [
        {"name": f"ref_{t}", "task_dir": str(reference_tasks / t)} for t in REFERENCE_SUBSET]}))
    return path


def test_a_catalog_of_reference_tasks_writes_one_row_per_task_and_resumes_without_redoing_work(
        tmp_path, reference_tasks, store, advisor, monkeypatch):
    catalog, out = reference_catalog(tmp_path, reference_tasks), tmp_path / "scores.csv"

    first = score_catalog(catalog, out=out, store=store, advisor=advisor)
    rows = pd.read_csv(out)
    assert rows["name"].tolist() == [f"ref_{t}" for t in REFERENCE_SUBSET]
    assert (rows["status"] == "ok").all() and (first.n_scored, first.n_reused, first.n_failed) == (3, 0, 0)
    assert rows["best_model"].isin(advisor.base_models).all()
    assert ((rows["interval_low"] <= rows["predicted_score"]) & (rows["predicted_score"] <= rows["interval_high"])).all()
    assert rows["p_beat_gpt4"].between(0, 1).all() and rows["p_best"].between(0, 1).all()
    assert rows.loc[0, "metric"] == "binary_flex"            # boolq's metadata names binary_accuracy_flex
    assert {"example_tokens_p95", "io_rougeL_mean", "n_examples", "verdict", "fingerprint"} <= set(rows.columns)
    # boolq's metadata gives the full training split's size, not the sample's row count
    assert rows.loc[0, "n_examples"] == featurizers.load_task_dir(reference_tasks / "boolq").n_examples
    # the forecast is the advisor's own forecast for that task's profile
    direct = advisor.rank(featurizers.profile(featurizers.load_task_dir(reference_tasks / "boolq"), embeddings=False))
    assert rows.loc[0, "best_model"] == direct.best.base_model
    assert rows.loc[0, "predicted_score"] == pytest.approx(direct.best.predicted_score, abs=1e-9)
    assert rows.loc[0, "p_best"] == pytest.approx(direct.best.p_best, abs=1e-9)
    # recorded in the database: the result and the profile under the entry's name
    for t in REFERENCE_SUBSET:
        found = store.find_catalog_result(f"ref_{t}", rows.set_index("name").loc[f"ref_{t}", "fingerprint"],
                                          advisor.featurizer_version, advisor.predictor_version)
        assert found["status"] == "ok" and found["result"]["recommendation"]["best"]
    assert {f"ref_{t}" for t in REFERENCE_SUBSET} <= set(store.task_profiles())

    def no_profiling(*args, **kwargs):
        raise AssertionError("a resumed run must not profile again")

    monkeypatch.setattr(featurizers, "profile", no_profiling)
    second = score_catalog(catalog, out=out, store=store, advisor=advisor)
    assert (second.n_scored, second.n_reused, second.n_failed) == (0, 3, 0)
    again = pd.read_csv(out)
    assert again["reused"].all()
    pd.testing.assert_frame_equal(again.drop(columns=["reused"]), rows.drop(columns=["reused"]))


def test_a_failing_entry_is_recorded_with_its_error_and_the_batch_goes_on(tmp_path, store, advisor):
    good = list_examples()[0]
    entries = [
        {"name": "missing", "dataset": str(tmp_path / "nowhere.csv")},
        {"name": "bad_column", "dataset": str(good.path), "prompt_col": "text", "completion_col": "label"},
        {"name": "good", "dataset": str(good.path), **good.load_options()},
    ]
    report = score_catalog(entries, out=tmp_path / "out.parquet", store=store, advisor=advisor)
    frame = pd.read_parquet(tmp_path / "out.parquet")
    assert frame["status"].tolist() == ["error", "error", "ok"]
    assert "nowhere.csv" in frame.loc[0, "error"]
    assert "text" in frame.loc[1, "error"] and "review" in frame.loc[1, "error"]  # names the columns that exist
    assert (report.n_scored, report.n_failed) == (1, 2)
    found = store.find_catalog_result("bad_column", frame.loc[1, "fingerprint"], advisor.featurizer_version,
                                      advisor.predictor_version)
    assert found["status"] == "error" and "text" in found["error"]
    # failed entries are retried on the next run; the good one is reused
    rerun = score_catalog(entries, store=store, advisor=advisor)
    assert (rerun.n_scored, rerun.n_reused, rerun.n_failed) == (0, 1, 2)


def test_changing_an_entrys_columns_or_base_scores_scores_it_again(tmp_path, store, advisor):
    ex = list_examples()[0]
    entry = {"name": "reviews", "dataset": str(ex.path), **ex.load_options()}
    assert score_catalog([entry], store=store, advisor=advisor).n_scored == 1
    assert score_catalog([entry], store=store, advisor=advisor).n_reused == 1
    changed = {**entry, "template": "Review: {review}\nSentiment:"}
    assert score_catalog([changed], store=store, advisor=advisor).n_scored == 1
    model = advisor.base_models[0]
    with_scores = {**changed, "base_scores": {model: 0.5}}
    report = score_catalog([with_scores], store=store, advisor=advisor)
    assert report.n_scored == 1


def test_an_interrupt_leaves_the_finished_rows_intact_and_the_next_run_resumes(tmp_path, store, advisor):
    out = tmp_path / "scores.csv"
    seen = []

    def interrupt_after_first(row):
        seen.append(row["name"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_catalog(example_catalog_path(), out=out, store=store, advisor=advisor, on_row=interrupt_after_first)
    assert pd.read_csv(out)["name"].tolist() == seen  # both finished rows, a readable file
    report = score_catalog(example_catalog_path(), out=out, store=store, advisor=advisor)
    assert (report.n_reused, report.n_scored) == (2, len(list_examples()) - 2)
    assert len(pd.read_csv(out)) == len(list_examples())


def test_two_worker_processes_give_the_same_rows_as_one(tmp_path, store, advisor):
    one = score_catalog(example_catalog_path(), store=store, advisor=advisor).to_frame()
    with Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        two = score_catalog(example_catalog_path(), store=other, advisor=advisor, workers=2).to_frame()
    assert two["n_profiled"].notna().all() and not two["reused"].any()
    cols = ["name", "status", "best_model", "predicted_score", "interval_low", "interval_high", "p_beat_gpt4",
            "example_tokens_p95", "fingerprint"]
    pd.testing.assert_frame_equal(one[cols], two[cols])


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield ray
    ray.shutdown()


def test_the_ray_engine_scores_entries_as_ray_tasks_on_a_running_ray_instance(tmp_path, store, advisor, local_ray):
    local = score_catalog(example_catalog_path(), store=store, advisor=advisor).to_frame()
    with Store.open(f"sqlite:///{tmp_path / 'ray.db'}") as other:
        report = score_catalog(example_catalog_path(), out=tmp_path / "ray.csv", store=other, advisor=advisor,
                               engine="ray")
    assert report.engine == "ray" and report.n_scored == len(list_examples())
    assert local_ray.is_initialized()  # an instance the caller started is left running
    remote = pd.read_csv(tmp_path / "ray.csv")
    assert remote["name"].tolist() == local["name"].tolist()
    assert remote["predicted_score"].tolist() == pytest.approx(local["predicted_score"].tolist(), abs=1e-9)


def test_the_ray_engine_without_ray_installed_says_how_to_install_it(monkeypatch, store, advisor):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(CatalogEngineError, match=r"pip install 'finetune-advisor\[ray\]'"):
        score_catalog(example_catalog_path(), store=store, advisor=advisor, engine="ray")


def test_a_ray_address_where_nothing_answers_is_refused_at_once_naming_it(store, advisor):
    pytest.importorskip("ray")
    port = free_port()
    with pytest.raises(CatalogEngineError, match=f"nothing answers at 127.0.0.1:{port}.*--ray-address"):
        score_catalog(example_catalog_path(), store=store, advisor=advisor, engine="ray",
                      ray_address=f"127.0.0.1:{port}")


def test_bad_options_are_refused_before_any_work(tmp_path, store, advisor):
    with pytest.raises(CatalogEngineError, match="unknown engine"):
        score_catalog(example_catalog_path(), engine="spark", store=store, advisor=advisor)
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        score_catalog(example_catalog_path(), out=tmp_path / "scores.xlsx", store=store, advisor=advisor)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        score_catalog(example_catalog_path(), workers=0, store=store, advisor=advisor)


def test_the_cli_scores_a_catalog_prints_a_summary_and_resumes(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score-catalog", str(example_catalog_path()), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{len(list_examples())} tasks: {len(list_examples())} scored, 0 reused, 0 failed" in err
    assert main(["score-catalog", str(example_catalog_path()), "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert f"0 scored, {len(list_examples())} reused" in captured.err
    assert '"status": "ok"' in captured.out


def test_the_cli_reports_a_bad_catalog_or_option_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {dataset: x.csv}\n")
    assert main(["score-catalog", str(bad)]) == 2
    assert capsys.readouterr().err.strip().endswith("catalog entry #1 has no name")
    assert main(["score-catalog", str(example_catalog_path()), "--ray-address", "127.0.0.1:6379"]) == 2
    assert "--ray-address needs --engine ray" in capsys.readouterr().err


def test_the_help_names_every_catalog_key_and_points_to_the_readme_section(capsys):
    from advisor.catalog_spec import ENTRY_KEYS

    with pytest.raises(SystemExit):
        main(["score-catalog", "--help"])
    text = capsys.readouterr().out
    assert 'README.md, section "Catalog files"' in text
    assert all(key in text for key in ENTRY_KEYS) and "base_score:<model>" in text
    assert max(len(line) for line in text.splitlines()) <= 100


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_output_table_gets_the_permissions_the_umask_gives_a_plain_write(tmp_path, store, advisor, umask):
    import stat

    ex = list_examples()[0]
    previous = os.umask(umask)
    try:
        for suffix in (".csv", ".parquet"):
            out = tmp_path / f"scores{suffix}"
            score_catalog([{"name": "reviews", "dataset": str(ex.path), **ex.load_options()}], out=out,
                          store=store, advisor=advisor)
            assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(previous)


def test_a_read_only_database_is_refused_before_any_entry_is_scored(tmp_path, advisor):
    from training_runs.store import StoreError

    path = tmp_path / "advisor.db"
    Store.open(f"sqlite:///{path}").close()
    with Store.open(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
        with pytest.raises(StoreError, match="is read-only: scoring a catalog records every entry's result"):
            score_catalog(example_catalog_path(), store=read_only, advisor=advisor, out=tmp_path / "scores.csv")
    assert not (tmp_path / "scores.csv").exists()
