"""``advisor serve --engine vllm``: hand serving to vLLM's OpenAI-compatible multi-LoRA server (CUDA only).

The same options map onto vLLM's server: every adapter in the adapters directory at start-up whose files
pass the server's checks (``AdapterCatalog``) becomes a ``--lora-modules name=path`` entry (adapters added later need a restart, or vLLM's runtime LoRA updating),
``--max-adapters`` becomes ``--max-loras`` (adapters in one batch) and ``--max-cpu-loras``, and the
limits become ``--max-lora-rank``, ``--max-model-len`` and ``--max-num-seqs``. The token is passed in the
``VLLM_API_KEY`` environment variable, not on the command line. vLLM is not a dependency of this package:
without it installed, the command stops with a message that says how to get it.

Example:
    >>> vllm_command(ServeOptions(base_model="/m/tiny", adapters_dir="/nonexistent"))[3:5]
    ['--model', '/m/tiny']
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from training_runs.serve.adapters import AdapterDirectory
from training_runs.serve.catalog import AdapterCatalog
from training_runs.serve.server import ServeOptions


class VLLMUnavailableError(OSError):
    """vLLM is not installed (or there is no CUDA device for it)."""


def vllm_command(options: ServeOptions) -> list[str]:
    """The vLLM server command line for ``options`` (adapters listed from the directory now)."""
    directory = AdapterDirectory(options.adapters_dir)
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", options.base_model,
        "--served-model-name", options.model_name(),
        "--host", options.host,
        "--port", str(options.port),
        "--max-model-len", str(options.engine.max_seq_len),
        "--max-num-seqs", str(options.engine.max_batch_size),
        "--enable-lora",
        "--max-loras", str(options.engine.max_adapters),
        "--max-cpu-loras", str(options.engine.max_adapters),
        "--max-lora-rank", str(options.engine.max_lora_rank),
    ]
    if options.dtype != "auto":
        command += ["--dtype", options.dtype]
    # only adapters whose files pass the checks: one broken adapter must not keep vLLM from starting
    names = [name for name in AdapterCatalog(directory).servable() if name != options.model_name()]
    if names:
        command += ["--lora-modules", *(f"{name}={directory.resolve(name)}" for name in names)]
    return command


def run_vllm(options: ServeOptions) -> int:
    """Run vLLM's server in the foreground with ``options``; return its exit status."""
    if importlib.util.find_spec("vllm") is None:
        raise VLLMUnavailableError(
            "--engine vllm needs vLLM, which is not installed in this environment (it needs a CUDA GPU): "
            "`pip install vllm` on a CUDA machine, or use the built-in engine (--engine builtin)"
        )
    environment = dict(os.environ)
    if options.api_token:
        environment["VLLM_API_KEY"] = options.api_token
    return subprocess.call(vllm_command(options), env=environment)
