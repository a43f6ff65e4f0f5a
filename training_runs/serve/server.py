"""Assemble and run the server: load the base model and tokenizer, build the engine and the HTTP app.

Example:
    >>> options = ServeOptions(base_model="/models/tiny", adapters_dir="/srv/adapters", port=8000)  # doctest: +SKIP
    >>> run_server(options)   # blocks; Ctrl-C stops it                                           # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from training_runs.serve.adapters import AdapterDirectory
from training_runs.serve.engine import EngineConfig, ServeEngine
from training_runs.serve.protocol import RequestLimits

logger = logging.getLogger(__name__)
_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``advisor serve`` configures (``engine`` and ``limits`` hold the numeric limits)."""

    base_model: str
    adapters_dir: str
    host: str = "127.0.0.1"
    port: int = 8000
    api_token: str | None = None
    served_model_name: str | None = None
    device: str | None = None
    dtype: str = "auto"
    engine: EngineConfig = field(default_factory=EngineConfig)
    limits: RequestLimits = field(default_factory=RequestLimits)
    #: shrink the prompt and max_tokens limits to the model's context when they exceed it (the CLI sets this
    #: when neither limit was given explicitly)
    fit_to_context: bool = False

    def model_name(self) -> str:
        """The name clients use for the base model: ``served_model_name``, else a local directory's name."""
        if self.served_model_name:
            return self.served_model_name
        path = Path(self.base_model)
        return path.name if path.is_dir() else self.base_model


def load_base_model(base_model: str, *, device: str | None = None, dtype: str = "auto"):
    """Load ``(model, tokenizer)`` from a local directory or the Hugging Face cache (nothing else is fetched
    when ``HF_HUB_OFFLINE=1``). ``dtype`` 'auto' is bfloat16 on CUDA and float32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available; use --device cpu")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot load the base model {base_model!r}: {exc}".splitlines()[0]) from exc
    return model.to(device).eval(), tokenizer


def eos_token_ids(model, tokenizer) -> list[int]:
    """The end-of-sequence ids of the model's generation config and of the tokenizer."""
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return sorted(ids)


def build_server(options: ServeOptions, *, own_engine: bool = True):
    """Load the model and return ``(app, engine)``; the app starts the engine when it starts."""
    from training_runs.serve.app import ServerSettings, create_app

    adapters_dir = Path(options.adapters_dir)
    if not adapters_dir.is_dir():
        raise OSError(f"the adapters directory {adapters_dir} does not exist (create it, or point --adapters at it)")
    model, tokenizer = load_base_model(options.base_model, device=options.device, dtype=options.dtype)
    engine_config, limits = options.engine, options.limits
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    if options.fit_to_context and 0 < context < engine_config.max_seq_len:
        max_tokens = min(limits.max_tokens, context // 2)
        limits = replace(limits, max_tokens=max_tokens, max_prompt_tokens=context - max_tokens,
                         default_completion_tokens=min(limits.default_completion_tokens, max_tokens))
        engine_config = replace(engine_config, max_seq_len=context)
        print(f"the model attends to {context} positions: prompts up to {context - max_tokens} tokens, "
              f"max_tokens up to {max_tokens}", file=sys.stderr)
    engine = ServeEngine(model, AdapterDirectory(adapters_dir), engine_config, eos_token_ids=eos_token_ids(model, tokenizer))
    settings = ServerSettings(base_model_name=options.model_name(), limits=limits, api_token=options.api_token)
    return create_app(engine, tokenizer, settings, own_engine=own_engine), engine


@contextlib.contextmanager
def serve_in_background(app, *, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a background thread; yield its base URL (``port`` 0 picks a free one).

    For tests, benchmarks and notebooks; ``run_server`` is the command-line server.

    Example:
        >>> with serve_in_background(app) as url:                      # doctest: +SKIP
        ...     httpx.get(f"{url}/health").json()["status"]
        'ok'
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise OSError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(30)


def run_server(options: ServeOptions) -> None:
    """Build the server and serve it with uvicorn until interrupted."""
    import uvicorn

    if options.host not in ("127.0.0.1", "localhost", "::1") and not options.api_token:
        print(
            f"warning: serving on {options.host} without a token; anyone who can reach it can use it "
            "(set --token or ADVISOR_SERVE_TOKEN)",
            file=sys.stderr,
        )
    app, engine = build_server(options)
    # the model, tokenizer and libraries are hundreds of thousands of long-lived objects: left to the cyclic
    # collector, each full collection pauses every request for about a second
    gc.freeze()
    names = engine.adapters.names()
    print(
        f"serving {options.model_name()!r} with {len(names)} adapter(s) from {options.adapters_dir} on "
        f"http://{options.host}:{options.port} (policy {options.engine.policy}, pid {os.getpid()})",
        file=sys.stderr, flush=True,
    )
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", timeout_graceful_shutdown=5)
