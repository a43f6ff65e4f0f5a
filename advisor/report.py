"""Render a Recommendation (and the task's profile) as plain language, JSON, CSV or Markdown.

The app's downloads, ``advisor score-catalog`` and Python users share these renderers, so a
report reads the same wherever it is produced.

Example:
    >>> from advisor.report import summarize, to_markdown    # doctest: +SKIP
    >>> print(summarize(rec).headline)                       # doctest: +SKIP
    Fine-tuning is likely to pay off: fine-tune mistral-7b.
    >>> open("report.md", "w").write(to_markdown(rec, profile, task_name="my task"))  # doctest: +SKIP
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.recommendation import Recommendation
from featurizers.profile_types import TaskProfile

#: The study's heuristics shown first wherever a short list is wanted (tables, catalog rows).
KEY_HEURISTICS: tuple[str, ...] = (
    "n_examples",
    "input_tokens_mean",
    "output_tokens_mean",
    "example_tokens_p95",
    "io_rougeL_mean",
    "compressibility_mean",
)

#: A forecast lift (fine-tuned minus zero-shot score, in score points on [0, 1]) at or above this
#: is called "likely to pay off" when the interval's low end also clears the base score.
PAYS_OFF_LIFT = 0.10
#: Below this forecast lift fine-tuning is called "unlikely to pay off".
MARGINAL_LIFT = 0.03
#: Interval widths (high - low) separating "fairly sure" / "moderately sure" / "not very sure".
SURE_WIDTH = 0.15
MODERATE_WIDTH = 0.30


@dataclass(frozen=True)
class RecommendationSummary:
    """The recommendation in plain language.

    ``verdict`` is ``"likely"``, ``"possible"`` or ``"unlikely"`` (that fine-tuning pays off);
    ``confidence`` is ``"fairly sure"``, ``"moderately sure"`` or ``"not very sure"``.
    """

    verdict: str
    confidence: str
    headline: str
    details: list[str]

    def to_markdown(self) -> str:
        return f"**{self.headline}**\n\n" + "\n".join(f"- {line}" for line in self.details)


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


def _pts(x: float) -> str:
    return f"{x:+.3f}"


def summarize(rec: Recommendation) -> RecommendationSummary:
    """Turn a Recommendation into a verdict, a confidence label and a few sentences.

    The verdict uses the best model's forecast lift: at least ``PAYS_OFF_LIFT`` with the interval's
    low end above the forecast base score is "likely"; below ``MARGINAL_LIFT`` is "unlikely";
    anything between is "possible". Confidence follows the width of the best model's interval and
    drops to "not very sure" when that model is forecast from descriptors only.
    """
    best = rec.best
    base = best.measured_base_score if best.measured_base_score is not None else best.predicted_base_score
    lift = best.predicted_score - base if best.measured_base_score is not None else best.predicted_lift
    if lift >= PAYS_OFF_LIFT and best.interval_low > base:
        verdict = "likely"
    elif lift < MARGINAL_LIFT:
        verdict = "unlikely"
    else:
        verdict = "possible"
    width = best.interval_high - best.interval_low
    if best.low_confidence or width > MODERATE_WIDTH:
        confidence = "not very sure"
    elif width > SURE_WIDTH:
        confidence = "moderately sure"
    else:
        confidence = "fairly sure"

    headline = {
        "likely": f"Fine-tuning is likely to pay off: fine-tune {best.base_model}.",
        "possible": f"Fine-tuning may pay off; {best.base_model} is the best bet.",
        "unlikely": f"Fine-tuning is unlikely to pay off much; if you do, pick {best.base_model}.",
    }[verdict]
    level = _pct(best.interval_level)
    base_kind = "measured" if best.measured_base_score is not None else "forecast"
    details = [
        f"Expected fine-tuned score of {best.base_model}: {best.predicted_score:.3f} on the task's metric "
        f"({level} interval {best.interval_low:.3f} to {best.interval_high:.3f}).",
        f"Expected lift over its zero-shot score ({base_kind} {base:.3f}): {_pts(lift)}.",
        f"Chance that the fine-tuned model beats GPT-4: {_pct(best.p_beat_gpt4)}"
        + (f" (GPT-4 is forecast at {rec.gpt4_reference:.3f})." if rec.gpt4_reference is not None else "."),
    ]
    if len(rec.forecasts) > 1:
        runner = rec.forecasts[1]
        details.append(
            f"Runner-up: {runner.base_model} at {runner.predicted_score:.3f}; expected regret of picking "
            f"{best.base_model}: {rec.expected_regret:.3f}."
        )
    sure = f"How sure: {confidence} (the {level} interval is {width:.2f} wide"
    if best.low_confidence:
        sure += f"; {best.base_model} has no study runs, so it is forecast from its descriptors only"
    details.append(
        sure + "). The advisor learned from the LoRA Land study's runs on the reference tasks with a fair data "
        "sample, a small training set; its cross-validated errors are in the model card."
    )
    return RecommendationSummary(verdict=verdict, confidence=confidence, headline=headline, details=details)


def _profile_dict(rec: Recommendation, profile: TaskProfile | None) -> dict[str, Any]:
    if profile is not None:
        return profile.to_dict()
    return dict(rec.profile or {})


def _clean(value: Any) -> Any:
    """NaN/inf become None so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def report_dict(rec: Recommendation, profile: TaskProfile | None = None, *, task_name: str | None = None) -> dict[str, Any]:
    """Everything in one JSON-safe dict: task, summary, forecasts, explanation, profile, versions."""
    summary = summarize(rec)
    d = rec.to_dict()
    d["profile"] = _profile_dict(rec, profile)
    return _clean({
        "task": task_name,
        "summary": {"verdict": summary.verdict, "confidence": summary.confidence,
                    "headline": summary.headline, "details": summary.details},
        **d,
    })


def to_json(rec: Recommendation, profile: TaskProfile | None = None, *, task_name: str | None = None) -> str:
    """The report as indented JSON (see :func:`report_dict`)."""
    return json.dumps(report_dict(rec, profile, task_name=task_name), indent=2) + "\n"


def to_csv(rec: Recommendation, *, task_name: str | None = None) -> str:
    """The per-model forecasts as CSV, one row per base model, best first."""
    frame = rec.to_frame()
    if task_name is not None:
        frame.insert(0, "task", task_name)
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(rec: Recommendation, profile: TaskProfile | None = None, *, task_name: str | None = None) -> str:
    """A readable report: recommendation, ranking table, explanation and the task's heuristics."""
    summary = summarize(rec)
    prof = _profile_dict(rec, profile)
    lines = [f"# Fine-tuning forecast{': ' + task_name if task_name else ''}", "", summary.to_markdown(), ""]
    lines += ["## Base models, best first", ""]
    lines += _table(
        ["rank", "base model", "fine-tuned score", "interval", "lift", "P(beat GPT-4)", "note"],
        [[f.rank, f.base_model, f.predicted_score, f"{f.interval_low:.3f} – {f.interval_high:.3f}",
          f.predicted_lift, f.p_beat_gpt4, "descriptors only" if f.low_confidence else ""]
         for f in rec.forecasts],
    )
    expl = rec.explanation
    if expl.contributions:
        lines += ["", f"## Why ({expl.method})", ""]
        lines += _table(["heuristic", "value", "effect on the forecast"],
                        [[c.feature, c.value, f"{c.contribution:+.3f}"] for c in expl.contributions])
    if expl.similar_tasks:
        lines += ["", "## Most similar reference tasks", ""]
        lines += _table(["task", "distance", "best fine-tuned model", "its score", "mean lift", "GPT-4"],
                        [[s.task, s.distance, s.best_model, s.best_finetuned_score, s.mean_lift, s.gpt4_score]
                         for s in expl.similar_tasks])
    heuristics = prof.get("heuristics") or {}
    if heuristics:
        intervals = prof.get("intervals") or {}
        lines += ["", "## Task heuristics", ""]
        if prof.get("task_type"):
            lines += [f"Detected task type: {prof['task_type']}.", ""]
        if prof.get("metric"):
            lines += [f"Scores are on the task's metric: {prof['metric']}.", ""]
        names = [n for n in KEY_HEURISTICS if n in heuristics] + sorted(set(heuristics) - set(KEY_HEURISTICS))
        lines += _table(["heuristic", "value", "95% interval"],
                        [[n, heuristics[n], "" if n not in intervals else
                          f"{_fmt(intervals[n][0])} – {_fmt(intervals[n][1])}"] for n in names])
    lines += ["", f"Predictor {rec.predictor_version or '?'}, featurizer {rec.featurizer_version or '?'}.", ""]
    return "\n".join(lines)


_RENDERERS = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown"}


def write_report(rec: Recommendation, path: str | os.PathLike[str], profile: TaskProfile | None = None,
                 *, task_name: str | None = None) -> Path:
    """Write the report in the format its suffix names (.json, .csv, .md), atomically.

    Example:
        >>> write_report(rec, "out/report.md", profile, task_name="tickets")  # doctest: +SKIP
    """
    path = Path(path)
    kind = _RENDERERS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot tell the report format from {path.name!r}: use a .json, .csv or .md suffix")
    text = {"json": lambda: to_json(rec, profile, task_name=task_name),
            "csv": lambda: to_csv(rec, task_name=task_name),
            "markdown": lambda: to_markdown(rec, profile, task_name=task_name)}[kind]()
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename (creating the
    folder); a new file's permissions follow the umask, as a plain write's do."""
    from training_runs.store.files import write_bytes_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, data)
