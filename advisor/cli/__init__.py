"""The ``advisor`` command: a thin argument-parsing layer over the Python API.

Each command group lives in its own module with a ``register(subparsers)`` function, so adding a
command touches one file plus the list below.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from advisor.cli.errors import UserError

#: Which module registers each sub-command. Only the module of the command being run is imported, so
#: `advisor db stats` does not pay for torch or the featurizers (and runs where they are not installed).
COMMAND_MODULES: dict[str, str] = {
    "db": "advisor.cli.db_commands",
    "profile": "advisor.cli.profile_commands",
    "rank": "advisor.cli.predictor_commands",
    "train": "advisor.cli.predictor_commands",
    "evaluate": "advisor.cli.predictor_commands",
    "score-catalog": "advisor.cli.catalog_commands",
    "finetune": "advisor.cli.finetune_commands",
    "validate": "advisor.cli.finetune_commands",
    "serve": "advisor.cli.serve_commands",
    "evaluate-adapters": "advisor.cli.serve_commands",
    "models": "advisor.cli.model_commands",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``command``, only that command's module is imported and registered."""
    parser = argparse.ArgumentParser(
        prog="advisor",
        description="Forecast whether LoRA/QLoRA fine-tuning pays off on a task, and with which base model.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command in COMMAND_MODULES:
        modules = [COMMAND_MODULES[command]]
    else:
        modules = list(dict.fromkeys(COMMAND_MODULES.values()))
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ValueError, OSError) as exc:
        # Library errors a user can fix are ValueError/OSError subclasses with a message that names the
        # problem; print that one line. ADVISOR_DEBUG=1 shows the traceback instead.
        if os.environ.get("ADVISOR_DEBUG"):
            raise
        print(f"advisor {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"advisor {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
