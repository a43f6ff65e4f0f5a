"""Which full-data score extrapolation works: the error-rate law or the loss-to-score line, on a real model.

For each task (built in code, see ``tests/real_model_tasks.py`` and below) and seed, SmolLM2-135M-Instruct
(from ``advisor models get smollm2-135m-instruct``, CPU, plain LoRA) is fine-tuned on a nested ladder of the
training pool up to the whole pool (1/16, 1/8, 1/4, 1/2, 1 by default), each rung measured on the same
held-out split. Then every prefix of at least two rungs is extrapolated, with each method of
``advisor.validation.SCORE_METHODS``, to every larger measured rung, and the measured score there is the
truth. Printed: per method, the mean absolute error of the forecast score, its bias, and the share of
measured scores inside the 80% interval, overall and per number of doublings extrapolated; plus the
reference "last measured score" (no extrapolation) in the same run.

Usage::

    python benchmarks/score_extrapolation_bench.py                        # two tasks x 2 seeds (~15 min, 2 cores)
    python benchmarks/score_extrapolation_bench.py --seeds 0 --pool 128   # quicker
    python benchmarks/score_extrapolation_bench.py --model-dir /path/to/checkpoint
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from real_model_tasks import ticket_routing_pairs  # noqa: E402

from advisor.rungs import RungSpec, measure_rung  # noqa: E402
from advisor.validation import SCORE_METHODS, extrapolate_score, plan_ladder  # noqa: E402
from training_runs.qlora import QLoRAConfig  # noqa: E402
from training_runs.qlora.data import split_examples  # noqa: E402


def addition_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Two-digit additions: the small model knows some zero-shot and learns the rest gradually."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        pairs.append((f"{a} + {b} =", f" {a + b}"))
    return pairs


TASKS = {"ticket-routing": (ticket_routing_pairs, "exact_match"), "addition": (addition_pairs, "exact_match")}


def run_ladder(model_dir: str, pairs: list, metric: str, ladder: tuple[float, ...], seed: int, eval_size: int,
               config: QLoRAConfig, epochs: float, min_steps: int) -> list:
    pool, held_out = split_examples(pairs, eval_size, seed)
    random.Random(seed).shuffle(pool)
    plan = plan_ladder(len(pool), ladder, config.effective_batch_size, epochs, min_steps)
    rungs = [{"rung": 0, "fraction": 0.0, "n_train": 0, "steps": 1}] + plan
    out = []
    for rung in rungs:
        spec = RungSpec(base_model="smollm2", source=model_dir, rung=rung["rung"], fraction=rung["fraction"],
                        train_pairs=tuple(pool[: rung["n_train"]]), eval_pairs=tuple(held_out), metric=metric,
                        config=config.replace(max_steps=rung["steps"], seed=seed))
        measured = measure_rung(spec)
        print(f"    n={measured.n_train:>4} steps={measured.steps:>3} loss {measured.eval_loss:.3f} "
              f"score {measured.score:.3f} ({measured.seconds:.0f}s)", flush=True)
        out.append(measured)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", help="a SmolLM2 checkpoint (default: advisor models get's test cache)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--pool", type=int, default=256, help="training pool per task")
    parser.add_argument("--eval-size", type=int, default=48)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--min-steps", type=int, default=4)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # a second OpenMP thread only loses on a busy 2-core machine
    model_dir = args.model_dir
    if model_dir is None:
        from testsupport import model_cache_dir

        from training_runs.model_zoo import get_model

        model_dir = str(get_model("smollm2-135m-instruct", model_cache_dir() / "smollm2-135m-instruct").path)
    ladder = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
    config = QLoRAConfig.plain_lora(per_device_batch_size=4, gradient_accumulation_steps=2, learning_rate=4e-3,
                                    lora_dropout=0.0, eval_batch_size=16, device="cpu", eval_size=args.eval_size)
    errors: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    by_distance: dict[tuple[str, int], list[float]] = defaultdict(list)
    began = time.perf_counter()
    for task in args.tasks.split(","):
        make, metric = TASKS[task]
        for seed in (int(s) for s in args.seeds.split(",")):
            print(f"{task}, seed {seed}:", flush=True)
            pairs = make(args.pool + args.eval_size, seed)
            rungs = run_ladder(model_dir, pairs, metric, ladder, seed, args.eval_size, config, args.epochs,
                               args.min_steps)
            tuned = [r for r in rungs if r.n_train > 0]
            for k in range(2, len(tuned)):
                seen = [rungs[0], *tuned[:k]]
                for later in tuned[k:]:
                    doublings = round(math.log2(later.n_train / tuned[k - 1].n_train))
                    truth = later.score
                    errors["last measured"].append((tuned[k - 1].score - truth, 0.0, False))
                    by_distance[("last measured", doublings)].append(abs(tuned[k - 1].score - truth))
                    for method in SCORE_METHODS:
                        estimate, _ = extrapolate_score(seen, later.n_train, method=method)
                        inside = estimate.low <= truth <= estimate.high
                        errors[method].append((estimate.mean - truth, estimate.sd, inside))
                        by_distance[(method, doublings)].append(abs(estimate.mean - truth))
    print(f"\nforecast score vs measured at a larger rung ({time.perf_counter() - began:.0f} s):")
    print(f"{'method':<16}{'n':>4}{'MAE':>8}{'bias':>8}{'80% cov':>9}   MAE by doublings extrapolated")
    distances = sorted({d for _, d in by_distance})
    for method, rows in errors.items():
        mae = sum(abs(e) for e, _, _ in rows) / len(rows)
        bias = sum(e for e, _, _ in rows) / len(rows)
        coverage = "" if method == "last measured" else f"{sum(i for _, _, i in rows) / len(rows):9.2f}"
        per = "  ".join(f"{d}: {sum(by_distance[(method, d)]) / len(by_distance[(method, d)]):.3f}"
                        for d in distances if by_distance[(method, d)])
        print(f"{method:<16}{len(rows):>4}{mae:8.3f}{bias:+8.3f}{coverage:>9}   {per}")


if __name__ == "__main__":
    main()
