"""Robustness of the forecast to how a dataset is written, over the fair reference tasks.

For each reference task with a fair data sample (``advisor.training_data.UNFAIR_REFERENCE_SAMPLES`` are left
out; magicoder has no data) the benchmark forecasts the task as the study wrote it (its ``metadata.yaml``
template over ``train.jsonl``) and again after each perturbation, and prints per perturbation the median and
the largest change of the forecast mean fine-tuned score (the mean over base models of
``Advisor.load().rank(...)``'s predicted scores), against the goals of issue 12:

* ``reworded``: the task written three other ways, each baked into prompt/completion columns (so the
  featurizers must find the fixed text themselves): field names and no instruction; an added instruction
  in front of the study's template; markdown sections with another instruction and cue. The fields, the
  target and the metric stay: the task is unchanged. Goal: max <= 0.03, median <= 0.015.
* ``repeated 10x``: every row written ten times. Goal: max <= 0.01, and a duplicate warning on every task.
* ``shuffled``: the rows in another order. Goal: max <= 0.02.
* ``half sample``: a random half of the rows. Goal: max <= 0.02.

Every variant keeps the study's metric and training-set size (``n_examples`` = ``n_train`` of tasks.csv), so
only the writing changes. The perturbed files are built at run time in a temporary folder (removed at the
end) from ``../shared/reference_tasks``; nothing is committed. Tasks with more than ``--max-rows`` rows are
cut to a seeded sample of that many rows first (default 2,000; said in the output) so the run takes a few
minutes on two cores.

Usage:
    python benchmarks/robustness_bench.py                 # all fair tasks, the shipped predictor
    python benchmarks/robustness_bench.py --tasks glue_sst2,drop --max-rows 500
    python benchmarks/robustness_bench.py --model-dir /tmp/artifact --json out.json
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from advisor import Advisor  # noqa: E402
from advisor.training_data import UNFAIR_REFERENCE_SAMPLES  # noqa: E402
from featurizers import TaskProfile, load_task, profile  # noqa: E402
from tasks import TaskTemplate  # noqa: E402

SHARED = REPO.parent / "shared" / "reference_tasks"
TASKS_CSV = REPO / "training_runs" / "data" / "lora_land" / "tasks.csv"


@dataclass(frozen=True)
class Goal:
    """The largest (and, when given, median) absolute change of the forecast mean score allowed."""

    max_change: float
    median_change: float | None = None

    def met(self, changes: list[float]) -> bool:
        ok = max(changes) <= self.max_change
        return ok and (self.median_change is None or statistics.median(changes) <= self.median_change)

    def __str__(self) -> str:
        text = f"max <= {self.max_change}"
        return text + (f", median <= {self.median_change}" if self.median_change is not None else "")


GOALS = {
    "reworded": Goal(0.03, 0.015),
    "repeated 10x": Goal(0.01),
    "shuffled": Goal(0.02),
    "half sample": Goal(0.02),
}


def rewordings(template: TaskTemplate) -> dict[str, str]:
    """Three other ways to write ``template``'s prompt: the same fields in the same order, other fixed text."""
    fields = template.fields
    literal = template.prompt_template
    return {
        "field names, no instruction": "\n".join(f"{f}: {{{f}}}" for f in fields) + "\nanswer:",
        "added instruction": "Read the input below and reply with the expected output only, nothing else.\n\n" + literal,
        "markdown sections": (
            "### Instruction\nComplete the task for the input below.\n\n"
            + "\n\n".join(f"### {f}\n{{{f}}}" for f in fields) + "\n\n### Response\n"
        ),
    }


@dataclass
class TaskResult:
    task: str
    rows: int
    sampled_from: int | None
    baseline: float
    kind: str | None
    changes: dict[str, list[float]] = field(default_factory=dict)
    kinds: dict[str, str | None] = field(default_factory=dict)
    duplicate_warning: bool = False


def forecast_mean(advisor: Advisor, prof: TaskProfile) -> float:
    """The mean over base models of the forecast fine-tuned score."""
    return float(np.mean([f.predicted_score for f in advisor.rank(prof).forecasts]))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def study_sizes() -> dict[str, int]:
    with TASKS_CSV.open(newline="", encoding="utf-8") as f:
        return {r["task"]: int(r["n_train"]) for r in csv.DictReader(f) if r.get("n_train")}


def run_task(task_dir: Path, advisor: Advisor, workdir: Path, *, max_rows: int, seed: int, n_train: int | None) -> TaskResult:
    template = TaskTemplate.from_metadata(task_dir / "metadata.yaml")
    lines = (task_dir / "train.jsonl").read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 may sit in a string
    rows = [json.loads(line) for line in lines if line.strip()]
    rng = np.random.default_rng(seed)
    sampled_from = None
    if len(rows) > max_rows:
        sampled_from = len(rows)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), max_rows, replace=False))]
    out = workdir / task_dir.name
    out.mkdir()
    kw = {"n_examples": n_train, "metric": template.metric}

    def templated(path: Path, tpl: TaskTemplate = template) -> TaskProfile:
        return profile(load_task(path, template=tpl, **kw))

    original = write_jsonl(out / "original.jsonl", rows)
    base_prof = templated(original)
    base = forecast_mean(advisor, base_prof)
    result = TaskResult(task_dir.name, len(rows), sampled_from, base, base_prof.task_type)

    def record(name: str, prof: TaskProfile) -> None:
        result.changes.setdefault(name, []).append(abs(forecast_mean(advisor, prof) - base))
        result.kinds[name] = prof.task_type

    for i, (label, text) in enumerate(rewordings(template).items()):
        reworded = TaskTemplate(text, target_col=template.target_col, input_columns=template.fields)
        baked = [{"prompt": ex.prompt, "completion": ex.completion} for ex in load_task(original, template=reworded)]
        path = write_jsonl(out / f"reworded{i}.jsonl", baked)
        record("reworded", profile(load_task(path, prompt_col="prompt", completion_col="completion", **kw)))

    repeated = templated(write_jsonl(out / "repeated.jsonl", rows * 10))
    record("repeated 10x", repeated)
    result.duplicate_warning = any("repeat" in w for w in getattr(repeated, "warnings", ()))
    order = rng.permutation(len(rows))
    record("shuffled", templated(write_jsonl(out / "shuffled.jsonl", [rows[i] for i in order])))
    half = sorted(rng.choice(len(rows), len(rows) // 2, replace=False))
    record("half sample", templated(write_jsonl(out / "half.jsonl", [rows[i] for i in half])))
    return result


def summarize(results: list[TaskResult]) -> dict[str, dict]:
    out = {}
    for name, goal in GOALS.items():
        pairs = [(r.task, c) for r in results for c in r.changes.get(name, [])]
        changes = [c for _, c in pairs]
        worst = max(pairs, key=lambda p: p[1])
        entry = {
            "n": len(changes), "median": statistics.median(changes), "max": worst[1], "worst_task": worst[0],
            "goal": str(goal), "met": goal.met(changes),
        }
        if name == "repeated 10x":
            warned = sum(r.duplicate_warning for r in results)
            entry["duplicate_warnings"] = f"{warned}/{len(results)}"
            entry["met"] = entry["met"] and warned == len(results)
        out[name] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: every fair task with data)")
    ap.add_argument("--max-rows", type=int, default=2000, help="cut bigger samples to this many rows (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-dir", type=Path, default=None, help="a predictor artifact (default: the shipped one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the per-task changes here")
    args = ap.parse_args(argv)
    if not args.shared.is_dir():
        print(f"error: {args.shared} is not a directory (the shared reference tasks)", file=sys.stderr)
        return 2
    chosen = [t for t in args.tasks.split(",") if t]
    dirs = [d for d in sorted(args.shared.iterdir()) if (d / "train.jsonl").is_file() and (d / "metadata.yaml").is_file()
            and d.name not in UNFAIR_REFERENCE_SAMPLES and (not chosen or d.name in chosen)]
    advisor = Advisor.load(args.model_dir)
    sizes = study_sizes()
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        for d in dirs:
            t0 = time.perf_counter()
            r = run_task(d, advisor, Path(tmp), max_rows=args.max_rows, seed=args.seed, n_train=sizes.get(d.name))
            results.append(r)
            worst = max(r.changes, key=lambda k: max(r.changes[k]))
            flips = sorted({k for k, v in r.kinds.items() if v != r.kind})
            print(f"{r.task:20s} rows={r.rows:5d}{'*' if r.sampled_from else ' '} forecast={r.baseline:.3f} "
                  f"kind={r.kind:17s} worst={worst} {max(r.changes[worst]):.4f}"
                  + (f" kind changed under: {', '.join(flips)}" if flips else "")
                  + f" ({time.perf_counter() - t0:.1f}s)", flush=True)
    cut = [r for r in results if r.sampled_from]
    print(f"\n{len(results)} fair reference tasks in {time.perf_counter() - started:.0f}s; predictor "
          f"{advisor.predictor_version}, featurizer {advisor.featurizer_version}; "
          f"* = {len(cut)} task(s) cut to a seeded sample of {args.max_rows:,} rows")
    summary = summarize(results)
    print(f"\n{'perturbation':14s} {'n':>3s} {'median |change|':>16s} {'max |change|':>13s}  {'worst task':20s} {'goal':28s} met")
    for name, s in summary.items():
        extra = f"  (duplicate warnings {s['duplicate_warnings']})" if "duplicate_warnings" in s else ""
        print(f"{name:14s} {s['n']:3d} {s['median']:16.4f} {s['max']:13.4f}  {s['worst_task']:20s} {s['goal']:28s} "
              f"{'yes' if s['met'] else 'NO'}{extra}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "tasks": [r.__dict__ for r in results]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
