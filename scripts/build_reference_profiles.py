"""Compute the profiles of the LoRA Land reference tasks and write them as a package data file.

Usage (what ``make reference-profiles`` runs):

    python scripts/build_reference_profiles.py --shared ../shared/reference_tasks \
        --out training_runs/data/reference_profiles.json

Every ``<shared>/<task>/`` with ``metadata.yaml`` and ``train.jsonl`` is profiled whole (the samples are
at most a few thousand rows; each unique example once); ``n_examples`` is the study's full training-split size from
``training_runs/data/lora_land/tasks.csv``, so intervals describe the sample's uncertainty about the full
split. Only derived numbers are written. The file is written to a temporary file and renamed.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from featurizers import FEATURIZER_VERSION, load_task_dir, profile  # noqa: E402
from featurizers.semantic import embeddings_available  # noqa: E402

TASKS_CSV = REPO / "training_runs" / "data" / "lora_land" / "tasks.csv"


def study_train_sizes(path: Path = TASKS_CSV) -> dict[str, int]:
    """Full training-split size per task, as the study lists it."""
    with path.open(newline="", encoding="utf-8") as f:
        return {row["task"]: int(row["n_train"]) for row in csv.DictReader(f) if row.get("n_train")}


def build(shared: Path, *, embeddings: bool = False, only: list[str] | None = None) -> dict:
    sizes = study_train_sizes()
    profiles = {}
    for task_dir in sorted(p for p in shared.iterdir() if p.is_dir()):
        if only and task_dir.name not in only:
            continue
        if not (task_dir / "train.jsonl").is_file() or not (task_dir / "metadata.yaml").is_file():
            print(f"skip {task_dir.name}: no train.jsonl", file=sys.stderr)
            continue
        start = time.perf_counter()
        task = load_task_dir(task_dir, n_examples=sizes.get(task_dir.name))
        prof = profile(task, embeddings=embeddings)
        d = prof.to_dict()
        d["source"] = f"reference_tasks/{task_dir.name}/train.jsonl"  # no absolute paths in shipped data
        profiles[task_dir.name] = d
        h = prof.heuristics
        print(
            f"{task_dir.name:22s} rows={prof.n_profiled:5d} n_examples={prof.n_examples:7d} "
            f"unique={prof.n_unique:5d}/{prof.n_rows:5d} type={prof.task_type:18s} metric={prof.metric:12s} "
            f"example_tokens_p95={h['example_tokens_p95']:7.1f} "
            f"({time.perf_counter() - start:.1f}s)",
            file=sys.stderr,
        )
    return {"featurizer_version": FEATURIZER_VERSION, "profiles": profiles}


def write_atomic(data: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "reference_tasks")
    ap.add_argument("--out", type=Path, default=REPO / "training_runs" / "data" / "reference_profiles.json")
    ap.add_argument("--embeddings", action=argparse.BooleanOptionalAction, default=None,
                    help="also compute the semantic-diversity heuristics (default: when sentence-transformers and "
                         "the bundled model are installed), so the app can place a profile that has them")
    ap.add_argument("--task", action="append", help="only this task (repeatable)")
    args = ap.parse_args(argv)
    if not args.shared.is_dir():
        print(f"error: {args.shared} is not a directory", file=sys.stderr)
        return 2
    embeddings = embeddings_available() if args.embeddings is None else args.embeddings
    data = build(args.shared, embeddings=embeddings, only=args.task)
    write_atomic(data, args.out)
    print(f"wrote {len(data['profiles'])} profiles to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
