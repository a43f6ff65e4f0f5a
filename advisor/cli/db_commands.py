"""``advisor db``: create, seed, inspect and export the results database (thin layer over ``Store``).

Examples::

    advisor db init                      # the embedded SQLite database in the user data directory
    advisor db init --url postgresql+psycopg://user@localhost/advisor
    advisor db stats --json
    advisor db export --out runs.parquet
"""
from __future__ import annotations

import argparse
import json

from training_runs.store import Store
from training_runs.store.store import export_format


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``db init``, ``db stats`` and ``db export`` to the ``advisor`` command."""
    db = subparsers.add_parser("db", help="create, seed, inspect and export the results database")
    commands = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    init = commands.add_parser("init", help="create or upgrade the schema and load the LoRA Land study (idempotent)")
    _add_url(init)
    init.set_defaults(handler=run_init)

    # Reading commands never create a database, and work on a read-only one.
    stats = commands.add_parser("stats", help="count base models, tasks and runs (of an existing database)")
    _add_url(stats)
    stats.add_argument("--json", action="store_true", help="print the counts as JSON")
    stats.set_defaults(handler=run_stats)

    export = commands.add_parser("export", help="write all runs of an existing database to a .csv or .parquet file")
    _add_url(export)
    export.add_argument("--out", required=True, metavar="FILE", help="output file; the suffix picks the format")
    export.set_defaults(handler=run_export)


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=None,
        help="SQLAlchemy database URL (default: $ADVISOR_DB_URL, else a SQLite file in the user data directory)",
    )


def run_init(args: argparse.Namespace) -> int:
    with Store.open(args.url) as store:
        report = store.seed_study()
        print(f"database {store.display_url} (schema {store.schema_revision()}): {report.summary()}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with Store.open(args.url, create=False) as store:
        stats = store.stats()
        where = store.display_url
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"database: {where} ({stats['backend']}, schema {stats['schema_revision']})")
    print(f"base models: {stats['base_models']}")
    print(f"tasks: {stats['tasks']} ({stats['local_tasks']} local)")
    runs = ", ".join(f"{kind} {n}" for kind, n in stats["runs"].items())
    print(f"runs: {runs} ({stats['local_runs']} local)")
    print(f"task profiles: {stats['task_profiles']}")
    print(f"catalog results: {stats['catalog_results']}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    export_format(args.out)  # a bad --out is refused before the database is opened
    with Store.open(args.url, create=False) as store:
        n = store.export_runs(args.out)
    print(f"wrote {n} runs to {args.out}")
    return 0
