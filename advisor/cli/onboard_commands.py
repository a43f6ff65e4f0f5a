"""``advisor onboard``: bring a base model the study never ran into the advisor, from a few runs of its own.

Without ``--tasks`` it says which reference tasks to run first (the task-choice rule of
:mod:`advisor.onboarding`) and what data they need. With ``--tasks`` it fine-tunes the model on those task
folders with the study's recipe, records each run (fine-tuned and zero-shot), and refits the forecaster on
the results database, so the model's forecasts use its runs.

Examples::

    advisor onboard --base-model Qwen/Qwen2.5-7B                        # which tasks to run first
    advisor onboard --base-model ./smollm2 --name smollm2-135m-instruct \\
        --tasks ../shared/reference_tasks/boolq,../shared/reference_tasks/viggo --max-steps 200 --no-quantize
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from advisor.cli.errors import UserError

#: Tasks proposed when none are given.
DEFAULT_SUGGESTIONS = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    from advisor.cli.finetune_commands import _add_training_options

    p = subparsers.add_parser(
        "onboard",
        help="fine-tune a new base model on a few reference tasks and refit the forecaster with its runs",
        description=(
            "Onboard a base model without study runs. Without --tasks: list the reference tasks whose runs would "
            "shrink its forecast uncertainty most, and the data they need. With --tasks DIR[,DIR...] (reference-task "
            "folders: metadata.yaml + train.jsonl): fine-tune it on each with the study's recipe, record the runs, "
            "and refit the forecaster (written to --out, default <data dir>/predictor, which `advisor rank` then "
            "uses). Models outside the registry need --params-billion and --release-date."
        ),
    )
    p.add_argument("--base-model", required=True, metavar="HF_ID_OR_PATH",
                   help="a local model directory, or a Hugging Face id in the local cache (or a registry name)")
    p.add_argument("--name", metavar="NAME", help="the name to record it under (default: its registry name, else "
                                                  "the directory's name)")
    p.add_argument("--tasks", metavar="DIR[,DIR...]", help="reference-task folders to fine-tune on")
    p.add_argument("--suggest", type=int, default=DEFAULT_SUGGESTIONS, metavar="K",
                   help=f"how many tasks to propose without --tasks (default {DEFAULT_SUGGESTIONS})")
    p.add_argument("--params-billion", type=float, metavar="B", help="parameters, for a model outside the registry")
    p.add_argument("--instruction-tuned", action=argparse.BooleanOptionalAction, default=None,
                   help="whether it is instruction-tuned (a model outside the registry)")
    p.add_argument("--release-date", metavar="YYYY-MM-DD", help="release date, for a model outside the registry")
    p.add_argument("--out", type=Path, metavar="DIR", help="where the refit forecaster goes (default: <data dir>/predictor)")
    p.add_argument("--no-refit", action="store_true", help="record the runs but do not refit the forecaster")
    _add_training_options(p, default_steps=200)
    p.set_defaults(handler=run_onboard)


def _model_name(args: argparse.Namespace) -> str:
    from models.registry import lookup

    if args.name:
        return args.name
    info = lookup(args.base_model)
    if info is not None:
        return info.name
    path = Path(args.base_model).expanduser()
    return path.name if path.exists() else args.base_model.rstrip("/").rsplit("/", 1)[-1].lower()


def _descriptors(args: argparse.Namespace, name: str) -> Any:
    """The model's descriptors row (registry, else the options), or None when neither knows it."""
    import pandas as pd

    from advisor.training_data import descriptors_frame
    from models.registry import lookup

    info = lookup(name) or lookup(args.base_model)
    if info is not None and info.params_billion is not None and info.release_date is not None:
        row = {"model": name, "family": info.family or "other", "params_billion": info.params_billion,
               "instruction_tuned": bool(info.instruction_tuned), "release_date": info.release_date}
    elif args.params_billion is not None and args.release_date is not None:
        row = {"model": name, "family": "other", "params_billion": args.params_billion,
               "instruction_tuned": bool(args.instruction_tuned), "release_date": args.release_date}
    else:
        return None
    return descriptors_frame(pd.DataFrame([row]))


def run_onboard(args: argparse.Namespace) -> int:
    name = _model_name(args)
    descriptors = _descriptors(args, name)
    if descriptors is None:
        raise UserError(f"{name!r} is not in the base-model registry: give --params-billion, --release-date "
                        "(and --instruction-tuned or --no-instruction-tuned) so the forecaster can place it")
    if not args.tasks:
        return _suggest(args, name, descriptors)
    return _onboard(args, name, descriptors)


def _suggest(args: argparse.Namespace, name: str, descriptors: Any) -> int:
    from advisor.api import Advisor
    from advisor.onboarding import plan_onboarding
    from training_runs.store.study import load_study

    if args.suggest < 1:
        raise UserError(f"--suggest must be at least 1, got {args.suggest}")
    advisor = Advisor.load()
    forecaster = advisor._bundle.default
    plan = plan_onboarding(forecaster, name, args.suggest, descriptors)
    study = {t.name: t for t in load_study().tasks}
    if args.json:
        print(json.dumps([{**run.__dict__, "dataset": getattr(study.get(run.task), "dataset_link", None)}
                          for run in plan], indent=2))
        return 0
    if not plan:
        print(f"{name} already has runs on (nearly) every reference task: nothing to onboard.")
        return 0
    runs = forecaster.core_.spread_.runs_.get(name, 0)
    print(f"{name}: {runs} reference task(s) with runs. Run these first (each cuts the uncertainty of its forecast "
          "deviation, averaged over the reference tasks, the most):")
    print(f"{'':>3} {'task':<20}{'kind':<18}{'metric':<13}{'examples':>9}  {'sd before':>9} {'after':>6}  data")
    for i, run in enumerate(plan, 1):
        spec = study.get(run.task)
        data = spec.dataset_link if spec is not None and spec.dataset_link else "the study's dataset"
        examples = f"{run.n_examples:,}" if run.n_examples else "?"
        print(f"{i:>3} {run.task:<20}{str(run.kind):<18}{str(run.metric):<13}{examples:>9}  "
              f"{run.spread_sd_before:>9.3f} {run.spread_sd_after:>6.3f}  {data}")
    print("\nEach needs a task folder (metadata.yaml + train.jsonl, the reference tasks' layout, e.g. "
          "../shared/reference_tasks/<task>); then: advisor onboard --base-model ... --tasks DIR,DIR,...")
    return 0


def _onboard(args: argparse.Namespace, name: str, descriptors: Any) -> int:
    from advisor.api import Advisor, local_artifact_dir
    from advisor.artifact import save_bundle
    from advisor.cli.finetune_commands import _config, _result_line
    from advisor.training import train_bundle
    from advisor.training_data import training_table_from_store
    from featurizers.profile_types import FEATURIZER_VERSION
    from models.registry import BaseModelInfo
    from tasks import load_task_dir
    from training_runs.qlora import run_qlora
    from training_runs.store import Store

    folders = [Path(d.strip()).expanduser() for d in args.tasks.split(",") if d.strip()]
    tasks = [load_task_dir(folder) for folder in folders]  # every folder is checked before any training
    config = _config(args)
    before = Advisor.load()
    study_tasks = set(before.study_results().index)
    with Store.open(args.url) as store:
        if name not in before.trained_models:
            row = descriptors.iloc[0]
            store.add_base_model(BaseModelInfo(
                name=name, hf_id=args.base_model if "/" in args.base_model and not Path(args.base_model).exists() else None,
                family=str(row["family"]), params_billion=float(row["params_billion"]),
                instruction_tuned=bool(row["instruction_tuned"]), release_date=_release_date(row["release_year"], args),
            ))
        results = []
        for task in tasks:
            if task.name not in study_tasks:
                print(f"note: {task.name} is not a study task; its run is recorded but cannot place {name} "
                      "(no study models ran it)", file=sys.stderr)
            print(f"fine-tuning {name} on {task.name} ...", file=sys.stderr, flush=True)
            result = run_qlora(task, args.base_model, config, task=task.name, base_model_name=name, store=store,
                               progress=args.progress)
            results.append(result)
            print(f"{task.name}: {_result_line(result)}")
        if args.no_refit:
            return 0
        table = training_table_from_store(store)
        runs = store.runs_frame()
        profiles = {t: p for t, p in store.task_profiles(FEATURIZER_VERSION).items() if t in study_tasks}
    print(f"refitting the forecaster on {len(table.tasks)} tasks x {len(table.models)} base models ...",
          file=sys.stderr, flush=True)
    bundle, card = train_bundle(table, runs, profiles, featurizer_version=FEATURIZER_VERSION, seed=args.seed,
                                evaluation="none")
    out = save_bundle(bundle, args.out or local_artifact_dir(), card)
    after = bundle.default
    spread = after.core_.spread_
    theta_after, cov_after, _ = spread.posterior(name, descriptors)
    theta_before, cov_before, _ = before._bundle.default.core_.spread_.posterior(name, descriptors)
    print(f"{name}: runs on {spread.runs_.get(name, 0)} training task(s); its usual offset from the task level "
          f"{theta_before[0]:+.3f} ± {cov_before[0, 0] ** 0.5:.3f} before, {theta_after[0]:+.3f} ± "
          f"{cov_after[0, 0] ** 0.5:.3f} after")
    print(f"wrote {out} (predictor {bundle.predictor_version}); `advisor rank` uses it"
          + ("" if args.out is None else f" with ADVISOR_MODEL_DIR={out}"))
    return 0


def _release_date(release_year: float, args: argparse.Namespace):
    import datetime as dt

    if args.release_date:
        return dt.date.fromisoformat(args.release_date)
    year = int(release_year)
    return dt.date(year, 1, 1) + dt.timedelta(days=round((release_year - year) * 365.25))
