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

#: Modules that each register one or more sub-commands.
COMMAND_MODULES = (
    "advisor.cli.db_commands",
    "advisor.cli.profile_commands",
    "advisor.cli.predictor_commands",
    "advisor.cli.catalog_commands",
    "advisor.cli.finetune_commands",
    "advisor.cli.serve_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advisor",
        description="Forecast whether LoRA/QLoRA fine-tuning pays off on a task, and with which base model.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command group is not written yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script; returns the process exit status."""
    parser = build_parser()
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
