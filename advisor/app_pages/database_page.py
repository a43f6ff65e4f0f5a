"""The results-database page: the study's task x base-model results, filters, and local runs beside them."""
from __future__ import annotations

import streamlit as st

from advisor.app_pages import charts, frames
from advisor.app_pages.resources import get_store


def render() -> None:
    """Draw the page (called by the page script on every rerun)."""
    st.title("Results database")
    try:
        store = get_store()
        runs = store.runs_frame()
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a trace
        st.error(f"Cannot open the results database: {exc}")
        return
    st.caption(f"Database: {store.display_url}")
    if runs.empty:
        st.info("The database holds no runs yet. Load the LoRA Land study (10 base models x 31 tasks) to explore it "
                "(the same as `advisor db init`).")
        if st.button("Load the LoRA Land study", type="primary", key="db_seed"):
            with st.spinner("Loading the study's 682 runs…"):
                report = store.seed_study()
            st.success(report.summary())
            st.rerun()
        return

    categories = sorted(runs["category"].dropna().unique())
    models = sorted(runs.loc[runs["kind"] == "qlora", "model"].unique())
    left, mid, right = st.columns([2, 2, 1])
    chosen_categories = left.multiselect("Task categories", categories, key="db_categories",
                                         placeholder="all categories")
    chosen_models = mid.multiselect("Base models", models, key="db_models", placeholder="all base models")
    value = right.radio("Show", ["fine-tuned score", "lift over base"], key="db_value")
    cells = frames.study_matrix(runs, value="score" if value == "fine-tuned score" else "lift",
                                categories=chosen_categories, models=chosen_models)
    st.subheader(f"LoRA Land: {value} per task and base model")
    if cells.empty:
        st.info("No study results match these filters.")
    else:
        st.altair_chart(charts.heatmap_chart(cells, value_title=value), width="stretch")
        summary = cells.groupby("model")["value"].agg(["mean", "min", "max"]).sort_values("mean", ascending=False)
        st.markdown(f"**Average {value} per base model** ({cells['task'].nunique()} tasks)")
        st.dataframe(summary.round(3).rename_axis("base model").reset_index(), hide_index=True, width="stretch")

    st.subheader("Local runs")
    local = frames.local_runs_frame(runs)
    if chosen_models:
        local = local[local["model"].isin(chosen_models)]
    if chosen_categories:
        local_tasks = runs.loc[runs["category"].isin(chosen_categories), "task"].unique()
        local = local[local["task"].isin(local_tasks)]
    if local.empty:
        st.info("No local fine-tuning runs recorded yet; runs recorded by `advisor finetune` appear here next to "
                "the study's result for the same task and base model.")
    else:
        st.dataframe(local, hide_index=True, width="stretch")
        st.caption("'difference' is the local score minus the study's score for the same task and base model.")
