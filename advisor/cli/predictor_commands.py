"""``advisor rank``, ``advisor train`` and ``advisor evaluate``: thin wrappers over the predictor API."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from advisor.cli.data_options import add_data_options

    rank = subparsers.add_parser("rank", help="forecast fine-tuning outcomes per base model for a dataset")
    add_data_options(rank)
    rank.add_argument("--base-models", help="comma-separated base models to consider (default: all)")
    rank.add_argument(
        "--base-score", action="append", default=[], metavar="MODEL=SCORE",
        help="a measured zero-shot score of a base model on this task, in [0, 1] (repeatable)",
    )
    rank.add_argument("--artifact", type=Path, help="predictor artifact directory (default: the shipped one)")
    rank.add_argument("--json", action="store_true", help="print a JSON list of per-model forecasts")
    rank.add_argument("--explain", action="store_true", help="also print feature contributions and similar tasks")
    rank.set_defaults(handler=run_rank)

    train = subparsers.add_parser("train", help="refit the predictor from the results database")
    train.add_argument("--url", help="SQLAlchemy database URL (default: ADVISOR_DB_URL or the embedded SQLite file)")
    train.add_argument("--out", type=Path, default=None, help="artifact directory to write (default: the shipped models/)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--candidates", help="comma-separated candidate names to compare (default: all; see `advisor evaluate`)"
    )
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("evaluate", help="cross-validate every candidate predictor and the baseline")
    evaluate.add_argument("--url", help="SQLAlchemy database URL (default: ADVISOR_DB_URL or the embedded SQLite file)")
    evaluate.add_argument("--json", action="store_true", help="print {candidate: metrics} as JSON")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--candidates", help="comma-separated candidate names (default: all; baselines always run)")
    evaluate.set_defaults(handler=run_evaluate)


def parse_base_scores(pairs: list[str]) -> dict[str, float]:
    scores = {}
    for pair in pairs:
        model, sep, value = pair.partition("=")
        if not sep or not model.strip():
            raise UserError(f"--base-score takes MODEL=SCORE, got {pair!r}")
        try:
            scores[model.strip()] = float(value)
        except ValueError:
            raise UserError(f"--base-score {pair!r}: {value!r} is not a number") from None
    return scores


def run_rank(args: argparse.Namespace) -> int:
    from advisor.api import Advisor
    from advisor.cli.data_options import load_task_from_args

    advisor = Advisor.load(args.artifact)
    task = load_task_from_args(args)
    models = [m.strip() for m in args.base_models.split(",") if m.strip()] if args.base_models else None
    rec = advisor.rank(task, base_models=models, base_scores=parse_base_scores(args.base_score))
    if args.json:
        print(json.dumps([f.__dict__ for f in rec.forecasts], indent=2))
        return 0
    frame = rec.to_frame()
    frame["interval"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(frame.interval_low, frame.interval_high)]
    shown = frame[["rank", "base_model", "predicted_score", "interval", "predicted_lift", "p_beat_gpt4"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    best = rec.best
    print(
        f"\nBest: {best.base_model}, forecast {best.predicted_score:.3f} "
        f"({best.interval_level:.0%} interval {best.interval_low:.3f}-{best.interval_high:.3f}), lift "
        f"{best.predicted_lift:+.3f}, P(beat GPT-4) {best.p_beat_gpt4:.0%}; expected regret of this pick "
        f"{rec.expected_regret:.3f}."
    )
    if args.explain:
        print(f"\nWhy ({rec.explanation.method}):")
        for c in rec.explanation.contributions:
            print(f"  {c.feature:<24} = {c.value:10.3f}  moves the forecast {c.contribution:+.3f}")
        print("Most similar reference tasks:")
        for t in rec.explanation.similar_tasks:
            gpt4 = "n/a" if t.gpt4_score is None else f"{t.gpt4_score:.3f}"
            print(f"  {t.task:<20} best {t.best_model} {t.best_finetuned_score:.3f}, mean lift {t.mean_lift:+.3f}, GPT-4 {gpt4}")
    return 0


def select_candidates(table, names: str | None):
    """The default candidates, or the named subset (each name must exist; baselines are always kept)."""
    from advisor.training import candidates_for

    candidates = candidates_for(table)
    if not names:
        return candidates
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    known = {c.name for c in candidates}
    unknown = sorted(wanted - known)
    if unknown:
        raise UserError(f"unknown candidate(s) {unknown}; known: {', '.join(sorted(known))}")
    return [c for c in candidates if c.name in wanted or c.name.startswith("per-model-mean")]


def _open_table(url: str | None):
    from advisor.training_data import training_table_from_store
    from training_runs.store import Store

    store = Store.open(url)
    return store, training_table_from_store(store)


def run_train(args: argparse.Namespace) -> int:
    from advisor.api import default_artifact_dir
    from advisor.artifact import save_bundle
    from advisor.training import train_bundle
    from featurizers.profile_types import FEATURIZER_VERSION

    store, table = _open_table(args.url)
    with store:
        runs = store.runs_frame()
        reference = _reference_heuristics(store)
    print(f"training on {len(table.tasks)} tasks x {len(table.models)} base models ...", file=sys.stderr)
    candidates = select_candidates(table, args.candidates)
    bundle, card = train_bundle(
        table, runs, reference, featurizer_version=FEATURIZER_VERSION, seed=args.seed, candidates=candidates
    )
    out = save_bundle(bundle, args.out or default_artifact_dir(), card)
    ev = bundle.card["evaluation"]
    shipped = ev["candidates"][ev["shipped"]]
    print(
        f"wrote {out} (predictor {bundle.predictor_version}): leave-one-task-out MAE {shipped['mae']:.3f}, "
        f"Spearman {shipped['spearman']:.3f}, mean regret {shipped['mean_regret']:.4f}"
    )
    return 0


def _reference_heuristics(store):
    import pandas as pd

    from featurizers.profile_types import FEATURIZER_VERSION

    profiles = store.task_profiles(FEATURIZER_VERSION)
    tasks = set(store.tasks_frame().query("category != 'local'")["task"])
    return pd.DataFrame({t: p.heuristics for t, p in profiles.items() if t in tasks}).T


def run_evaluate(args: argparse.Namespace) -> int:
    from advisor.evaluation import per_model_mean_baseline
    from advisor.training import evaluate_candidates

    store, table = _open_table(args.url)
    with store:
        runs = store.runs_frame(["qlora"])
    study = runs.rename(columns={"score": "finetuned_score"})
    baseline_all = per_model_mean_baseline(study)
    report = evaluate_candidates(table, select_candidates(table, args.candidates), seed=args.seed)
    result = report.to_dict()
    result["baseline_all_tasks"] = baseline_all.to_dict()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Per-model-mean baseline on all {baseline_all.n_tasks} tasks: MAE {baseline_all.mae:.3f}, "
          f"Spearman {baseline_all.spearman:.3f}, top-1 {baseline_all.top1_hit_rate:.0%}, mean regret {baseline_all.mean_regret:.4f}")
    print(f"\nLeave-one-task-out on the {report.n_tasks} tasks with fair profiles:")
    header = f"{'candidate':<24}{'MAE':>7}{'RMSE':>7}{'Spear':>7}{'top1':>6}{'regret':>8}{'worst':>7}{'AUC':>7}{'Brier':>7}{'cover':>7}{'width':>7}{'baseE':>7}{'liftE':>7}"
    print(header)
    for name, m in report.metrics.items():
        mark = " *" if name in (report.chosen, report.chosen_with_base) else ""
        fmt = lambda v: "   n/a" if v is None else f"{v:7.3f}"  # noqa: E731
        print(f"{name:<24}{m.mae:7.3f}{m.rmse:7.3f}{m.spearman:7.3f}{m.top1_hit_rate:6.0%}{m.mean_regret:8.4f}"
              f"{m.worst_regret:7.3f}{fmt(m.auc_beat_gpt4)}{fmt(m.brier_beat_gpt4)}{fmt(m.interval_coverage)}{fmt(m.interval_width)}"
              f"{fmt(m.base_mae)}{fmt(m.lift_mae)}{mark}")
    print("\n* shipped (without / with measured base scores); baseE, liftE: MAE of the base-score and lift forecasts")
    return 0
