"""Catalog scoring: throughput with 1 vs N workers, and how an interrupted or killed batch stops.

Throughput: the catalog is the bundled examples (advisor/examples/catalog.yaml), repeated ``--repeat``
times under distinct names so there is enough work to share. Every configuration starts from an empty
SQLite database, so nothing is reused; process start-up counts against the parallel runs. Entries run in
supervised worker processes (also with 1 worker), so a crashing entry cannot take the batch down.

Stopping (``--stopping``): ``advisor score-catalog --workers N`` on entries that each take several seconds
(a synthetic 20,000-row dataset), interrupted by SIGINT once the first rows are written: the seconds to
exit, against the seconds one entry takes (the reference, measured in the same run; a batch that waited
for its running entries would take about that long). Then the same batch killed with ``kill -9``: the
processes it leaves alive 5 s later (workers, fork server, resource tracker) and their memory.

Usage::

    python benchmarks/catalog_bench.py                      # 1 vs os.cpu_count() workers, --repeat 10
    python benchmarks/catalog_bench.py --workers 4 --repeat 6
    python benchmarks/catalog_bench.py --engine ray         # N = Ray tasks on a local Ray instance
    python benchmarks/catalog_bench.py --stopping           # SIGINT latency and kill -9 leftovers only

The throughput run's last line is ``speedup: N.Nx``: N workers from a cold start (process start-up
included) vs 1 worker.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
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


#: Marks the benchmark's batch and, by inheritance, every process it starts.
TAG_VARIABLE = "ADVISOR_BENCH_TAG"


def _tagged(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"{TAG_VARIABLE}={tag}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


def _slow_catalog(folder: Path, n_entries: int) -> Path:
    """A catalog of ``n_entries`` entries on one synthetic 20,000-row dataset (seeded: the same each run)."""
    import pandas as pd
    import yaml

    from advisor.examples import list_examples

    example = list_examples()[0]
    words = " ".join(pd.read_csv(example.path)["review"]).split()
    rng = random.Random(0)
    rows = [{"review": " ".join(rng.choice(words) for _ in range(rng.randint(20, 60))),
             "label": rng.choice(["positive", "negative"])} for _ in range(20_000)]
    pd.DataFrame(rows).to_csv(folder / "reviews.csv", index=False)
    tasks = [{"name": f"reviews{i}", "dataset": "reviews.csv", **example.load_options()} for i in range(n_entries)]
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks}))
    return path


def _start_batch(folder: Path, catalog: Path, workers: int, tag: str) -> tuple[subprocess.Popen[bytes], Path]:
    out = folder / f"scores-{tag[:8]}.csv"
    env = {**os.environ, TAG_VARIABLE: tag, "ADVISOR_DB_URL": f"sqlite:///{folder / (tag[:8] + '.db')}",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    batch = subprocess.Popen([sys.executable, "-m", "advisor.cli", "score-catalog", str(catalog), "--workers",
                              str(workers), "--out", str(out), "--no-progress"], cwd=folder, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return batch, out


def _wait_for_rows(batch: subprocess.Popen[bytes], out: Path, n: int) -> "object":
    import pandas as pd

    while True:
        if batch.poll() is not None:
            raise SystemExit(f"the batch exited early: {batch.stderr.read().decode()[-2000:]}")
        if out.exists():
            rows = pd.read_csv(out)
            if len(rows) >= n:
                return rows
        time.sleep(0.1)


def stopping(workers: int) -> None:
    """Print SIGINT-to-exit seconds (vs one entry's seconds) and what ``kill -9`` leaves alive."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = _slow_catalog(folder, 4 * workers)
        tag = uuid.uuid4().hex
        batch, out = _start_batch(folder, catalog, workers, tag)
        rows = _wait_for_rows(batch, out, 1)
        entry_s = float(rows["seconds"].iloc[0])
        time.sleep(1.0)  # the next entries are now running
        sent = time.perf_counter()
        batch.send_signal(signal.SIGINT)
        batch.wait()
        exit_s = time.perf_counter() - sent
        time.sleep(5)
        left = _tagged(tag)
        print(f"SIGINT with {workers} workers busy: exited in {exit_s:.2f} s (exit status {batch.returncode}); "
              f"one entry takes {entry_s:.2f} s (ratio {exit_s / entry_s:.2f}); {len(left)} processes left")

        tag = uuid.uuid4().hex
        batch, out = _start_batch(folder, catalog, workers, tag)
        _wait_for_rows(batch, out, 1)
        time.sleep(1.0)
        running = len(_tagged(tag))
        batch.kill()
        batch.wait()
        time.sleep(5)
        left = _tagged(tag)
        print(f"kill -9 with {workers} workers busy: {running} processes before, {len(left)} alive 5 s later "
              f"({_rss_mb(left):.0f} MB)")
        for pid in left:
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallel workers (default: cores)")
    parser.add_argument("--repeat", type=int, default=10, help="copies of the example catalog (default 10)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--stopping", action="store_true", help="only measure SIGINT latency and kill -9 leftovers")
    args = parser.parse_args(argv)

    if args.stopping:
        stopping(args.workers)
        return 0

    from advisor.api import Advisor

    advisor = Advisor.load(os.environ.get("ADVISOR_MODEL_DIR") or None)
    tasks = entries(args.repeat)
    print(f"catalog: {len(tasks)} tasks ({args.repeat} x the bundled examples); cores: {os.cpu_count()}; "
          f"predictor {advisor.predictor_version}")
    timed(tasks[:1], workers=1, engine="local", advisor=advisor, ray_address=None)  # warm-up: imports, caches

    one = timed(tasks, workers=1, engine="local", advisor=advisor, ray_address=None)
    print(f"1 worker: {len(tasks)} tasks in {one:.2f} s = {60 * len(tasks) / one:.1f} tasks/minute")
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
