"""How long ``advisor --help`` and ``advisor profile --help`` take, against what listing the commands cost
before: importing every command module (``advisor.cli.build_parser()``, as ``advisor --help`` did), measured
in the same run, each in a fresh interpreter.

Usage::

    python benchmarks/cli_startup_bench.py             # median of 5 runs each
    python benchmarks/cli_startup_bench.py --runs 9

Prints each command's median seconds and ``speedup: N.Nx`` of ``advisor --help`` over the reference.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "advisor --help": [sys.executable, "-m", "advisor.cli", "--help"],
    "advisor profile --help": [sys.executable, "-m", "advisor.cli", "profile", "--help"],
    "reference: import every command module": [sys.executable, "-c", "from advisor.cli import build_parser; build_parser()"],
}


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for argv in COMMANDS.values():
        seconds(argv)  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved, so drift in machine load hits all alike
        for name, argv in COMMANDS.items():
            times[name].append(seconds(argv))
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, value in medians.items():
        print(f"{name:42s} {value:6.2f} s (median of {args.runs})")
    print(f"speedup: {medians['reference: import every command module'] / medians['advisor --help']:.1f}x")


if __name__ == "__main__":
    main()
