"""What the loaders' safety checks cost: reading with them vs the same reader with them switched off.

The checks (tasks.limits.ReadLimits): a scan of each chunk's line lengths and JSON nesting depth before
Arrow parses it, the row-size check of each CSV block and of each example, and the 'column holds no text'
check. The reference is the same reader, in the same run, with those checks replaced by no-ops. Datasets
are generated (nothing is downloaded):

* ``typical``: JSON Lines of prompts of 20-300 words, a label and a small nested ``meta`` object;
* ``chat``: JSON Lines whose lines each hold 120 messages as objects (more opening brackets per line than
  the depth limit, so the exact depth scan runs on every chunk: the worst case for the check);
* ``csv``: the typical rows as CSV.

Usage::

    python benchmarks/loader_bench.py              # 64 MB per dataset, best of 5
    python benchmarks/loader_bench.py --mb 256 --repeat 5

Each dataset prints MB/s with and without the checks and their ratio (``overhead: +N%``), and, for
JSON Lines, each scan alone in MB/s (the row-length scan is the size-limit check).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tasks.readers as readers  # noqa: E402
import tasks.task_data as task_data  # noqa: E402
from tasks import load_task  # noqa: E402
from tasks.scans import JsonDepthScan, first_long_line, scan_json_depth  # noqa: E402

WORDS = "the a model task data token train score base lift example prompt answer label review film good bad".split()


def typical_rows(rng: random.Random) -> Iterator[dict]:
    while True:
        yield {"prompt": " ".join(rng.choices(WORDS, k=rng.randint(20, 300))) + ' "quoted" [x] {y}',
               "completion": rng.choice(["positive", "negative", "neutral"]),
               "meta": {"id": rng.randint(0, 10**6), "tags": ["a", "b"], "source": {"kind": "synthetic"}}}


def chat_rows(rng: random.Random) -> Iterator[dict]:
    while True:
        yield {"prompt": " ".join(rng.choices(WORDS, k=30)),
               "completion": rng.choice(["yes", "no"]),
               "messages": [{"role": rng.choice(["user", "assistant"]), "content": " ".join(rng.choices(WORDS, k=12))}
                            for _ in range(120)]}


def write_dataset(kind: str, path: Path, megabytes: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    rows = chat_rows(rng) if kind == "chat" else typical_rows(rng)
    limit = megabytes * 1_000_000
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f) if kind == "csv" else None
        if writer:
            writer.writerow(["prompt", "completion", "meta"])
        while f.tell() < limit:
            row = next(rows)
            if writer:
                writer.writerow([row["prompt"], row["completion"], json.dumps(row["meta"])])
            else:
                f.write(json.dumps(row) + "\n")


@contextmanager
def checks_off() -> Iterator[None]:
    """The readers with the safety checks replaced by no-ops (the reference)."""
    saved = (readers.scan_json_depth, readers.first_long_line, readers._max_row_bytes,
             task_data.TaskData._check_example_sizes, task_data._holds_text)
    readers.scan_json_depth = lambda *a, **k: JsonDepthScan()
    readers.first_long_line = lambda *a, **k: None
    readers._max_row_bytes = lambda *a, **k: 0
    task_data.TaskData._check_example_sizes = lambda *a, **k: None
    task_data._holds_text = lambda *a, **k: True
    try:
        yield
    finally:
        (readers.scan_json_depth, readers.first_long_line, readers._max_row_bytes,
         task_data.TaskData._check_example_sizes, task_data._holds_text) = saved


def read_seconds(path: Path) -> float:
    start = time.perf_counter()
    rows = sum(len(p) for p, _ in load_task(path).iter_arrow())
    elapsed = time.perf_counter() - start
    assert rows > 0
    return elapsed


def scan_seconds(path: Path, scan) -> float:
    data = path.read_bytes()
    chunks = [data[offset: offset + readers.CHUNK_BYTES] for offset in range(0, len(data), readers.CHUNK_BYTES)]
    start = time.perf_counter()
    for chunk in chunks:
        scan(chunk)
    return time.perf_counter() - start


SCANS = {
    "row-length scan": lambda chunk: first_long_line(chunk, 4 << 20),
    "depth scan": lambda chunk: scan_json_depth(chunk, 100, per_line=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=64, help="size of each generated dataset in MB (default 64)")
    parser.add_argument("--repeat", type=int, default=5, help="timed reads per configuration; the best counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, suffix in (("typical", "jsonl"), ("chat", "jsonl"), ("csv", "csv")):
            path = Path(tmp) / f"{kind}.{suffix}"
            write_dataset(kind, path, args.mb)
            mb = path.stat().st_size / 1e6
            read_seconds(path)  # warm the page cache
            with_checks, without = [], []
            for _ in range(args.repeat):  # alternate, so drift in machine load hits both alike
                with_checks.append(read_seconds(path))
                with checks_off():
                    without.append(read_seconds(path))
            checked, reference = min(with_checks), min(without)
            line = (f"{kind:8s} {mb:6.1f} MB: with checks {mb / checked:7.1f} MB/s, without {mb / reference:7.1f} MB/s, "
                    f"overhead: {100 * (checked / reference - 1):+.0f}%")
            if suffix == "jsonl":
                for name, scan in SCANS.items():
                    line += f"; {name} alone {mb / min(scan_seconds(path, scan) for _ in range(args.repeat)):,.0f} MB/s"
            print(line, flush=True)


if __name__ == "__main__":
    main()
