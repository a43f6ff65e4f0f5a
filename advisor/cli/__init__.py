"""The ``advisor`` command: a thin argument-parsing layer over the Python API.

Each command group lives in its own module with a ``register(subparsers)`` function, so adding a
command touches one file plus the list below.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
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
    "validate": "advisor.cli.validate_commands",
    "serve": "advisor.cli.serve_commands",
    "evaluate-adapters": "advisor.cli.serve_commands",
    "models": "advisor.cli.model_commands",
    "extrapolate": "advisor.cli.extrapolate_commands",
    "probe": "advisor.cli.probe_commands",
    "onboard": "advisor.cli.onboard_commands",
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


def overview_parser() -> argparse.ArgumentParser:
    """The parser of ``advisor --help`` (and of a mistyped command): every command with its one-line help,
    read from its module's source without importing it, so listing the commands loads no torch or pandas."""
    parser = argparse.ArgumentParser(
        prog="advisor",
        description="Forecast whether LoRA/QLoRA fine-tuning pays off on a task, and with which base model.",
        epilog="Run 'advisor COMMAND --help' for a command's options.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    helps: dict[str, dict[str, str]] = {}
    for name, module in COMMAND_MODULES.items():
        if module not in helps:
            helps[module] = command_helps(module)
        subparsers.add_parser(name, help=helps[module].get(name, ""))
    return parser


def command_helps(module: str) -> dict[str, str]:
    """``{command: help}`` for the ``add_parser("command", help="...")`` calls in ``module``'s source.

    Example:
        >>> command_helps("advisor.cli.profile_commands")["profile"]
        "compute a task dataset's complexity heuristics"
    """
    try:
        spec = importlib.util.find_spec(module)
        source = open(spec.origin, encoding="utf-8").read() if spec and spec.origin else ""
        tree = ast.parse(source)
    except (ImportError, OSError, SyntaxError, ValueError):
        return {}  # listed anyway; running the command reports the real problem
    helps: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_parser" and node.args):
            continue
        first = node.args[0]
        text = next((k.value for k in node.keywords if k.arg == "help"), None)
        if isinstance(first, ast.Constant) and isinstance(text, ast.Constant) and isinstance(text.value, str):
            helps[str(first.value)] = text.value
    return helps


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``advisor`` console script; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command) if command in COMMAND_MODULES else overview_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):  # the command came after an option argparse took (e.g. a value)
        args = build_parser(args.command).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader of our output went away (e.g. `advisor profile ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
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
