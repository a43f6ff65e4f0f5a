"""Multi-LoRA serving benchmark: mixed-adapter batching vs one adapter at a time, in one run.

N closed-loop clients send requests (random prompts, a fixed number of new tokens, EOS ignored) for
adapters drawn uniformly from 1, 8 or 32 random LoRA adapters (r=8 on q_proj and v_proj, the study's
recipe). Each (policy, adapter count) runs for a fixed time window; the figures count tokens streamed
inside the window:

- throughput: generated tokens per second;
- latency and time to first token (p50/p95) of the requests that completed inside the window.

Policies: ``mixed`` (requests for different adapters share each forward pass) and ``single`` (the batch
only holds one adapter at a time, as when serving merged weights). Printed ratios: mixed with 32
adapters vs mixed with 1 (target on a GPU: at least 0.8), and mixed vs single at 8 and 32 adapters.

The engine is driven in-process (no HTTP), so the figures are those of the scheduler and the model, not
of JSON and sockets, and the script needs no web packages on the GPU machine.

Usage:
    python benchmarks/serve_bench.py --tiny                 # CPU smoke run with the tiny model (~30 s)
    python benchmarks/serve_bench.py                        # GPU: a random ~1.1B Llama-shaped model in bf16
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_runs.serve.adapters import AdapterDirectory  # noqa: E402
from training_runs.serve.engine import EngineConfig, GenerationRequest, SamplingParams, ServeEngine  # noqa: E402
from training_runs.serve.random_adapters import write_random_adapter  # noqa: E402


@dataclass
class Measurement:
    policy: str
    adapters: int
    clients: int
    seconds: float
    tokens: int
    completed: int
    latencies: list[float]
    ttfts: list[float]

    @property
    def throughput(self) -> float:
        return self.tokens / self.seconds

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def build_model(tiny: bool, device: str, layers: int | None):
    from transformers import LlamaConfig, LlamaForCausalLM

    if tiny:
        config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=layers or 2,
                             num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024)
        dtype = torch.float32
    else:  # TinyLlama-1.1B's shape: 22 layers, hidden 2048, GQA with 4 KV heads
        config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=layers or 22,
                             num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048)
        dtype = torch.bfloat16
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval(), config


def run_window(engine: ServeEngine, adapters: list[str], clients: int, seconds: float, prompt_tokens: int,
               max_tokens: int, vocab: int, seed: int) -> Measurement:
    """Closed-loop clients for ``seconds``; tokens are counted when they are streamed inside the window."""
    lock = threading.Lock()
    state = {"tokens": 0, "completed": 0}
    latencies: list[float] = []
    ttfts: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    stop = threading.Event()

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while not stop.is_set() and time.perf_counter() < deadline:
            adapter = rng.choice(adapters)
            prompt = [rng.randrange(3, vocab) for _ in range(rng.randint(prompt_tokens // 2, prompt_tokens))]
            done = threading.Event()
            times: dict[str, float] = {}
            sent = time.perf_counter()

            def sink(event, times=times, done=done) -> None:
                if event.token_id is not None:
                    if event.time <= deadline:
                        with lock:
                            state["tokens"] += 1
                    times.setdefault("first", event.time)
                if event.finish_reason is not None:
                    times["end"] = event.time
                    times["reason"] = event.finish_reason
                    done.set()

            request = GenerationRequest(prompt_ids=prompt, adapter=adapter,
                                        sampling=SamplingParams(max_tokens=max_tokens, temperature=0))
            request_id = engine.submit(request, sink)
            if not done.wait(max(0.0, deadline - time.perf_counter()) + 0.01):
                engine.cancel(request_id)  # the window is over: stop generating for this client
                done.wait(120)
            if times.get("reason") == "length" and times["end"] <= deadline:
                with lock:
                    state["completed"] += 1
                    latencies.append(times["end"] - sent)
                    ttfts.append(times["first"] - sent)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, deadline - time.perf_counter()))
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    return Measurement(engine.config.policy, len(adapters), clients, seconds, state["tokens"], state["completed"],
                       latencies, ttfts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny CPU model and small settings")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers (default 22 on GPU, 2 tiny)")
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (default 64 GPU, 8 tiny)")
    parser.add_argument("--seconds", type=float, default=None, help="window per configuration (default 12 GPU, 2 tiny)")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="longest prompt (default 128 GPU, 16 tiny)")
    parser.add_argument("--max-tokens", type=int, default=None, help="tokens per request (default 64 GPU, 16 tiny)")
    parser.add_argument("--adapter-counts", default="1,8,32")
    parser.add_argument("--policies", default="mixed,single")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--warmup-seconds", type=float, default=None,
                        help="unmeasured load before each policy's windows (default: one window on GPU, 0.5 s tiny)")
    parser.add_argument("--cpu-threads", type=int, default=1,
                        help="torch threads on the CPU (default 1: tiny matmuls only lose from more threads)")
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if device == "cpu":
        torch.set_num_threads(args.cpu_threads)
    gpu_defaults = not args.tiny
    clients = args.clients or (64 if gpu_defaults else 8)
    seconds = args.seconds or (12.0 if gpu_defaults else 2.0)
    prompt_tokens = args.prompt_tokens or (128 if gpu_defaults else 16)
    max_tokens = args.max_tokens or (64 if gpu_defaults else 16)
    # On a GPU the first window otherwise pays for allocator growth and first kernel launches of every
    # prompt shape (seen: the first measured configuration at 40% of the same configuration run later).
    warmup = args.warmup_seconds if args.warmup_seconds is not None else (seconds if gpu_defaults else 0.5)
    counts = [int(c) for c in args.adapter_counts.split(",")]
    policies = args.policies.split(",")

    built = time.perf_counter()
    model, config = build_model(args.tiny, device, args.layers)
    workdir = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    names = [f"adapter-{i:02d}" for i in range(max(counts))]
    for i, name in enumerate(names):
        write_random_adapter(workdir / name, config, rank=args.rank, seed=i)
    params = sum(p.numel() for p in model.parameters())
    device_name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    print(f"device: {device_name}; torch {torch.__version__}; model: random Llama, {config.num_hidden_layers} layers, "
          f"hidden {config.hidden_size}, {params / 1e9:.2f}B parameters, {next(model.parameters()).dtype}; "
          f"{len(names)} adapters r={args.rank} on q_proj,v_proj; setup {time.perf_counter() - built:.1f} s", flush=True)
    print(f"load: {clients} closed-loop clients, prompts up to {prompt_tokens} tokens, {max_tokens} new tokens each, "
          f"{seconds:g} s per configuration", flush=True)

    results: list[Measurement] = []
    for policy in policies:
        engine_config = EngineConfig(
            max_batch_size=clients, max_seq_len=prompt_tokens + max_tokens + 8, max_adapters=max(counts),
            adapter_memory_bytes=1 << 34, max_lora_rank=args.rank, max_concurrent_requests=max(clients * 2, len(names)),
            max_prefill_tokens=max(4096, prompt_tokens * 16), policy=policy,
        )
        engine = ServeEngine(model, AdapterDirectory(workdir), engine_config, eos_token_ids=[]).start()
        try:  # warm-up: loads every adapter into its slot and brings up the kernels
            engine.generate([GenerationRequest(prompt_ids=[5] * prompt_tokens, adapter=name,
                                               sampling=SamplingParams(max_tokens=4, temperature=0)) for name in names])
            if warmup > 0:  # so the first measured window does not pay for allocator growth and first launches
                run_window(engine, names, clients, warmup, prompt_tokens, max_tokens, config.vocab_size, seed=0)
            for count in counts:
                m = run_window(engine, names[:count], clients, seconds, prompt_tokens, max_tokens, config.vocab_size, seed=count)
                results.append(m)
                print(f"  {policy:<6} {count:>2} adapters: {m.throughput:9.1f} tokens/s, latency p50 "
                      f"{m.pct(m.latencies, .5):.3f} s p95 {m.pct(m.latencies, .95):.3f} s, TTFT p50 "
                      f"{m.pct(m.ttfts, .5):.3f} s p95 {m.pct(m.ttfts, .95):.3f} s, {m.completed} requests completed",
                      flush=True)
        finally:
            engine.shutdown()

    print("\nsummary")
    print(f"{'policy':<7}{'adapters':>9}{'tokens/s':>11}{'p50 lat s':>11}{'p95 lat s':>11}{'p50 TTFT s':>12}"
          f"{'p95 TTFT s':>12}{'completed':>11}")
    for m in results:
        print(f"{m.policy:<7}{m.adapters:>9}{m.throughput:>11.1f}{m.pct(m.latencies, .5):>11.3f}"
              f"{m.pct(m.latencies, .95):>11.3f}{m.pct(m.ttfts, .5):>12.3f}{m.pct(m.ttfts, .95):>12.3f}{m.completed:>11}")
    by = {(m.policy, m.adapters): m.throughput for m in results}
    lo, hi = min(counts), max(counts)
    if ("mixed", lo) in by and ("mixed", hi) in by:
        ratio = by["mixed", hi] / by["mixed", lo]
        print(f"mixed, {hi} adapters vs {lo}: throughput ratio {ratio:.2f} (target >= 0.80)")
    for count in counts:
        if ("mixed", count) in by and ("single", count) in by and by["single", count] > 0:
            print(f"{count} adapters: mixed batching vs one adapter at a time: {by['mixed', count] / by['single', count]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
