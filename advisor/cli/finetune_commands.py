"""``advisor finetune``: fine-tune for real with the bundled QLoRA runner.

``finetune`` runs one base model on one dataset and records the run (``advisor validate``, the learning-curve
probe of the advisor's shortlist, lives in :mod:`advisor.cli.validate_commands`).

Example::

    advisor finetune --base-model ./tiny --data data.csv --no-quantize --max-steps 50 --eval-size 50
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from advisor.cli.data_options import add_data_options, load_task_from_args
from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    finetune = subparsers.add_parser(
        "finetune",
        help="fine-tune a base model on a dataset (QLoRA, the study's recipe), evaluate and record the run",
        description=(
            "Fine-tune a base model on a task dataset with the LoRA Land recipe (4-bit NF4, LoRA r=8 on "
            "q_proj/v_proj, lr 2e-4 cosine, effective batch 16), score the base model zero-shot and the "
            "fine-tuned model on a held-out split with the task's metric, save the adapter and record both "
            "scores in the results database. Without a CUDA GPU add --no-quantize (plain LoRA, small models). "
            "Rerunning an interrupted or killed command resumes from its checkpoint (a run already recorded is "
            "reported as done)."
        ),
    )
    finetune.add_argument("--base-model", required=True, metavar="HF_ID_OR_PATH",
                          help="a local model directory, or a Hugging Face id already in the local cache")
    finetune.add_argument("--model-name", metavar="NAME",
                          help="record the base model under this name (e.g. mistral-7b for a local copy)")
    finetune.add_argument("--task", metavar="NAME", help="task name to record (default: the dataset's name)")
    finetune.add_argument("--adapter-name", metavar="NAME",
                          help="directory name of the adapter (default: <task>-<model>-<run id>)")
    add_data_options(finetune, positional=False)
    _add_training_options(finetune)
    finetune.set_defaults(handler=run_finetune)


def _add_training_options(parser: argparse.ArgumentParser, default_steps: int | None = None) -> None:
    from training_runs.qlora import QLoRAConfig

    defaults = QLoRAConfig()
    steps = default_steps or defaults.max_steps
    group = parser.add_argument_group("training (defaults: the study's recipe)")
    group.add_argument("--max-steps", type=int, default=steps, metavar="N", help=f"optimizer steps (default {steps})")
    group.add_argument("--eval-size", type=int, default=defaults.eval_size, metavar="N",
                       help=f"held-out examples for evaluation (default {defaults.eval_size})")
    group.add_argument("--no-quantize", action="store_true", help="plain LoRA without 4-bit (needed without CUDA)")
    group.add_argument("--batch-size", type=int, default=defaults.per_device_batch_size, metavar="N",
                       help="sequences per micro-batch; accumulation keeps the effective batch at 16")
    group.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length, metavar="N")
    group.add_argument("--truncation", choices=("truncate", "refuse"), default=defaults.truncation,
                       help="over-long prompts: cut from the left and count (default), or stop with an error")
    group.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory")
    group.add_argument("--learning-rate", type=float, default=defaults.learning_rate, metavar="LR")
    group.add_argument("--lora-r", type=int, default=defaults.lora_r, metavar="R")
    group.add_argument("--target-modules", metavar="M1,M2",
                       help="modules LoRA adapts (default: the registry's for the base model, e.g. q_proj,v_proj; "
                            "qkv_proj for Phi-3-style models)")
    group.add_argument("--seed", type=int, default=defaults.seed)
    group.add_argument("--output-dir", metavar="DIR", help="checkpoints (default: derived from the run, to resume)")
    group.add_argument("--save-steps", type=int, default=defaults.save_steps, metavar="N",
                       help=f"write a checkpoint every N steps, and at the end (default {defaults.save_steps})")
    group.add_argument("--adapters-dir", metavar="DIR", help="where adapters go (default: <data dir>/adapters)")
    group.add_argument("--device", metavar="DEV", help="cpu or cuda (default: cuda when available)")
    group.add_argument("--url", metavar="URL", help="results database URL (default: ADVISOR_DB_URL or the local file)")
    group.add_argument("--no-record", action="store_true", help="do not record the run in the database")
    group.add_argument("--json", action="store_true", help="print the result as JSON")
    group.add_argument("--progress", action="store_true", help="print a line per training step on stderr")


def _config(args: argparse.Namespace, **overrides: Any) -> Any:
    from training_runs.qlora import QLoRAConfig

    if args.batch_size < 1 or 16 % args.batch_size:
        raise UserError(f"--batch-size must divide the effective batch of 16 (1, 2, 4, 8 or 16), got {args.batch_size}")
    settings: dict[str, Any] = {
        "load_in_4bit": not args.no_quantize, "max_steps": args.max_steps, "eval_size": args.eval_size,
        "per_device_batch_size": args.batch_size, "gradient_accumulation_steps": 16 // args.batch_size,
        "max_seq_length": args.max_seq_length, "truncation": args.truncation,
        "gradient_checkpointing": args.gradient_checkpointing, "learning_rate": args.learning_rate,
        "lora_r": args.lora_r, "seed": args.seed, "output_dir": args.output_dir, "save_steps": args.save_steps,
        "adapters_dir": args.adapters_dir, "device": args.device,
        "target_modules": _module_list(args.target_modules),
        "adapter_name": getattr(args, "adapter_name", None),
    }
    settings.update(overrides)
    return QLoRAConfig(**settings)


def _module_list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    modules = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modules:
        raise UserError(f"--target-modules needs module names separated by commas (e.g. q_proj,v_proj), got {text!r}")
    return modules


def _open_store(args: argparse.Namespace) -> Any:
    if args.no_record:
        return None
    from training_runs.store import Store

    return Store.open(args.url)


def _result_line(result: Any) -> str:
    return (f"base {result.base_score:.3f} -> fine-tuned {result.finetuned_score:.3f} (lift {result.lift:+.3f}, "
            f"{result.metric})")


def run_finetune(args: argparse.Namespace) -> int:
    from training_runs.qlora import run_qlora

    if args.file is None and args.task_dir is None:
        raise UserError("no dataset: give --data FILE or --task-dir DIR")
    task_data = load_task_from_args(args)
    config = _config(args)
    store = _open_store(args)
    try:
        result = run_qlora(task_data, args.base_model, config, task=args.task,
                           base_model_name=args.model_name, store=store, progress=args.progress)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    if result.already_recorded:
        print(f"run {result.run_id} is already recorded (an earlier attempt finished it); nothing to do")
        print(f"  {result.base_model} on {result.task}: {_result_line(result)}")
        print(f"  adapter: {result.adapter_dir}")
        return 0
    print(f"run {result.run_id}: {result.base_model} on {result.task}: {_result_line(result)}")
    print(f"  {result.n_train} training / {result.n_eval} held-out examples, {result.steps} steps"
          + (f" (resumed at step {result.resumed_from_step})" if result.resumed_from_step else "")
          + f", {result.train_tokens_per_s:,.0f} tokens/s, {result.wall_time_s:.1f}s"
          + (f", peak GPU memory {result.peak_gpu_memory_gb:.2f} GiB" if result.peak_gpu_memory_gb is not None else ""))
    if result.n_truncated:
        print(f"  {result.n_truncated} example(s) truncated to fit --max-seq-length "
              f"({result.n_truncated_train} training, {result.n_truncated_eval} evaluation)")
    print(f"  adapter: {result.adapter_dir}")
    print("  recorded in the results database" if result.record_ids else "  not recorded (--no-record)")
    return 0

