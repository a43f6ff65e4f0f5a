"""``advisor serve`` (the multi-LoRA server) and ``advisor evaluate-adapters`` (score adapters through it)."""
from __future__ import annotations

import argparse
import os
import sys

from advisor.cli.data_options import add_data_options, load_task_from_args
from advisor.cli.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a base model and its LoRA adapters over an OpenAI-compatible HTTP API",
        description=(
            "Serve one base model and the LoRA adapters in a directory (one sub-directory per adapter, as "
            "`advisor finetune` writes them) over an OpenAI-compatible API: POST /v1/completions and "
            "/v1/chat/completions with model=<adapter name or base model name>, GET /v1/models, /health and "
            "/metrics. Adapters load on first use and requests for different adapters share batches."
        ),
    )
    serve.add_argument("--base-model", required=True, help="local model directory or Hugging Face id (cached)")
    serve.add_argument("--adapters", required=True, help="directory holding one sub-directory per adapter")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token", default=None,
                       help="require 'Authorization: Bearer TOKEN' (default: $ADVISOR_SERVE_TOKEN, else no token)")
    serve.add_argument("--served-model-name", default=None,
                       help="name clients use for the base model (default: the model directory's name)")
    serve.add_argument("--engine", choices=("builtin", "vllm"), default="builtin",
                       help="builtin: this package's engine; vllm: hand serving to vLLM's multi-LoRA server (CUDA)")
    serve.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda when available)")
    serve.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"))
    limits = serve.add_argument_group("limits")
    limits.add_argument("--max-adapters", type=int, default=16, help="adapters resident at once (LRU beyond)")
    limits.add_argument("--adapter-memory-mb", type=float, default=1024.0,
                        help="budget for resident adapter weights, MiB (LRU eviction beyond)")
    limits.add_argument("--max-lora-rank", type=int, default=16, help="largest LoRA rank accepted")
    limits.add_argument("--max-batch-size", type=int, default=32, help="sequences decoded together")
    limits.add_argument("--max-concurrent-requests", type=int, default=256,
                        help="sequences running or waiting; more get HTTP 429")
    limits.add_argument("--max-prompt-tokens", type=int, default=None,
                        help="longest prompt in tokens (default 2048, less if the model's context is shorter)")
    limits.add_argument("--max-tokens", type=int, default=None,
                        help="largest max_tokens a request may ask for (default 512, at most half the context)")
    limits.add_argument("--max-body-bytes", type=int, default=1 << 20, help="largest request body (HTTP 413 beyond)")
    limits.add_argument("--adapter-load-timeout", type=float, default=60.0,
                        help="seconds requests wait for an adapter to be read from disk (HTTP 503 beyond)")
    limits.add_argument("--policy", choices=("mixed", "single"), default="mixed",
                        help="mixed: adapters share batches; single: one adapter at a time (for comparison)")
    serve.set_defaults(handler=_serve)

    evaluate = subparsers.add_parser(
        "evaluate-adapters",
        help="score several adapters on a task through a running `advisor serve`",
        description=(
            "Send the task's prompts to a running server once per adapter (greedy decoding) and score the "
            "completions with the task's metric, side by side."
        ),
    )
    evaluate.add_argument("--server", required=True, help="base URL of the server, e.g. http://127.0.0.1:8000")
    evaluate.add_argument("--adapters", required=True, help="comma-separated adapter names (the base model's name works too)")
    evaluate.add_argument("--limit", type=int, default=None, help="score only the first N examples")
    evaluate.add_argument("--max-tokens", type=int, default=None,
                          help="tokens to generate per prompt (default: from the longest reference)")
    evaluate.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    evaluate.add_argument("--token", default=None, help="bearer token (default: $ADVISOR_SERVE_TOKEN)")
    evaluate.add_argument("--timeout", type=float, default=300.0, help="seconds per HTTP request")
    add_data_options(evaluate, positional=False)
    evaluate.set_defaults(handler=_evaluate_adapters)


def _serve(args: argparse.Namespace) -> int:
    from training_runs.serve.engine import EngineConfig
    from training_runs.serve.protocol import RequestLimits
    from training_runs.serve.server import ServeOptions

    token = args.token or os.environ.get("ADVISOR_SERVE_TOKEN") or None
    fit_to_context = args.max_prompt_tokens is None and args.max_tokens is None
    max_prompt_tokens = 2048 if args.max_prompt_tokens is None else args.max_prompt_tokens
    max_tokens = 512 if args.max_tokens is None else args.max_tokens
    try:
        engine = EngineConfig(
            max_batch_size=args.max_batch_size,
            max_seq_len=max_prompt_tokens + max_tokens,
            max_adapters=args.max_adapters,
            adapter_memory_bytes=int(args.adapter_memory_mb * (1 << 20)),
            max_lora_rank=args.max_lora_rank,
            max_concurrent_requests=args.max_concurrent_requests,
            policy=args.policy,
            adapter_load_timeout=args.adapter_load_timeout,
        )
        limits = RequestLimits(
            max_prompt_tokens=max_prompt_tokens, max_tokens=max_tokens, max_body_bytes=args.max_body_bytes,
            default_completion_tokens=min(16, max_tokens),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    options = ServeOptions(
        base_model=args.base_model, adapters_dir=args.adapters, host=args.host, port=args.port, api_token=token,
        served_model_name=args.served_model_name, device=args.device, dtype=args.dtype, engine=engine, limits=limits,
        fit_to_context=fit_to_context,
    )
    if args.engine == "vllm":
        from training_runs.serve.vllm_engine import run_vllm

        return run_vllm(options)
    from training_runs.serve.server import run_server

    run_server(options)
    return 0


def _evaluate_adapters(args: argparse.Namespace) -> int:
    from training_runs.serve.client import evaluate_adapters, format_scores

    adapters = [name.strip() for name in args.adapters.split(",") if name.strip()]
    if not adapters:
        raise UserError("--adapters needs at least one adapter name (comma-separated)")
    task = load_task_from_args(args)
    scores = evaluate_adapters(
        args.server, task, adapters, limit=args.limit, max_tokens=args.max_tokens,
        concurrency=args.concurrency, token=args.token or os.environ.get("ADVISOR_SERVE_TOKEN"), timeout=args.timeout,
    )
    print(format_scores(scores))
    sys.stdout.flush()
    return 0
