"""Catalog scoring throughput: tasks/minute with 1 worker vs N workers, measured in the same run.

The catalog is the bundled examples (advisor/examples/catalog.yaml), repeated ``--repeat`` times under
distinct names so there is enough work to share. Every configuration starts from an empty SQLite
database, so nothing is reused; process start-up (spawn) counts against the parallel runs.

Usage::

    python benchmarks/catalog_bench.py                      # 1 vs os.cpu_count() workers, --repeat 10
    python benchmarks/catalog_bench.py --workers 4 --repeat 6
    python benchmarks/catalog_bench.py --engine ray         # N = Ray tasks on a local Ray instance

The last line is ``speedup: N.Nx``: N workers from a cold start (process start-up included) vs 1 worker.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.catalog import score_catalog  # noqa: E402
from advisor.catalog_spec import read_catalog  # noqa: E402
from advisor.examples import example_catalog_path  # noqa: E402
from training_runs.store import Store  # noqa: E402


def entries(repeat: int) -> list:
    base = read_catalog(example_catalog_path())
    from dataclasses import replace

    return [replace(e, name=f"{e.name}#{i}") for i in range(repeat) for e in base]


def timed(tasks: list, *, workers: int, engine: str, advisor, ray_address: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp, Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
        start = time.perf_counter()
        report = score_catalog(tasks, workers=workers, store=store, advisor=advisor, engine=engine,
                               ray_address=ray_address)
        elapsed = time.perf_counter() - start
    if report.n_failed or report.n_scored != len(tasks):
        raise SystemExit(f"benchmark run failed: {report.n_failed} failed, {report.n_scored}/{len(tasks)} scored")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallel workers (default: cores)")
    parser.add_argument("--repeat", type=int, default=10, help="copies of the example catalog (default 10)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args(argv)

    from advisor.api import Advisor

    advisor = Advisor.load(os.environ.get("ADVISOR_MODEL_DIR") or None)
    tasks = entries(args.repeat)
    print(f"catalog: {len(tasks)} tasks ({args.repeat} x the bundled examples); cores: {os.cpu_count()}; "
          f"predictor {advisor.predictor_version}")
    timed(tasks[:1], workers=1, engine="local", advisor=advisor, ray_address=None)  # warm-up: imports, caches

    one = timed(tasks, workers=1, engine="local", advisor=advisor, ray_address=None)
    print(f"1 worker (in process): {len(tasks)} tasks in {one:.2f} s = {60 * len(tasks) / one:.1f} tasks/minute")
    label = f"{args.workers} workers ({'processes' if args.engine == 'local' else 'Ray tasks'})"
    cold = timed(tasks, workers=args.workers, engine=args.engine, advisor=advisor, ray_address=args.ray_address)
    print(f"{label}, cold start: {len(tasks)} tasks in {cold:.2f} s = {60 * len(tasks) / cold:.1f} tasks/minute")
    # Again in the same process: the fork server (local) has its imports done; a long-lived app sees this.
    warm = timed(tasks, workers=args.workers, engine=args.engine, advisor=advisor, ray_address=args.ray_address)
    print(f"{label}, second run: {len(tasks)} tasks in {warm:.2f} s = {60 * len(tasks) / warm:.1f} tasks/minute "
          f"(speedup {one / warm:.1f}x)")
    print(f"speedup: {one / cold:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
