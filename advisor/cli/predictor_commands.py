"""``advisor rank``, ``advisor train`` and ``advisor evaluate``: thin wrappers over the forecaster API."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from advisor.cli.data_options import add_data_options

    rank = subparsers.add_parser(
        "rank", help="forecast fine-tuning outcomes per base model for a dataset",
        description=(
            "Profile a dataset and forecast, for every base model (the study's, any with local runs, and the "
            "registry's models without runs, flagged), the fine-tuned score with an interval, the zero-shot score "
            "and lift, P(beat GPT-4) and P(best), with GPT-4's forecast, a verdict and how sure it is. Every "
            "number comes from one joint forecast. Example: advisor rank data.csv --json"
        ),
    )
    add_data_options(rank)
    rank.add_argument("--base-models", help="comma-separated base models to consider (default: all)")
    rank.add_argument("--no-registry", action="store_true",
                      help="rank only models with fine-tuning runs (leave out the registry's models without runs)")
    rank.add_argument(
        "--base-score", action="append", default=[], metavar="MODEL=SCORE",
        help="a measured zero-shot score of a base model on this task, in [0, 1] (repeatable)",
    )
    rank.add_argument(
        "--probe", action="append", default=[], metavar="NAME=PATH_OR_HF_ID",
        help="measure this base model's zero-shot score on a sample of the data first (as `advisor probe`, not "
             "recorded) and forecast with it (repeatable; a local directory or a cached Hugging Face id)",
    )
    rank.add_argument("--probe-n", type=int, default=200, metavar="N", help="examples the probe samples (default 200)")
    rank.add_argument("--device", metavar="DEV", help="where the probe runs: cpu or cuda (default: cuda when available)")
    rank.add_argument("--sample", type=int, metavar="N", help="profile a deterministic uniform sample of N rows")
    rank.add_argument("--exact", action="store_true", help="profile every row (bounded memory); no sampling")
    rank.add_argument("--artifact", type=Path, help="predictor artifact directory (default: the shipped one)")
    rank.add_argument("--json", action="store_true", help="print the recommendation as one JSON object")
    rank.add_argument("--explain", action="store_true", help="also give feature contributions and similar tasks")
    rank.set_defaults(handler=run_rank)

    train = subparsers.add_parser("train", help="choose and refit the forecaster from the results database")
    train.add_argument("--url", help="SQLAlchemy database URL (default: ADVISOR_DB_URL or the embedded SQLite file)")
    train.add_argument("--out", type=Path, default=None, help="artifact directory to write (default: the shipped models/)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--evaluation", choices=("nested", "plain", "none"), default="nested",
                       help="what the model card measures: nested leave-one-task-out of the selection rule (the "
                            "figures to quote; minutes), plain leave-one-task-out of the chosen recipe, or nothing")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser(
        "evaluate", help="measure the forecaster on held-out tasks (leave-one-task-out)",
        description=(
            "Leave-one-task-out on the reference tasks with fair profiles: the per-model-mean baseline, the "
            "recipe the selection rule chooses on all tasks (plain), and with --nested the selection rule itself "
            "(the choice remade inside every fold: the figures to quote). --onboarding simulates onboarding a new "
            "base model from k runs."
        ),
    )
    evaluate.add_argument("--url", help="SQLAlchemy database URL (default: ADVISOR_DB_URL or the embedded SQLite file)")
    evaluate.add_argument("--nested", action="store_true", help="also nested leave-one-task-out (minutes)")
    evaluate.add_argument("--onboarding", action="store_true",
                          help="the onboarding curve instead: hold out each base model, reveal its runs on k tasks")
    evaluate.add_argument("--tasks", metavar="T1,T2",
                          help="hold out only these tasks (each still forecast from all the others; default: all)")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument("--seed", type=int, default=0)
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

    if args.exact and args.sample is not None:
        raise UserError("give either --sample N or --exact, not both")
    if args.sample is not None and args.sample < 1:
        raise UserError(f"--sample must be a positive number of rows, got {args.sample}")
    if args.probe_n < 1:
        raise UserError(f"--probe-n must be at least 1, got {args.probe_n}")
    advisor = Advisor.load(args.artifact, registry=not args.no_registry)
    task = load_task_from_args(args)
    models = [m.strip() for m in args.base_models.split(",") if m.strip()] if args.base_models else None
    base_scores = parse_base_scores(args.base_score)
    if args.probe:
        base_scores.update(_probe(task, args))
    rec = advisor.rank(task, base_models=models, base_scores=base_scores, sample=args.sample, exact=args.exact)
    if args.json:
        print(json.dumps(rec.to_json_dict(explain=args.explain), indent=2))
        return 0
    print(format_recommendation(rec, explain=args.explain))
    return 0


def _probe(task, args: argparse.Namespace) -> dict[str, float]:
    """Zero-shot scores of the ``--probe`` models on a sample of the task (not recorded)."""
    from advisor.model_sources import parse_model_paths
    from advisor.probes import probe_zero_shot, scores_by_model

    models = parse_model_paths(args.probe, option="--probe")
    results = probe_zero_shot(task, models, n=args.probe_n, device=args.device,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    for r in results:
        print(f"probe: {r.base_model} zero-shot {r.score:.3f} ({r.metric}, {r.n} examples)", file=sys.stderr)
    return scores_by_model(results)


def format_recommendation(rec, *, explain: bool = False) -> str:
    """The recommendation as readable text: the task, GPT-4's forecast, the ranking, the verdict, warnings."""
    level = f"{rec.best.interval_level:.0%}"
    size = "" if rec.n_examples is None else f"; {rec.n_examples:,} examples"
    if rec.unique_examples is not None:
        size += f" ({rec.unique_examples:,} unique)"
    lines = [
        f"task: {rec.task}    metric: {rec.metric or 'n/a'}{size}",
        f"GPT-4 forecast: {rec.gpt4.score:.3f}  ({level} interval {rec.gpt4.low:.3f}-{rec.gpt4.high:.3f})",
        "",
    ]
    header = (f"{'rank':>4}  {'base model':<24}{'forecast':>9}{level + ' interval':>17}{'zero-shot':>10}"
              f"{'lift':>8}{'P(>GPT-4)':>10}{'P(best)':>9}  runs")
    lines += [header, "-" * len(header)]
    for f in rec.forecasts:
        base = f"{f.predicted_base_score:.3f}" + ("m" if f.measured_base_score is not None else " ")
        flag = "  (no runs: prior)" if f.low_confidence and f.runs == 0 else ("  (few runs)" if f.low_confidence else "")
        lines.append(
            f"{f.rank:>4}  {f.base_model:<24}{f.predicted_score:>9.3f}   [{f.interval_low:.3f}, {f.interval_high:.3f}]"
            f"{base:>11}{f.predicted_lift:>+8.3f}{f.p_beat_gpt4:>10.0%}{f.p_best:>9.0%}  {f.runs:>4}{flag}"
        )
    lines.append("(zero-shot: forecast; 'm' marks a measured score)")
    best = rec.best
    lines += [
        "",
        f"Verdict: fine-tuning is {rec.verdict} to pay off ({rec.confidence}: {rec.verdict_probability:.0%}); "
        f"best pick {best.base_model}, forecast {best.predicted_score:.3f}, lift {best.predicted_lift:+.3f}, "
        f"P(beat GPT-4) {best.p_beat_gpt4:.0%}.",
        f"To be sure of the pick, validate {_validation_list(rec)}; "
        f"expected regret of picking {best.base_model}: {rec.expected_regret:.3f}.",
    ]
    if rec.warnings:
        lines += ["", "Warnings:"] + [f"  - {w}" for w in rec.warnings]
    if explain:
        e = rec.explanation
        lines += ["", f"Why ({e.method}; recipe {e.recipe}):"]
        for c in e.contributions:
            lines.append(f"  {c.feature:<36} = {c.value:10.3f}  moves the task level {c.contribution:+.3f}")
        lines.append("Most similar reference tasks (same kind and metric first):")
        for t in e.similar_tasks:
            gpt4 = "n/a" if t.gpt4_score is None else f"{t.gpt4_score:.3f}"
            lines.append(f"  {t.task:<20} best {t.best_model} {t.best_finetuned_score:.3f}, mean lift {t.mean_lift:+.3f}, GPT-4 {gpt4}")
    return "\n".join(lines)


def _validation_list(rec) -> str:
    """The models worth validating: those with runs by name, those without counted (named when few)."""
    runs = {f.base_model: f.runs for f in rec.forecasts}
    with_runs = [m for m in rec.models_to_validate if runs.get(m, 0) > 0]
    without = [m for m in rec.models_to_validate if runs.get(m, 0) == 0]
    text = ", ".join(with_runs)
    note = "together 80% of P(best)"
    if without:
        named = ", ".join(without) if len(without) <= 3 else f"{len(without)} models without runs ({', '.join(without[:3])} ...)"
        text = f"{text} and {named}" if text else named
        note += "; --no-registry ranks only models with runs"
    return f"{text} ({note})"


def _open_table(url: str | None):
    from advisor.training_data import training_table_from_store
    from training_runs.store import Store

    store = Store.open(url, create=False)  # training reads the results database: never create an empty one
    return store, training_table_from_store(store)


def run_train(args: argparse.Namespace) -> int:
    from advisor.api import default_artifact_dir
    from advisor.artifact import save_bundle
    from advisor.training import train_bundle
    from featurizers.profile_types import FEATURIZER_VERSION

    store, table = _open_table(args.url)
    with store:
        runs = store.runs_frame()
        reference = _reference_profiles(store)
    print(f"training on {len(table.tasks)} tasks x {len(table.models)} base models "
          f"(evaluation: {args.evaluation}) ...", file=sys.stderr)
    bundle, card = train_bundle(table, runs, reference, featurizer_version=FEATURIZER_VERSION, seed=args.seed,
                                evaluation=args.evaluation)
    out = save_bundle(bundle, args.out or default_artifact_dir(), card)
    ev = bundle.card["evaluation"]
    line = f"wrote {out} (predictor {bundle.predictor_version}; recipe {bundle.card['recipe']})"
    if ev:
        key = "selection rule (nested)" if "selection rule (nested)" in ev["metrics"] else "chosen recipe (plain)"
        m = ev["metrics"][key]
        line += (f": {key} MAE {m['mae']:.3f}, Spearman {m['spearman']:.3f}, mean regret {m['mean_regret']:.4f}, "
                 f"coverage {m['interval_coverage']:.2f}")
    print(line)
    return 0


def _reference_profiles(store) -> dict:
    from featurizers.profile_types import FEATURIZER_VERSION

    profiles = store.task_profiles(FEATURIZER_VERSION)
    tasks = set(store.tasks_frame().query("category != 'local'")["task"])
    return {t: p for t, p in profiles.items() if t in tasks}


METRIC_COLUMNS = (
    ("MAE", "mae", 3), ("Spear", "spearman", 3), ("top1", "top1_hit_rate", 2), ("regret", "mean_regret", 4),
    ("worst", "worst_regret", 3), ("AUC", "auc_beat_gpt4", 3), ("Brier", "brier_beat_gpt4", 3),
    ("cover", "interval_coverage", 3), ("ratio", "width_ratio", 1), ("Winkl", "winkler", 3),
    ("Wconst", "winkler_constant", 3), ("expReg", "expected_regret", 4), ("liftE", "lift_mae", 3),
)


def format_metrics_table(metrics: dict) -> str:
    """One row per forecaster with the held-out figures."""
    header = f"{'forecaster':<40}" + "".join(f"{title:>8}" for title, _, _ in METRIC_COLUMNS)
    lines = [header]
    for name, m in metrics.items():
        cells = []
        for _, key, digits in METRIC_COLUMNS:
            v = m.get(key)
            cells.append(f"{'n/a':>8}" if v is None else f"{v:>8.{digits}f}")
        lines.append(f"{name:<40}" + "".join(cells))
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from advisor.evaluation import per_model_mean_baseline
    from advisor.selection import choose_recipe
    from advisor.training import evaluate

    store, table = _open_table(args.url)
    with store:
        runs = store.runs_frame(["qlora"])
    if args.onboarding:
        from advisor.onboarding import onboarding_curve

        curve = onboarding_curve(table, seed=args.seed)
        if args.json:
            print(json.dumps(curve.to_dict(), indent=2))
        else:
            print(curve.format())
        return 0
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    unknown = [t for t in tasks or () if t not in table.tasks]
    if unknown:
        raise UserError(f"unknown task(s) {unknown}; the evaluation tasks are: {', '.join(table.tasks)}")
    baseline_all = per_model_mean_baseline(runs.rename(columns={"score": "finetuned_score"}))
    selection = choose_recipe(table, seed=args.seed)
    selection_base = choose_recipe(table, uses_base_scores=True, seed=args.seed)
    report = evaluate(table, selection.recipe, selection_base.recipe, nested=args.nested, seed=args.seed, tasks=tasks)
    result = {
        **report.to_dict(),
        "recipe": selection.recipe.name,
        "recipe_with_base_scores": selection_base.recipe.name,
        "selection": selection.to_dict(),
        "baseline_all_tasks": baseline_all,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Per-model-mean baseline on all {baseline_all['n_tasks']} tasks: MAE {baseline_all['mae']:.3f}, "
          f"Spearman {baseline_all['spearman']:.3f}, top-1 {baseline_all['top1_hit_rate']:.0%}, "
          f"mean regret {baseline_all['mean_regret']:.4f}")
    print(f"\nChosen on all {report.n_tasks} fair tasks: {selection.recipe.name}")
    print(f"With measured zero-shot scores: {selection_base.recipe.name}")
    print(f"\nLeave-one-task-out, {report.n_tasks} held-out tasks (of {len(table.tasks)} with fair profiles):")
    print(format_metrics_table(result["metrics"]))
    if not args.nested:
        print("\n(plain rows saw every task while choosing the recipe; `advisor evaluate --nested` measures the "
              "selection rule itself, the figures to quote)")
    return 0
