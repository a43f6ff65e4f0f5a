"""The Catalog page: score a catalog of task datasets in one go and view the results."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from advisor.app_pages import charts
from advisor.app_pages.resources import get_advisor, get_store
from advisor.catalog import rows_frame, score_catalog
from advisor.catalog_spec import parse_catalog_text, read_catalog
from advisor.examples import example_catalog_path

SOURCES = ("Bundled example catalog", "Upload a catalog", "Catalog file on this machine")
RESULT_KEY = "cat_result"


def render() -> None:
    """Draw the page (called by the page script on every rerun)."""
    st.title("Score a task catalog")
    st.caption("A catalog lists many task datasets (YAML or CSV: name, dataset path or task_dir, column options "
               "or template, optional base_scores). Each is profiled and ranked; results are recorded in the "
               "database, so scoring the same catalog again reuses them.")
    entries = _choose_catalog()
    if entries is not None:
        st.dataframe(_entries_table(entries), hide_index=True, width="stretch")
        left, right = st.columns([1, 2])
        workers = left.number_input("Parallel workers", min_value=1, max_value=max(1, os.cpu_count() or 1),
                                    value=1, key="cat_workers")
        out = right.text_input("Also write the results to (a .csv or .parquet path, optional)", key="cat_out")
        if st.button("Score the catalog", type="primary", key="cat_run"):
            _score(entries, int(workers), out.strip() or None)
    if RESULT_KEY in st.session_state:
        _show(st.session_state[RESULT_KEY])


def _choose_catalog() -> list[Any] | None:
    source = st.radio("Catalog", SOURCES, horizontal=True, key="cat_source")
    try:
        if source == SOURCES[0]:
            st.caption("The four bundled example datasets.")
            return read_catalog(example_catalog_path())
        if source == SOURCES[1]:
            upload = st.file_uploader("Catalog (.yaml, .yml or .csv); relative paths are taken from the folder "
                                      "the app runs in", type=["yaml", "yml", "csv"], key="cat_upload")
            if upload is None:
                return None
            return parse_catalog_text(upload.getvalue().decode("utf-8"), Path(upload.name).suffix,
                                      base=Path.cwd(), label=upload.name)
        path = st.text_input("Path of a catalog file (.yaml, .yml or .csv)", key="cat_path")
        if not path.strip():
            return None
        return read_catalog(Path(path.strip()).expanduser())
    except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
        st.error(f"Cannot read this catalog: {exc}")
        return None


def _entries_table(entries: list[Any]) -> Any:
    import pandas as pd

    return pd.DataFrame([{"name": e.name, "data": e.describe(),
                          "columns": ", ".join(f"{k}={v}" for k, v in e.load_kwargs().items() if k != "template"),
                          "measured base scores": len(e.base_scores)} for e in entries])


def _score(entries: list[Any], workers: int, out: str | None) -> None:
    bar = st.progress(0.0, text="Scoring…")
    done: list[dict[str, Any]] = []

    def on_row(row: dict[str, Any]) -> None:
        done.append(row)
        bar.progress(len(done) / len(entries), text=f"{len(done)}/{len(entries)}: {row['name']} ({row['status']})")

    try:
        report = score_catalog(entries, out=out, workers=workers, store=get_store(), advisor=get_advisor(),
                               on_row=on_row)
    except Exception as exc:  # noqa: BLE001 - shown as a message, never a trace
        st.error(f"Scoring stopped: {exc}")
        return
    st.session_state[RESULT_KEY] = {
        "frame": report.to_frame(), "scored": report.n_scored, "reused": report.n_reused,
        "failed": report.n_failed, "seconds": report.elapsed_s, "out": str(report.out) if report.out else None,
    }


def _show(result: dict[str, Any]) -> None:
    frame = result["frame"]
    st.divider()
    st.subheader("Results")
    st.markdown(f"{len(frame)} tasks: **{result['scored']} scored**, {result['reused']} reused from the database, "
                f"{result['failed']} failed — {result['seconds']:.1f} s"
                + (f"; written to `{result['out']}`" if result["out"] else "") + ".")
    if (frame["status"] == "ok").any():
        st.altair_chart(charts.catalog_chart(frame), width="stretch")
    cols = ["name", "status", "best_model", "predicted_score", "interval_low", "interval_high", "predicted_lift",
            "p_beat_gpt4", "verdict", "confidence", "task_type", "error"]
    st.dataframe(rows_frame(frame.to_dict("records"))[cols], hide_index=True, width="stretch")
    failed = frame[frame["status"] == "error"]
    for _, row in failed.iterrows():
        st.error(f"{row['name']}: {row['error']}")
    st.download_button("Download all columns (CSV)", frame.to_csv(index=False), file_name="catalog-scores.csv",
                       mime="text/csv", key="cat_download")
