"""``advisor probe``: measure base models' zero-shot scores on a sample of a task, and record them.

Example::

    advisor probe data.csv --prompt-col q --completion-col a --base-model smollm2-135m-instruct=./smollm2 --n 200
    advisor rank data.csv --prompt-col q --completion-col a --base-score smollm2-135m-instruct=0.41
"""
from __future__ import annotations

import argparse
import json
import sys

from advisor.cli.data_options import add_data_options, load_task_from_args
from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="measure base models' zero-shot scores on a sample of a task (what the advisor reads as base scores)",
        description=(
            "Measure each base model's zero-shot score on a seeded sample of N examples of the dataset: greedy "
            "decoding in batches, scored with the task's metric, as the QLoRA runner evaluates. Each score is "
            "recorded as a zero-shot run (provenance probe-zero-shot-...) unless --no-record; pass the scores to "
            "'advisor rank --base-score NAME=SCORE' for forecasts that know them. Nothing is downloaded: a model "
            "is a local directory or a Hugging Face id in the local cache; a bare registry name means its id."
        ),
    )
    add_data_options(parser)
    parser.add_argument("--base-model", action="append", default=[], metavar="NAME=PATH_OR_HF_ID", required=True,
                        help="a base model to probe, recorded as NAME (a registry name such as mistral-7b, or a "
                             "new one); repeatable")
    parser.add_argument("--n", type=int, default=200, metavar="N", help="examples in the sample (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--task", metavar="NAME", help="task name to record (default: the dataset's name)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="prompts per generation batch")
    parser.add_argument("--max-new-tokens", type=int, metavar="N",
                        help="cap on generated tokens (default: the longest completion in the data, plus EOS)")
    parser.add_argument("--max-seq-length", type=int, default=1024, metavar="N",
                        help="prompt + generated tokens (longer prompts are cut from the left; default 1024)")
    parser.add_argument("--device", metavar="DEV", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--quantize", action="store_true", help="load the models in 4-bit NF4 (needs CUDA)")
    parser.add_argument("--url", metavar="URL", help="results database URL (default: ADVISOR_DB_URL or the local file)")
    parser.add_argument("--no-record", action="store_true", help="do not record the runs in the database")
    parser.add_argument("--json", action="store_true", help="print a JSON list of the measured scores")
    parser.set_defaults(handler=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    from advisor.model_sources import parse_model_paths
    from advisor.probes import probe_zero_shot

    if args.file is None and args.task_dir is None:
        raise UserError("no dataset: give FILE or --task-dir DIR")
    for option, value in (("--n", args.n), ("--batch-size", args.batch_size), ("--max-seq-length", args.max_seq_length)):
        if value < 1:
            raise UserError(f"{option} must be at least 1, got {value}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    models = parse_model_paths(args.base_model, option="--base-model")
    task_data = load_task_from_args(args)
    store = None
    if not args.no_record:
        from training_runs.store import Store

        store = Store.open(args.url)
    try:
        results = probe_zero_shot(
            task_data, models, n=args.n, seed=args.seed, store=store, device=args.device, quantize=args.quantize,
            batch_size=args.batch_size, max_seq_length=args.max_seq_length, max_new_tokens=args.max_new_tokens,
            task=args.task, progress=None if args.json else _progress,
        )
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    print(format_probe_results(results))
    return 0


def format_probe_results(results: list) -> str:
    """One line per base model: its zero-shot score, the sample and where it was recorded."""
    width = max([len("base model")] + [len(r.base_model) for r in results])
    header = f"{'base model':<{width}}  {'zero-shot':>9}  {'metric':<12}{'n':>6}{'seconds':>9}  run"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r.base_model:<{width}}  {r.score:>9.3f}  {r.metric:<12}{r.n:>6}{r.seconds:>9.1f}  "
                     f"{r.run_id if r.run_id is not None else 'not recorded'}")
    if results:
        lines.append(f"(task {results[0].task}; {results[0].n} examples sampled with seed {results[0].seed}, greedy "
                     f"decoding; provenance {results[0].provenance})")
        scores = " ".join(f"--base-score {r.base_model}={r.score:.4f}" for r in results)
        lines.append(f"forecast with them: advisor rank ... {scores}")
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
