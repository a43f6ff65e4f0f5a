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
    """Turn a Recommendation into its verdict, confidence and a few sentences.

    The verdict and how sure it is come from the joint forecast's draws of the pick's lift (see
    :mod:`advisor.verdict`); the sentences quote the same forecast.
    """
    best = rec.best
    base = best.measured_base_score if best.measured_base_score is not None else best.predicted_base_score
    headline = {
        "likely": f"Fine-tuning is likely to pay off: fine-tune {best.base_model}.",
        "possible": f"Fine-tuning may pay off; {best.base_model} is the best bet.",
        "unlikely": f"Fine-tuning is unlikely to pay off much; if you do, pick {best.base_model}.",
    }[rec.verdict]
    level = _pct(best.interval_level)
    base_kind = "measured" if best.measured_base_score is not None else "forecast"
    details = [
        f"Expected fine-tuned score of {best.base_model}: {best.predicted_score:.3f} on the task's metric"
        f"{' (' + rec.metric + ')' if rec.metric else ''} ({level} interval {best.interval_low:.3f} to "
        f"{best.interval_high:.3f}).",
        f"Expected lift over its zero-shot score ({base_kind} {base:.3f}): {_pts(best.predicted_lift)}.",
        f"Chance that the fine-tuned model beats GPT-4: {_pct(best.p_beat_gpt4)} (GPT-4 is forecast at "
        f"{rec.gpt4.score:.3f}, {level} interval {rec.gpt4.low:.3f} to {rec.gpt4.high:.3f}).",
        f"Chance that {best.base_model} is the best of the models ranked: {_pct(best.p_best)}; to be sure of the "
        f"pick, validate {', '.join(rec.models_to_validate)} (together {_pct(0.8)} of P(best)); expected regret of "
        f"this pick: {rec.expected_regret:.3f}.",
    ]
    sure = f"How sure: {rec.confidence} (the verdict holds with probability {_pct(rec.verdict_probability)}"
    if best.low_confidence:
        sure += f"; {best.base_model} has {'no' if best.runs == 0 else 'few'} fine-tuning runs, so it is forecast from a prior"
    details.append(
        sure + "). The advisor learned from the LoRA Land study's runs on the reference tasks with a fair data "
        "sample, a small training set; its held-out errors are in the model card."
    )
    details += [f"Note: {w}" for w in rec.warnings]
    return RecommendationSummary(verdict=rec.verdict, confidence=rec.confidence, headline=headline, details=details)


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
        **d,
        "task": task_name or d["task"],
        "summary": {"verdict": summary.verdict, "confidence": summary.confidence,
                    "headline": summary.headline, "details": summary.details},
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
        ["rank", "base model", "fine-tuned score", "interval", "zero-shot", "lift", "P(beat GPT-4)", "P(best)", "note"],
        [[f.rank, f.base_model, f.predicted_score, f"{f.interval_low:.3f} – {f.interval_high:.3f}",
          f.predicted_base_score, f.predicted_lift, f.p_beat_gpt4, f.p_best,
          ("no runs: prior" if f.runs == 0 else "few runs") if f.low_confidence else ""]
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
