"""The Streamlit app, driven with streamlit.testing: every page's main path, end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from advisor.examples import list_examples

APP = Path(__file__).resolve().parents[2] / "app.py"
TIMEOUT = 180


def start() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Every piece of text on the page, joined (markdown, headers, alerts, captions, metrics)."""
    parts = []
    for kind in ("markdown", "header", "subheader", "title", "caption", "success", "info", "warning", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def test_the_advisor_page_runs_the_first_example_end_to_end_and_shows_a_recommendation():
    at = start()
    first = list_examples()[0]
    assert at.radio(key="adv_source").value == "Bundled example"
    assert at.selectbox(key="adv_example").value == first.name
    preview = at.dataframe[0].value
    assert len(preview) == 3 and list(preview.columns) == ["prompt", "completion"]
    assert preview["completion"].isin(["positive", "negative"]).all()

    at.button(key="adv_run").click().run()
    assert not at.exception, at.exception
    page = texts(at)
    assert f"Recommendation for {first.name}" in page
    assert "Best base model" in page and "P(beat GPT-4)" in page
    assert "Chance that the fine-tuned model beats GPT-4" in page
    assert "reference tasks" in page  # 'higher than K of N reference tasks' sentences
    best = [m.value for m in at.metric if m.label == "Best base model"][0]
    verdicts = [a.value for a in [*at.success, *at.info, *at.warning] if "ine-tun" in a.value]
    assert len(verdicts) == 1 and best in verdicts[0]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["JSON", "CSV", "Markdown"]
    ranking = [d.value for d in at.dataframe if "base model" in d.value.columns][0]
    assert ranking["rank"].tolist() == sorted(ranking["rank"].tolist()) and len(ranking) >= 2
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 2  # ranking with intervals + heuristics against the reference tasks


def test_choosing_template_columns_updates_the_live_preview():
    at = start()
    at.selectbox(key="adv_example").select("support_tickets").run()
    key = str([e for e in list_examples() if e.name == "support_tickets"][0].path)
    template = at.text_area(key=f"adv_template:{key}")
    assert "{subject}" in template.value
    template.input("Ticket: {subject}").run()
    assert not at.exception
    assert at.dataframe[0].value["prompt"].str.startswith("Ticket: ").all()
    at.text_area(key=f"adv_template:{key}").input("Ticket: {subjekt}").run()
    assert any("subjekt" in e.value for e in at.error)  # a template field with no column: a message, no trace
    assert not at.exception


def test_the_advisor_page_reads_a_reference_task_folder(reference_tasks):
    at = start()
    at.radio(key="adv_source").set_value("Reference task folder").run()
    at.text_input(key="adv_folder").input(str(reference_tasks / "glue_wnli")).run()
    assert not at.exception and len(at.dataframe[0].value) == 3
    at.button(key="adv_run").click().run()
    assert "Recommendation for glue_wnli" in texts(at)


def test_a_folder_that_is_no_task_folder_gets_a_message_not_a_trace(tmp_path):
    at = start()
    at.radio(key="adv_source").set_value("Reference task folder").run()
    at.text_input(key="adv_folder").input(str(tmp_path)).run()
    assert not at.exception
    assert any("metadata.yaml" in e.value for e in at.error)


def test_the_results_database_page_loads_the_study_and_shows_the_heatmap_with_filters():
    at = start()
    at.switch_page("app_pages/database.py").run()
    assert not at.exception, at.exception
    at.button(key="db_seed").click().run()  # the test database starts empty
    at.run()
    assert not at.exception, at.exception
    assert "fine-tuned score per task and base model" in texts(at)
    assert len(at.get("vega_lite_chart")) == 1
    summary = at.dataframe[0].value
    assert len(summary) == 10 and summary.iloc[0]["mean"] >= summary.iloc[-1]["mean"]
    at.multiselect(key="db_models").set_value(["mistral-7b", "phi-2"]).run()
    at.radio(key="db_value").set_value("lift over base").run()
    assert not at.exception
    summary = at.dataframe[0].value
    assert sorted(summary["base model"]) == ["mistral-7b", "phi-2"]
    assert "lift over base per task and base model" in texts(at)
    assert "No local fine-tuning runs" in texts(at)


def test_the_catalog_page_scores_the_bundled_catalog_and_shows_one_row_per_task():
    at = start()
    at.switch_page("app_pages/score_catalog.py").run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == len(list_examples())
    at.button(key="cat_run").click().run()
    assert not at.exception, at.exception
    n = len(list_examples())
    assert f"{n} tasks: **{n} scored**, 0 reused" in texts(at)
    results = at.dataframe[-1].value
    assert results["name"].tolist() == [e.name for e in list_examples()]
    assert (results["status"] == "ok").all()
    at.button(key="cat_run").click().run()
    assert f"{n} tasks: **0 scored**, {n} reused" in texts(at)


def test_the_catalog_page_reports_a_missing_catalog_file(tmp_path):
    at = start()
    at.switch_page("app_pages/score_catalog.py").run()
    at.radio(key="cat_source").set_value("Catalog file on this machine").run()
    at.text_input(key="cat_path").input(str(tmp_path / "nope.yaml")).run()
    assert not at.exception
    assert any("catalog not found" in e.value for e in at.error)



def test_local_runs_appear_next_to_the_studys_result_on_the_results_database_page():
    from training_runs.store import Store

    with Store.open() as store:  # the test's tmp database (tests/conftest.py)
        store.seed_study()
        study = store.runs_frame(["qlora"]).query("task == 'glue_sst2' and model == 'mistral-7b'")["score"].item()
        store.record_run(task="glue_sst2", base_model="mistral-7b", kind="qlora", score=0.5, metric="accuracy",
                         provenance="local-run-1")
    at = start()
    at.switch_page("app_pages/database.py").run()
    assert not at.exception, at.exception
    local = at.dataframe[-1].value
    assert local[["task", "model", "provenance"]].values.tolist() == [["glue_sst2", "mistral-7b", "local-run-1"]]
    assert local["study score"].item() == pytest.approx(study)
    assert local["difference"].item() == pytest.approx(0.5 - study)
