"""``advisor score-catalog``: batch-score a catalog of task datasets (thin layer over advisor.catalog)."""
from __future__ import annotations

import argparse
import json
import sys

from advisor.catalog import ENGINES, RAY_INSTALL_HINT, row_dicts, score_catalog


#: The catalog format in brief; README.md ("Catalog files") has it in full, with examples.
CATALOG_FORMAT_HELP = """\
catalog format (in full, with examples: README.md, section "Catalog files"):
  YAML: a list of entries, or a mapping with a 'tasks' list.
  CSV: one row per entry, with the keys as column names.
  name          required, unique: names the entry's row and its results in the database
  dataset       a data file (CSV, TSV, JSONL, JSON, Parquet) or a Hugging Face id (owner/name), or
  task_dir      a folder with metadata.yaml + train.jsonl (give exactly one of the two)
  prompt_col, completion_col             the columns that are the prompt and the completion, or
  input_columns, template, target_col    a prompt built from columns ('{column}' placeholders), or
  metadata      a metadata.yaml giving prompt_template, input_columns and target_col
  metric        how the task is scored (as 'advisor profile --metric'); default: inferred
  base_scores   measured zero-shot scores by base model (CSV: a 'base_score:<model>' column each)
  base_models   rank only these base models (a YAML list, or comma-separated)
  sample        profile a sample of this many rows
  Relative paths are relative to the catalog file. Example: advisor/examples/catalog.yaml
resuming: an entry already scored with the same data, options, featurizer and predictor is read
  back from the database, not scored again; entries that failed are tried again.
exit status: 0 all scored; 1 some entries failed (their rows say why); 2 bad catalog or option;
  130 interrupted.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score-catalog",
        help="profile and rank every task of a catalog (YAML or CSV), resumably",
        description=(
            "Score every task listed in CATALOG. Writes one row per task to --out (CSV or Parquet by\n"
            "suffix) as entries finish, and records profiles and recommendations in the database. Each\n"
            "entry runs in a worker process, so an entry that fails, even one that crashes its process,\n"
            "is recorded with its error and the others are scored. Ctrl-C stops at once, keeping the\n"
            "finished rows."
        ),
        epilog=CATALOG_FORMAT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("catalog", metavar="CATALOG", help="catalog file (.yaml, .yml or .csv)")
    p.add_argument("--out", metavar="FILE", help="also write the rows to FILE, .csv or .parquet (a table is printed either way)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="parallel processes (local engine)")
    p.add_argument("--url", help="database URL (default: ADVISOR_DB_URL or the embedded SQLite file)")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help=f"where entries run: this machine, or Ray tasks ({RAY_INSTALL_HINT.split(': ')[-1]})")
    p.add_argument("--ray-address", metavar="ADDR", help="address of an existing Ray cluster (with --engine ray)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(handler=run_score_catalog)


def run_score_catalog(args: argparse.Namespace) -> int:
    from training_runs.store import Store

    if args.ray_address and args.engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    store = Store.open(args.url)
    report = score_catalog(
        args.catalog, out=args.out, workers=args.workers, store=store, engine=args.engine,
        ray_address=args.ray_address, progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps(row_dicts(report), indent=2))
    else:
        frame = report.to_frame()
        cols = ["name", "status", "metric", "best_model", "predicted_score", "interval_low", "interval_high",
                "predicted_lift", "p_beat_gpt4", "p_best", "verdict", "error"]
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""))
    where = f" -> {report.out}" if report.out else ""
    print(f"{len(report.rows)} tasks: {report.n_scored} scored, {report.n_reused} reused, "
          f"{report.n_failed} failed in {report.elapsed_s:.1f}s{where}", file=sys.stderr)
    return 1 if report.n_failed else 0
