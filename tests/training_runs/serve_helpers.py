"""Shared by the server tests: a real uvicorn server on a thread, and a directory of hostile adapters."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig

from training_runs.serve.random_adapters import write_random_adapter

#: The alpha_pattern of issue 15: as a regular expression it takes about 25 s per module to reject.
REDOS_PATTERN = "(.|.){0,24}Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(app, *, startup_timeout: float = 60.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def write_hostile_adapters(adapters: Path, outside: Path, config) -> dict[str, str]:
    """Write adapters that must never be served into ``adapters`` (and a file they point to into ``outside``).

    Returns ``{adapter name: what is wrong with it}``; every one of them must be refused with a 4xx.
    """
    problems = {}

    def adapter(name: str, why: str, seed: int) -> Path:
        problems[name] = why
        return write_random_adapter(adapters / name, config, rank=4, seed=seed)

    def edit_config(path: Path, **changes) -> None:
        config_file = path / "adapter_config.json"
        config_file.write_text(json.dumps({**json.loads(config_file.read_text()), **changes}))

    path = adapter("nan-weights", "NaN weights", 11)
    tensors = load_file(str(path / "adapter_model.safetensors"))
    save_file({k: torch.full_like(t, float("nan")) for k, t in tensors.items()}, str(path / "adapter_model.safetensors"))

    edit_config(adapter("redos-pattern", "a regular expression that backtracks", 12), alpha_pattern={REDOS_PATTERN: 8})
    edit_config(adapter("bad-rank", "r is not an integer", 13), r="eight")
    edit_config(adapter("pattern-list", "rank_pattern is a list", 14), rank_pattern=[1])
    edit_config(adapter("rank-zero", "r is 0", 15), r=0)
    (adapter("corrupt-config", "adapter_config.json is not JSON", 16) / "adapter_config.json").write_text("{not json")
    (adapter("deep-config", "adapter_config.json nests 100,000 deep", 17) / "adapter_config.json").write_text(
        "[" * 100_000 + "]" * 100_000)

    path = adapter("truncated-weights", "the safetensors file is cut short", 18)
    weights = path / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])

    path = adapter("escape", "its weights are a symlink to a file outside the adapters directory", 19)
    outside.mkdir(parents=True, exist_ok=True)
    shutil.move(path / "adapter_model.safetensors", outside / "escaped.safetensors")
    os.symlink(outside / "escaped.safetensors", path / "adapter_model.safetensors")

    path = adapter("no-weights", "the weights file is missing", 20)
    (path / "adapter_model.safetensors").unlink()

    other = LlamaConfig(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    problems["other-base"] = "trained for another base model"
    write_random_adapter(adapters / "other-base", other, rank=4, seed=21)
    return problems
