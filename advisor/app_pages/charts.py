"""Altair charts for the app, built from the frames of :mod:`advisor.app_pages.frames` (no Streamlit).

Example:
    >>> chart = ranking_chart(rec)              # doctest: +SKIP
    >>> chart.to_dict()["layer"][0]["mark"]     # doctest: +SKIP
"""
from __future__ import annotations

import altair as alt
import pandas as pd

THIS_COLOR = "#d62728"
REFERENCE_COLOR = "#8c8c8c"


def heuristics_chart(positions: pd.DataFrame, *, width: int = 560) -> alt.VConcatChart:
    """One strip per heuristic: the reference tasks as grey dots, this dataset as a red diamond."""
    charts = []
    for name, part in positions.groupby("heuristic", sort=False):
        label = part["label"].iloc[0]
        scale = alt.Scale(type="log") if bool(part["log_scale"].iloc[0]) else alt.Scale(zero=False)
        base = alt.Chart(part).encode(
            x=alt.X("value:Q", title=label, scale=scale),
            tooltip=[alt.Tooltip("task:N"), alt.Tooltip("value:Q", format=",.3~f")],
        )
        refs = base.transform_filter(alt.datum.is_this == False).mark_circle(  # noqa: E712 - vega expression
            size=60, opacity=0.6, color=REFERENCE_COLOR)
        mine = base.transform_filter(alt.datum.is_this == True).mark_point(  # noqa: E712
            shape="diamond", size=220, filled=True, color=THIS_COLOR)
        charts.append((refs + mine).properties(width=width, height=46, title=str(name)))
    return alt.vconcat(*charts, spacing=8).configure_title(fontSize=12, anchor="start").configure_axis(
        labelFontSize=11)


def ranking_chart(frame: pd.DataFrame, gpt4_reference: float | None = None) -> alt.LayerChart:
    """Forecast fine-tuned score per base model with its interval (bars), best at the top.

    ``frame`` is ``Recommendation.to_frame()``; the zero-shot forecast is a hollow tick and GPT-4's
    forecast score, when given, a dashed rule.
    """
    data = frame.copy()
    data["confidence"] = data["low_confidence"].map({True: "prior: no or few runs", False: "learned from runs"})
    order = data.sort_values("rank")["base_model"].tolist()
    y = alt.Y("base_model:N", sort=order, title=None)
    tooltip = [alt.Tooltip("base_model:N", title="base model"),
               alt.Tooltip("predicted_score:Q", title="fine-tuned", format=".3f"),
               alt.Tooltip("interval_low:Q", title="low", format=".3f"),
               alt.Tooltip("interval_high:Q", title="high", format=".3f"),
               alt.Tooltip("predicted_base_score:Q", title="zero-shot", format=".3f"),
               alt.Tooltip("p_beat_gpt4:Q", title="P(beat GPT-4)", format=".0%"),
               alt.Tooltip("p_best:Q", title="P(best)", format=".0%"),
               alt.Tooltip("runs:Q", title="tasks with runs")]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    interval = base.mark_rule(strokeWidth=3, opacity=0.55).encode(
        x=alt.X("interval_low:Q", title="forecast score on the task's metric", scale=alt.Scale(domain=[0, 1])),
        x2="interval_high:Q")
    point = base.mark_point(filled=True, size=90).encode(
        x="predicted_score:Q",
        color=alt.Color("confidence:N", title=None,
                        scale=alt.Scale(domain=["learned from runs", "prior: no or few runs"],
                                        range=["#1f77b4", "#ff7f0e"]),
                        legend=alt.Legend(orient="bottom") if data["low_confidence"].any() else None))
    zero_shot = base.mark_tick(color=REFERENCE_COLOR, thickness=2, size=14).encode(x="predicted_base_score:Q")
    layers = [interval, zero_shot, point]
    if gpt4_reference is not None:
        rule = alt.Chart(pd.DataFrame({"gpt4": [gpt4_reference]})).mark_rule(
            strokeDash=[5, 4], color=THIS_COLOR).encode(x="gpt4:Q", tooltip=[alt.Tooltip("gpt4:Q", title="GPT-4")])
        layers.append(rule)
    return alt.layer(*layers).properties(height=alt.Step(28), width="container")


def heatmap_chart(cells: pd.DataFrame, *, value_title: str = "fine-tuned score") -> alt.LayerChart:
    """Task x base-model heatmap of ``cells`` (columns task, model, value, category)."""
    diverging = cells["value"].min() < 0 if len(cells) else False
    scale = alt.Scale(scheme="redblue", domainMid=0) if diverging else alt.Scale(scheme="viridis")
    base = alt.Chart(cells).encode(
        x=alt.X("model:N", title="base model", sort="ascending"),
        y=alt.Y("task:N", title=None, sort=alt.EncodingSortField("category"), axis=alt.Axis(labelLimit=220)),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("value:Q", title=value_title, scale=scale),
        tooltip=["task:N", "category:N", "model:N", alt.Tooltip("value:Q", format=".3f")],
    )
    text = base.mark_text(fontSize=9).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.condition("abs(datum.value) > 0.5", alt.value("white"), alt.value("black")) if diverging
        else alt.condition("datum.value < 0.5", alt.value("white"), alt.value("black")),
    )
    return (rect + text).properties(height=alt.Step(20), width="container")


def catalog_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Forecast score (with interval) of each scored catalog task, coloured by its best base model."""
    ok = frame[frame["status"] == "ok"].copy()
    y = alt.Y("name:N", sort=alt.EncodingSortField("predicted_score", order="descending"), title=None)
    base = alt.Chart(ok).encode(y=y, tooltip=[
        "name:N", "best_model:N", alt.Tooltip("predicted_score:Q", format=".3f"),
        alt.Tooltip("predicted_lift:Q", format="+.3f"), alt.Tooltip("p_beat_gpt4:Q", format=".0%")])
    rule = base.mark_rule(strokeWidth=3, opacity=0.5).encode(
        x=alt.X("interval_low:Q", title="forecast fine-tuned score", scale=alt.Scale(domain=[0, 1])),
        x2="interval_high:Q")
    point = base.mark_point(filled=True, size=90).encode(
        x="predicted_score:Q", color=alt.Color("best_model:N", title="best base model"))
    return (rule + point).properties(height=alt.Step(28), width="container")
