"""``advisor profile``: the heuristics of a task dataset, as a table or as JSON."""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING

from advisor.cli.data_options import add_data_options, load_task_from_args

if TYPE_CHECKING:  # featurizers (tokenizers, scikit-learn ...) load when a profile runs, not for --help
    from featurizers import TaskProfile


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "profile",
        help="compute a task dataset's complexity heuristics",
        description=(
            "Profile a task dataset: the LoRA Land complexity heuristics (token lengths, input/output ROUGE-L, "
            "compressibility, size) and more, with 95%% intervals when a sample is used. "
            "Examples: advisor profile data.csv --prompt-col question --completion-col answer; "
            "advisor profile --task-dir ../shared/reference_tasks/glue_sst2 --json"
        ),
    )
    add_data_options(p)
    p.add_argument("--sample", type=int, metavar="N", help="profile a deterministic uniform sample of N rows")
    p.add_argument("--exact", action="store_true", help="read every row (bounded memory); no sampling")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--embeddings", action="store_true",
                   help="also compute the semantic-diversity heuristics (sentence embeddings: a model load and a few "
                        "seconds; the forecast does not read them)")
    # Embeddings are off by default now; the old opt-out stays accepted so existing scripts keep working.
    p.add_argument("--no-embeddings", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="print JSON: heuristics, intervals and metadata")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(handler=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    if args.exact and args.sample is not None:
        raise ValueError("give either --sample N or --exact, not both")
    if args.sample is not None and args.sample < 1:
        raise ValueError(f"--sample must be a positive number of rows, got {args.sample}")
    task = load_task_from_args(args)  # before the featurizers load (seconds), so bad input fails fast
    from featurizers import profile

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    prof = profile(
        task, args.sample, exact=args.exact, seed=args.seed,
        embeddings=args.embeddings and not args.no_embeddings, progress=progress,
    )
    if args.json:
        print(json.dumps(profile_json(prof, task.name), indent=2))
    else:
        print(format_table(prof, task.name))
    return 0


def profile_json(prof: "TaskProfile", name: str) -> dict:
    """The ``--json`` document: ``heuristics``, ``intervals`` (name -> [low, high]) and metadata."""
    d = prof.to_dict()
    return {"task": name, **d}


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if float(v).is_integer() and abs(v) < 1e12:
        return f"{int(v):,}"
    return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.1f}"


def format_table(prof: "TaskProfile", name: str) -> str:
    """A readable table: the study's heuristics first, then the others, each with its interval if any."""
    from featurizers import STUDY_HEURISTICS

    lines = [
        f"task: {name}",
        f"source: {prof.source}",
        f"rows profiled: {prof.n_profiled:,} of {prof.n_examples:,}" + (" (sample; 95% intervals shown)" if prof.sampled else ""),
        f"task type: {prof.task_type}    metric: {prof.metric or 'n/a'}    featurizer {prof.featurizer_version}",
    ]
    if prof.n_rows is not None and prof.n_unique is not None:
        lines.append(f"rows read: {prof.n_rows:,}    unique examples: {prof.n_unique:,} "
                     f"({prof.duplicate_share:.1%} duplicates)")
    lines += [f"warning: {w}" for w in prof.warnings]
    names = [n for n in STUDY_HEURISTICS if n in prof.heuristics]
    others = sorted(n for n in prof.heuristics if n not in names)
    width = max(len(n) for n in prof.heuristics)
    for title, group in (("study heuristics", names), ("more heuristics", others)):
        lines.append("")
        lines.append(title)
        for n in group:
            row = f"  {n:<{width}}  {_fmt(prof.heuristics[n]):>12}"
            if n in prof.intervals:
                lo, hi = prof.intervals[n]
                row += f"   [{_fmt(lo)}, {_fmt(hi)}]"
            lines.append(row)
    return "\n".join(lines)
