"""Hostile-request benchmark of the multi-LoRA server: how hostile requests are answered, and what they cost the
other clients, against the same server unloaded in the same run.

A real uvicorn server with the tiny random Llama model (CPU) and default request limits. Measured:

1. the time to answer each of issue 15's hostile requests (a 1 MB body with four 250,000-character stop
   strings; a body nested 100,000 deep; a 1 MB prompt, refused as too long after tokenizing its head; adapters
   with a backtracking ``alpha_pattern`` and with NaN weights), and its status;
2. ``/health`` latency (p50, p99, max) while only well-behaved clients run (the reference) and while clients send those
   requests back to back, with the ratio;
3. greedy completions per second of well-behaved clients alone (the reference) and next to the hostile
   clients, with the ratio;
4. the text assembly of one 512-token answer with four 256-character stop strings (the limit) against the
   same answer with no stop strings.

Usage:
    python benchmarks/serve_hostile_bench.py                  # about a minute on a 2-core CPU
    python benchmarks/serve_hostile_bench.py --seconds 5
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_runs.serve.adapters import AdapterDirectory  # noqa: E402
from training_runs.serve.app import ServerSettings, create_app  # noqa: E402
from training_runs.serve.engine import EngineConfig, ServeEngine  # noqa: E402
from training_runs.serve.random_adapters import REDOS_PATTERN, write_hostile_adapters  # noqa: E402
from training_runs.serve.server import serve_in_background  # noqa: E402
from training_runs.serve.textstream import TextAssembler  # noqa: E402
from training_runs.tiny_model import write_tiny_model  # noqa: E402


def hostile_requests() -> dict[str, tuple[bytes, str]]:
    """``{label: (body, path)}`` of the issue's hostile requests."""
    completions = "/v1/completions"
    return {
        "1 MB body, four 250,000-char stop strings": (
            json.dumps({"model": "tiny", "prompt": "x", "stop": ["ab" * 125_000] * 4}).encode(), completions),
        "body nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, completions),
        "1 MB prompt (its head tokenized, refused)": (
            json.dumps({"model": "tiny", "prompt": "word " * 200_000}).encode(), completions),
        f"adapter with alpha_pattern {REDOS_PATTERN}": (
            json.dumps({"model": "redos-pattern", "prompt": "x", "max_tokens": 4}).encode(), completions),
        "adapter with NaN weights": (
            json.dumps({"model": "nan-weights", "prompt": "x", "max_tokens": 4}).encode(), completions),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def probe_health(url: str, seconds: float) -> list[float]:
    import httpx

    latencies = []
    deadline = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    return latencies


def good_client(url: str, seconds: float, counts: list[int]) -> None:
    import httpx

    deadline = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.perf_counter() < deadline:
            response = client.post("/v1/completions", json={"model": "tiny", "prompt": "Answer:", "max_tokens": 8,
                                                            "temperature": 0})
            if response.status_code == 200:
                counts.append(1)


def hostile_client(url: str, seconds: float, requests: dict) -> None:
    import httpx

    deadline = time.perf_counter() + seconds
    with httpx.Client(base_url=url, timeout=120) as client:
        while time.perf_counter() < deadline:
            for body, path in requests.values():
                client.post(path, content=body, headers={"content-type": "application/json"})


def load_window(url: str, seconds: float, *, hostile: int, good: int, requests: dict) -> tuple[list[float], float]:
    """/health latencies and good completions per second during ``seconds`` of load."""
    counts: list[int] = []
    threads = [threading.Thread(target=hostile_client, args=(url, seconds, requests)) for _ in range(hostile)]
    threads += [threading.Thread(target=good_client, args=(url, seconds, counts)) for _ in range(good)]
    for thread in threads:
        thread.start()
    latencies = probe_health(url, seconds)
    for thread in threads:
        thread.join()
    return latencies, len(counts) / seconds


def assembly_seconds(tokenizer, ids: list[int], stops: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        assembler = TextAssembler(tokenizer, stops)
        for token in ids:
            assembler.add(token)
        assembler.finish()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    import httpx
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load window")
    parser.add_argument("--hostile-clients", type=int, default=2)
    parser.add_argument("--good-clients", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    root = Path(tempfile.mkdtemp(prefix="serve-hostile-bench-"))
    model_dir = write_tiny_model(root / "tiny", hidden_size=64, layers=2, max_position_embeddings=2560)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    write_hostile_adapters(root / "adapters", root / "outside", model.config)

    engine = ServeEngine(model, AdapterDirectory(root / "adapters"), EngineConfig(max_batch_size=16, max_seq_len=2560),
                         eos_token_ids=[tokenizer.eos_token_id])
    app = create_app(engine, tokenizer, ServerSettings(base_model_name="tiny"))
    requests = hostile_requests()
    gc.freeze()  # as run_server does
    print(f"tiny random Llama (hidden 64, 2 layers) on CPU, torch {torch.__version__}, default request limits; "
          f"{args.seconds:g} s windows", flush=True)
    with serve_in_background(app) as url:
        with httpx.Client(base_url=url, timeout=300) as client:
            print("\n1. hostile requests, one at a time (the issue measured 52 s for the first one, 25 s for the pattern)")
            for label, (body, path) in requests.items():
                times, status = [], None
                for _ in range(3):
                    started = time.perf_counter()
                    response = client.post(path, content=body, headers={"content-type": "application/json"})
                    times.append(time.perf_counter() - started)
                    status = response.status_code
                print(f"   {label:<42} HTTP {status}  median {statistics.median(times) * 1000:8.1f} ms "
                      f"({len(body) / 1e6:.2f} MB body)", flush=True)

        idle, good_alone = load_window(url, args.seconds, hostile=0, good=args.good_clients, requests=requests)
        loaded, good_loaded = load_window(url, args.seconds, hostile=args.hostile_clients, good=args.good_clients,
                                          requests=requests)
    print(f"\n2. /health latency, ms          p50      p99      max   ({args.hostile_clients} hostile clients back to back)")
    for label, values in (("with good clients only", idle), ("with hostile clients too", loaded)):
        print(f"   {label:<26}{percentile(values, .5) * 1000:7.1f}  {percentile(values, .99) * 1000:7.1f}  "
              f"{max(values) * 1000:7.1f}")
    print(f"   ratio p99 hostile / reference: {percentile(loaded, .99) / percentile(idle, .99):.1f}x")
    print(f"\n3. good clients' completions/s: {good_alone:.1f} alone, {good_loaded:.1f} next to hostile clients "
          f"({good_loaded / good_alone:.2f}x)")

    ids = tokenizer("The answer is yes. " * 200, add_special_tokens=False)["input_ids"][:512]
    stops = ["\u2603" * 256, "z" * 255 + "q", "ab" * 128, "The answer is no" + "!" * 240]
    plain = assembly_seconds(tokenizer, ids, [], repeats=5)
    stopped = assembly_seconds(tokenizer, ids, stops, repeats=5)
    print(f"\n4. text assembly of a {len(ids)}-token answer: {plain * 1000:.1f} ms without stop strings, "
          f"{stopped * 1000:.1f} ms with four of 256 characters ({stopped / plain:.2f}x; "
          f"{len(ids) / stopped:,.0f} tokens/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
