"""``advisor validate``: the learning-curve probe of the advisor's shortlist, combined with its forecast.

Example::

    advisor validate data.csv --top-k 2 --base-model-path mistral-7b=/models/mistral-7b \\
        --base-model-path zephyr-7b-beta=/models/zephyr --ladder 1/64,1/32,1/16,1/8
    advisor validate data.csv --top-k 2 ... --engine ray --ray-address 10.0.0.1:6379 --json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from advisor.cli.data_options import add_data_options, load_task_from_args
from advisor.cli.errors import UserError

DEFAULT_LADDER_TEXT = "1/64,1/32,1/16,1/8"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="fine-tune the advisor's shortlist on nested subsets, extrapolate the curves and rank with P(best)",
        description=(
            "Rank the base models with the advisor, then for each of the top K: measure it zero-shot and "
            "fine-tuned (LoRA, the study's recipe) on nested subsets of the data (--ladder, fractions of the "
            "training pool), recording the held-out loss and task score of every rung as learning-curve runs of "
            "one validation. Each model's curves are extrapolated to the full data (loss: the rectified scaling "
            "law; score: --score-method) and combined with the advisor's forecast by precision weighting; the "
            "result is the predicted full-data score with an interval and P(best). The ladder stops early once "
            "the leader's P(best) reaches --stop-at (checked from the second fine-tuned rung). Models are not "
            "downloaded: map names to local directories with --base-model-path NAME=PATH (other names must be "
            "in the local Hugging Face cache)."
        ),
    )
    add_data_options(parser)
    shortlist = parser.add_argument_group("shortlist and ladder")
    shortlist.add_argument("--top-k", type=int, default=2, metavar="K", help="how many ranked models to probe (default 2)")
    shortlist.add_argument("--models", metavar="A,B", help="probe these ranked models instead of the top K")
    shortlist.add_argument("--base-model-path", action="append", default=[], metavar="NAME=PATH",
                           help="where the base model NAME lies on disk (repeatable)")
    shortlist.add_argument("--ladder", default=DEFAULT_LADDER_TEXT, metavar="F1,F2,...",
                           help=f"increasing fractions of the training pool, e.g. 1/64,1/32 or 0.1,0.2 "
                                f"(default {DEFAULT_LADDER_TEXT})")
    shortlist.add_argument("--epochs", type=float, default=1.0, metavar="E",
                           help="passes over each rung's subset (steps = E x examples / effective batch; default 1)")
    shortlist.add_argument("--min-steps", type=int, default=10, metavar="N", help="at least N steps per rung (default 10)")
    shortlist.add_argument("--max-steps", type=int, metavar="N", help="at most N steps per rung (the step budget)")
    shortlist.add_argument("--target-size", type=int, metavar="N",
                           help="training-set size to forecast (default: the training pool)")
    shortlist.add_argument("--score-method", choices=("error-law", "loss-map"), default="error-law",
                           help="how the full-data score is extrapolated (default error-law)")
    shortlist.add_argument("--stop-at", type=float, default=0.95, metavar="P",
                           help="stop the ladder once the leader's P(best) reaches P (default 0.95)")
    shortlist.add_argument("--level", type=float, default=0.8, metavar="P", help="interval coverage (default 0.8)")
    shortlist.add_argument("--artifact", type=Path, metavar="DIR", help="predictor artifact (default: the shipped one)")
    engine = parser.add_argument_group("where the rungs run")
    engine.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: one rung after the other here; ray: each (model, rung) as a Ray task")
    engine.add_argument("--ray-address", metavar="ADDR", help="an existing Ray cluster (default: a local instance)")
    engine.add_argument("--ray-gpus-per-task", type=float, default=1.0, metavar="G",
                        help="GPUs each Ray task asks for (default 1; 0 runs on CPUs)")
    engine.add_argument("--ray-cpus-per-task", type=float, default=1.0, metavar="C",
                        help="CPUs each Ray task asks for (default 1)")
    _add_recipe_options(parser)
    parser.set_defaults(handler=run_validate)


def _add_recipe_options(parser: argparse.ArgumentParser) -> None:
    from training_runs.qlora import QLoRAConfig

    defaults = QLoRAConfig()
    group = parser.add_argument_group("training recipe of every rung (defaults: the study's)")
    group.add_argument("--eval-size", type=int, default=defaults.eval_size, metavar="N",
                       help=f"held-out examples every rung is measured on (default {defaults.eval_size})")
    group.add_argument("--no-quantize", action="store_true", help="plain LoRA without 4-bit (needed without CUDA)")
    group.add_argument("--batch-size", type=int, default=defaults.per_device_batch_size, metavar="N",
                       help="sequences per micro-batch; accumulation keeps the effective batch at 16")
    group.add_argument("--effective-batch", type=int, default=defaults.effective_batch_size, metavar="N",
                       help=f"sequences per optimizer step (default {defaults.effective_batch_size})")
    group.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length, metavar="N")
    group.add_argument("--learning-rate", type=float, default=defaults.learning_rate, metavar="LR")
    group.add_argument("--lora-r", type=int, default=defaults.lora_r, metavar="R")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--device", metavar="DEV", help="cpu or cuda (default: cuda when available)")
    group.add_argument("--url", metavar="URL", help="results database URL (default: ADVISOR_DB_URL or the local file)")
    group.add_argument("--no-record", action="store_true", help="do not record the rungs in the database")
    group.add_argument("--json", action="store_true", help="print the whole report as JSON")
    group.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def load_advisor(artifact: Path | None) -> Any:
    """The advisor that ranks the base models (a seam the tests replace)."""
    from advisor.api import Advisor

    return Advisor.load(artifact)


def parse_ladder(text: str) -> tuple[float, ...]:
    """``"1/64,1/32,0.25"`` -> ``(0.015625, 0.03125, 0.25)``; anything else raises :class:`UserError`.

    Example:
        >>> parse_ladder("1/8, 1/4,0.5")
        (0.125, 0.25, 0.5)
    """
    fractions = []
    for part in text.split(","):
        try:
            value = float(Fraction(part.strip()))
        except (ValueError, ZeroDivisionError):
            raise UserError(f"--ladder expects fractions separated by commas (e.g. {DEFAULT_LADDER_TEXT}), "
                            f"got {part.strip()!r}") from None
        fractions.append(value)
    return tuple(fractions)


def run_validate(args: argparse.Namespace) -> int:
    from advisor.model_sources import parse_model_paths
    from advisor.validation import validate
    from training_runs.qlora import QLoRAConfig

    if args.file is None and args.task_dir is None:
        raise UserError("no dataset: give FILE or --task-dir DIR")
    if args.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {args.top_k}")
    if args.effective_batch < 1 or args.batch_size < 1 or args.effective_batch % args.batch_size:
        raise UserError(f"--batch-size ({args.batch_size}) must divide --effective-batch ({args.effective_batch})")
    ladder = parse_ladder(args.ladder)
    paths = parse_model_paths(args.base_model_path, option="--base-model-path")
    config = QLoRAConfig(
        load_in_4bit=not args.no_quantize, eval_size=args.eval_size, per_device_batch_size=args.batch_size,
        gradient_accumulation_steps=args.effective_batch // args.batch_size, max_seq_length=args.max_seq_length,
        learning_rate=args.learning_rate, lora_r=args.lora_r, seed=args.seed, device=args.device,
    )
    task_data = load_task_from_args(args)
    advisor = load_advisor(args.artifact)
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    store = None
    if not args.no_record:
        from training_runs.store import Store

        store = Store.open(args.url)
    try:
        report = validate(
            task_data, advisor, paths, top_k=args.top_k, models=models, ladder=ladder, config=config,
            epochs=args.epochs, min_steps=args.min_steps, max_steps=args.max_steps, target_size=args.target_size,
            score_method=args.score_method, store=store, engine=args.engine, ray_address=args.ray_address,
            gpus_per_task=args.ray_gpus_per_task, cpus_per_task=args.ray_cpus_per_task, stop_at=args.stop_at,
            level=args.level, seed=args.seed, progress=None if args.quiet else _progress,
        )
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(_json_safe(report.to_dict()), indent=2))
    else:
        print(format_report(report, recorded=store is not None))
    return 0


def format_report(report: Any, *, recorded: bool = True) -> str:
    """The measured rungs, then per model the advisor's prior, the extrapolation and the combination."""
    models = report.models
    width = max([len("base model")] + [len(m.base_model) for m in models])
    lines = [f"validation {report.validation_id}: {report.task} ({report.metric}), forecast at {report.target_size:,} "
             f"training examples, every rung measured on {report.n_eval} held-out examples", "",
             "measured rungs (held-out loss / score):"]
    rung_sizes = sorted({r.n_train for m in models for r in m.rungs})
    steps = {r.n_train: r.steps for m in models for r in m.rungs}
    header = f"  {'base model':<{width}}" + "".join(
        f"{'zero-shot' if n == 0 else f'{n:,} ex / {steps[n]} st':>20}" for n in rung_sizes)
    lines += [header, "  " + "-" * (len(header) - 2)]
    for m in models:
        cells = {r.n_train: f"{r.eval_loss:.3f} / {r.score:.3f}" for r in m.rungs}
        lines.append(f"  {m.base_model:<{width}}" + "".join(f"{cells.get(n, '-'):>20}" for n in rung_sizes))
    level = f"{report.level:.0%}"
    lines += ["", f"full-data forecast ({level} intervals):"]
    header = (f"  {'base model':<{width}}{'advisor prior':>22}{'extrapolated':>22}{'loss at target':>16}"
              f"{'combined':>22}{'P(best)':>9}")
    lines += [header, "  " + "-" * (len(header) - 2)]
    for m in models:
        extrapolated = _estimate(m.extrapolated) if m.extrapolated or not m.measured else "not learning yet"
        lines.append(f"  {m.base_model:<{width}}{_estimate(m.prior):>22}{extrapolated:>22}"
                     f"{(f'{m.predicted_loss:.3f}' if m.predicted_loss is not None else '-'):>16}"
                     f"{_estimate(m.combined):>22}{m.p_best:>9.3f}")
    best = report.best
    lines += ["", f"best: {best.base_model} (combined {best.combined.mean:.3f}, P(best) {best.p_best:.3f}); "
              f"{report.rungs_run} of {len(report.ladder)} rungs run"
              + (" (stopped early)" if report.stopped_early else ""),
              f"stopping rule: {report.stop_rule}",
              f"score extrapolation: {report.score_method} (a score still at its zero-shot level is not extrapolated: "
              "the prior stands); combination: precision-weighted Gaussians, P(best) by Monte Carlo"]
    n_runs = sum(len(m.run_ids) for m in models)
    lines.append(f"recorded {n_runs} runs (provenance {report.validation_id}...)" if recorded
                 else "not recorded (--no-record)")
    return "\n".join(lines)


def _estimate(estimate: Any) -> str:
    if estimate is None:
        return "-"
    return f"{estimate.mean:.3f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
