"""Featurizer speed (and memory) against a straightforward reference, on the same data in one run.

Three implementations of the study's per-example heuristics (cl100k token counts of input, output and
example; ROUGE-L F between input and output; gzip compressibility) and their summaries:

* ours      - ``featurizers`` (batched tiktoken in threads, rapidfuzz LCS over ROUGE words, zlib), as
              ``profile()`` runs it: the study's measures and their content-only counterparts (a second
              tokenization and ROUGE-L of each prompt's varying content), so it does more work than the others;
* reference - a per-example Python loop with the ``rouge-score`` package, ``gzip`` and tiktoken;
* floor     - tiktoken encoding of the inputs and outputs alone (the least any implementation must do),
              the faster of a plain loop and the same two-thread split that ours uses.

It asserts that ours and the reference give the same per-example values and summaries, prints
examples/s for each, and ends with ``speedup: N.Nx`` (ours vs reference).

Usage:
    python benchmarks/featurizers_bench.py                       # all reference-task samples, 20,000 rows
    python benchmarks/featurizers_bench.py --rows 5000 --reference-rows 2000   # quicker
    python benchmarks/featurizers_bench.py --memory-mb 1024      # also: peak RSS profiling a 1 GiB JSONL file
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from featurizers import load_task_dir  # noqa: E402
from featurizers.batch_features import BatchFeatures  # noqa: E402
from featurizers.contents import FixedText, join_fields  # noqa: E402
from featurizers.profiler import FEATURIZE_BATCH  # noqa: E402
from featurizers.registry import MEASURES  # noqa: E402
from featurizers.text import encoding, parallel_map  # noqa: E402

SHARED = REPO.parent / "shared" / "reference_tasks"


def load_examples(tasks: list[str], rows: int) -> tuple[list[str], list[str], list[str], str]:
    """Examples from reference-task samples (repeated up to ``rows``), or generated ones if shared is absent:
    prompts, completions, and each prompt's varying content as ``profile()`` derives it (the template's field
    values without the text all of a task's prompts share)."""
    prompts: list[str] = []
    completions: list[str] = []
    contents: list[str] = []
    found = [t for t in tasks if (SHARED / t / "train.jsonl").is_file()]
    if found:
        for t in found:
            raw: list[str] = []
            for p, c, fields in load_task_dir(SHARED / t).iter_arrow_with_fields():
                prompts += p.to_pylist()
                completions += c.to_pylist()
                raw += join_fields(p, fields).to_pylist()
            contents += FixedText.estimate(raw).strip_all(raw)
        what = "+".join(found) if len(found) <= 3 else f"{len(found)} reference tasks"
    else:
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(2000)]
        for _ in range(rows):
            n = int(rng.integers(5, 200))
            text = " ".join(rng.choice(words, n))
            prompts.append("Question: " + text + "\nAnswer:")
            contents.append(text)
            completions.append(" ".join(rng.choice(words, int(rng.integers(1, 20)))))
        what = "generated"
    # A seeded shuffle, so any prefix (the reference's share) mixes the tasks like the whole.
    order = np.random.default_rng(0).permutation(len(prompts))
    prompts, completions, contents = ([col[i] for i in order] for col in (prompts, completions, contents))
    reps = -(-rows // len(prompts))
    return (prompts * reps)[:rows], (completions * reps)[:rows], (contents * reps)[:rows], what


def ours(prompts: list[str], completions: list[str], contents: list[str], workers: int) -> dict[str, np.ndarray]:
    """The per-example pass of ``profile()``: every registered measure (the study's and the content-only
    ones), batch by batch."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in MEASURES}
    for start in range(0, len(prompts), FEATURIZE_BATCH):
        part = slice(start, start + FEATURIZE_BATCH)
        batch = BatchFeatures(prompts[part], completions[part], workers, contents=contents[part])
        for name, m in MEASURES.items():
            out[name].append(np.asarray(m.fn(batch)))
    return {k: np.concatenate(v) for k, v in out.items()}


def reference(prompts: list[str], completions: list[str]) -> dict[str, np.ndarray]:
    """The straightforward way: one example at a time with rouge-score, gzip and tiktoken."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    enc = encoding()
    rows = []
    for p, c in zip(prompts, completions):
        n_in, n_out = len(enc.encode_ordinary(p)), len(enc.encode_ordinary(c))
        raw = (p + c).encode("utf-8")
        rows.append((
            n_in, n_out, n_in + n_out,
            scorer.score(c, p)["rougeL"].fmeasure,
            len(gzip.compress(raw, mtime=0)) / len(raw) if raw else np.nan,
        ))
    a = np.array(rows, dtype=np.float64)
    return {"input_tokens": a[:, 0], "output_tokens": a[:, 1], "example_tokens": a[:, 2], "io_rougeL": a[:, 3], "compressibility": a[:, 4]}


def floor(prompts: list[str], completions: list[str], workers: int) -> None:
    """Tiktoken alone: token ids of every input and output."""
    enc = encoding()

    def encode(texts):
        return [enc.encode_ordinary(t) for t in texts]

    parallel_map(encode, prompts, workers)
    parallel_map(encode, completions, workers)


def summaries(values: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for name, v in values.items():
        v = v[~np.isnan(v)]
        out[f"{name}_mean"], out[f"{name}_std"] = float(v.mean()), float(v.std())
        if MEASURES[name].integer:
            out[f"{name}_p95"] = float(np.percentile(v, 95))
    return out


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def memory_check(size_mb: int, workdir: Path, modes: tuple[str, ...] = ("sample", "exact")) -> None:
    """Write a JSONL file of about ``size_mb`` MiB and profile it in a child process; print its peak RSS."""
    path = workdir / "big.jsonl"
    line_rows = []
    rng = np.random.default_rng(1)
    words = [f"token{i}" for i in range(5000)]
    for i in range(2000):
        line_rows.append(json.dumps({"prompt": "Summarize: " + " ".join(rng.choice(words, 60 + i % 200)), "completion": " ".join(rng.choice(words, 10))}) + "\n")
    block = "".join(line_rows).encode()
    with path.open("wb") as f:
        written = 0
        while written < size_mb << 20:
            f.write(block)
            written += len(block)
    n_rows = written // len(block) * len(line_rows)
    for mode in modes:
        code = (
            "import sys, resource, time; sys.path.insert(0, %r)\n"
            "from featurizers import load_task, profile\n"
            "t = time.perf_counter(); p = profile(load_task(%r), exact=%r, embeddings=False)\n"
            "print(p.n_profiled, p['example_tokens_p95'], time.perf_counter() - t,"
            " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        ) % (str(REPO), str(path), mode == "exact")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        print(
            f"memory: {written / 2**20:,.0f} MiB JSONL, {n_rows:,} rows, {mode:6s} mode: profiled {int(out[0]):,} rows "
            f"in {float(out[2]):.1f}s, peak RSS {int(out[3]) / 1024:,.0f} MiB"
        )
    path.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="all", help="reference tasks to draw examples from, comma-separated, or 'all'")
    ap.add_argument("--rows", type=int, default=20_000, help="examples timed for ours and the floor")
    ap.add_argument("--reference-rows", type=int, default=None, help="examples for the slow reference (default: --rows)")
    ap.add_argument("--workers", type=int, default=2, help="threads for ours and the floor (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many timings for ours and the floor")
    ap.add_argument("--memory-mb", type=int, default=0, help="also profile a generated JSONL file of this size")
    ap.add_argument("--memory-modes", default="sample,exact", help="profile modes for --memory-mb (sample, exact)")
    args = ap.parse_args(argv)

    tasks = sorted(p.name for p in SHARED.iterdir() if (p / "train.jsonl").is_file()) if args.tasks == "all" and SHARED.is_dir() else args.tasks.split(",")
    prompts, completions, contents, what = load_examples(tasks, args.rows)
    n_ref = min(args.reference_rows or args.rows, args.rows)
    print(f"data: {len(prompts):,} examples from {what}; reference on the first {n_ref:,}; {args.workers} workers; cpus={os.cpu_count()}")
    encoding()  # load the BPE file outside the timings

    t_ours = min(timed(ours, prompts, completions, contents, args.workers)[0] for _ in range(args.repeat))
    ours_values = ours(prompts, completions, contents, args.workers)
    t_floor = min(timed(floor, prompts, completions, w)[0] for w in {1, args.workers} for _ in range(args.repeat))
    t_ref, ref_values = timed(reference, prompts[:n_ref], completions[:n_ref])

    head = {k: v[:n_ref] for k, v in ours_values.items()}
    for name, ref in ref_values.items():
        np.testing.assert_allclose(head[name], ref, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=name)
    got, want = summaries(head), summaries(ref_values)
    for k in want:
        assert abs(got[k] - want[k]) <= 1e-9 * max(1.0, abs(want[k])), (k, got[k], want[k])
    print(f"same values: {len(ref_values)} per-example measures x {n_ref:,} examples and {len(want)} summaries agree")

    r_ours, r_ref, r_floor = len(prompts) / t_ours, n_ref / t_ref, len(prompts) / t_floor
    print(f"ours:      {r_ours:12,.0f} examples/s")
    print(f"reference: {r_ref:12,.0f} examples/s  (rouge-score + per-example loop)")
    print(f"floor:     {r_floor:12,.0f} examples/s  (tiktoken encoding alone)")
    print(f"ours vs floor: {r_floor / r_ours:.2f}x the time of tiktoken alone")
    print(f"bound: reference / floor = {r_floor / r_ref:.1f}x (the most any implementation that runs tiktoken could gain)")
    if args.memory_mb:
        with tempfile.TemporaryDirectory() as tmp:
            memory_check(args.memory_mb, Path(tmp), tuple(args.memory_modes.split(",")))
    print(f"speedup: {r_ours / r_ref:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
