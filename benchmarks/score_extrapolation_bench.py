"""Which full-data score extrapolation works: the error-rate law or the loss-to-score line, on a real model.

For each task (built in code, see ``tests/real_model_tasks.py`` and below) and seed, SmolLM2-135M-Instruct
(from ``advisor models get smollm2-135m-instruct``, CPU, plain LoRA) is fine-tuned on a nested ladder of the
training pool up to the whole pool (1/16, 1/8, 1/4, 1/2, 1 by default), each rung measured on the same
held-out split. Then every prefix of at least two rungs is extrapolated, with each method of
``advisor.validation.SCORE_METHODS``, to every larger measured rung, and the measured score there is the
truth. Printed: per method, the mean absolute error of the forecast score, its bias, and the share of
measured scores inside the 80% interval, overall and per number of doublings extrapolated; plus the
reference "last measured score" (no extrapolation) in the same run. Then the same with validate's rule
(``advisor.validation.score_has_moved``): a curve whose score has not left its zero-shot level is not
extrapolated (validate keeps the advisor's prior for it); printed: how many forecasts the rule keeps, and
their error and coverage, beside the error of the forecasts it drops.

``--save FILE`` writes the measured rungs as JSON and ``--load FILE`` re-scores saved rungs without training.

Usage::

    python benchmarks/score_extrapolation_bench.py                        # two tasks x 2 seeds (~15 min, 2 cores)
    python benchmarks/score_extrapolation_bench.py --seeds 0 --pool 128   # quicker
    python benchmarks/score_extrapolation_bench.py --model-dir /path/to/checkpoint
    python benchmarks/score_extrapolation_bench.py --save /tmp/rungs.json; ... --load /tmp/rungs.json
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from real_model_tasks import ticket_routing_pairs  # noqa: E402

from advisor.rungs import RungMeasurement, RungSpec, measure_rung  # noqa: E402
from advisor.validation import SCORE_METHODS, extrapolate_score, plan_ladder, score_has_moved  # noqa: E402
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
    parser.add_argument("--save", type=Path, help="write the measured rungs to this JSON file")
    parser.add_argument("--load", type=Path, help="re-score the rungs saved in this JSON file (no training)")
    args = parser.parse_args()
    began = time.perf_counter()
    ladders = json_ladders(args.load) if args.load else measure_ladders(args)
    if args.save:
        args.save.write_text(json.dumps({key: [r.to_dict() for r in rungs] for key, rungs in ladders.items()}))
    report(ladders, time.perf_counter() - began)


def json_ladders(path: Path) -> dict[str, list[RungMeasurement]]:
    return {key: [RungMeasurement(**row) for row in rows] for key, rows in json.loads(path.read_text()).items()}


def measure_ladders(args: argparse.Namespace) -> dict[str, list[RungMeasurement]]:
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
    ladders = {}
    for task in args.tasks.split(","):
        make, metric = TASKS[task]
        for seed in (int(s) for s in args.seeds.split(",")):
            print(f"{task}, seed {seed}:", flush=True)
            pairs = make(args.pool + args.eval_size, seed)
            ladders[f"{task}/{seed}"] = run_ladder(model_dir, pairs, metric, ladder, seed, args.eval_size, config,
                                                   args.epochs, args.min_steps)
    return ladders


def report(ladders: dict[str, list[RungMeasurement]], seconds: float) -> None:
    errors: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    by_distance: dict[tuple[str, int], list[float]] = defaultdict(list)
    kept: dict[bool, list[tuple[float, bool]]] = defaultdict(list)
    for rungs in ladders.values():
        tuned = [r for r in rungs if r.n_train > 0]
        for k in range(2, len(tuned)):
            seen = [rungs[0], *tuned[:k]]
            for later in tuned[k:]:
                doublings = round(math.log2(later.n_train / tuned[k - 1].n_train))
                truth = later.score
                errors["last measured"].append((tuned[k - 1].score - truth, 0.0, False))
                by_distance[("last measured", doublings)].append(abs(tuned[k - 1].score - truth))
                for method in SCORE_METHODS:
                    estimate, _ = extrapolate_score(seen, later.n_train, method=method, require_movement=False)
                    inside = estimate.low <= truth <= estimate.high
                    errors[method].append((estimate.mean - truth, estimate.sd, inside))
                    by_distance[(method, doublings)].append(abs(estimate.mean - truth))
                    if method == SCORE_METHODS[0]:
                        kept[score_has_moved(seen)].append((abs(estimate.mean - truth), inside))
    print(f"\nforecast score vs measured at a larger rung ({seconds:.0f} s):")
    print(f"{'method':<16}{'n':>4}{'MAE':>8}{'bias':>8}{'80% cov':>9}   MAE by doublings extrapolated")
    distances = sorted({d for _, d in by_distance})
    for method, rows in errors.items():
        mae = sum(abs(e) for e, _, _ in rows) / len(rows)
        bias = sum(e for e, _, _ in rows) / len(rows)
        coverage = "" if method == "last measured" else f"{sum(i for _, _, i in rows) / len(rows):9.2f}"
        per = "  ".join(f"{d}: {sum(by_distance[(method, d)]) / len(by_distance[(method, d)]):.3f}"
                        for d in distances if by_distance[(method, d)])
        print(f"{method:<16}{len(rows):>4}{mae:8.3f}{bias:+8.3f}{coverage:>9}   {per}")
    for moved, label in ((True, "score left zero-shot (extrapolated)"), (False, "score at zero-shot (prior kept)")):
        rows = kept[moved]
        if rows:
            print(f"{SCORE_METHODS[0]}, {label}: {len(rows)} forecasts, MAE {sum(e for e, _ in rows) / len(rows):.3f}, "
                  f"80% coverage {sum(i for _, i in rows) / len(rows):.2f}")


if __name__ == "__main__":
    main()
