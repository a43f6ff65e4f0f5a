"""A bounded hostile load on a real server (uvicorn, the tiny random Llama, CPU): several clients at once send valid,
malformed and oversized requests, ask for broken adapters and hang up mid-answer. No answer is a 5xx, every valid
request gets exactly what it gets alone, /health stays responsive, and the engine ends drained with memory bounded."""
from __future__ import annotations

import gc
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.serve.adapters import AdapterDirectory, read_adapter
from training_runs.serve.app import ServerSettings, create_app
from training_runs.serve.engine import EngineConfig, ServeEngine
from training_runs.serve.protocol import RequestLimits
from training_runs.serve.random_adapters import write_hostile_adapters, write_peft_adapters
from training_runs.serve.server import serve_in_background
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIMITS = RequestLimits(max_prompt_tokens=48, max_tokens=12, max_body_bytes=64 * 1024)
CONCURRENCY = 24
CLIENTS = 6
JOBS_PER_CLIENT = 40
PROMPTS = ["Answer:", "Review: this movie was", "Question: what is the capital of", "Input: the quick brown fox"]
MODELS = ["tiny", "alpha", "beta"]


def overflowing_reader(path, **kwargs):
    """Adapter 'overflows' computes NaN inside the model (what finite but overflowing weights do)."""
    weights = read_adapter(path, **kwargs)
    if path.name == "overflows":
        weights.modules = {m: (a, torch.full_like(b, float("nan"))) for m, (a, b) in weights.modules.items()}
    return weights


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-hostile")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    write_peft_adapters(model_dir, root / "adapters", ["alpha", "beta", "overflows"])
    hostile = write_hostile_adapters(root / "adapters", root / "outside",
                                     AutoModelForCausalLM.from_pretrained(model_dir).config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = ServeEngine(
        AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"),
        EngineConfig(max_batch_size=8, max_seq_len=64, max_adapters=3, max_concurrent_requests=CONCURRENCY),
        eos_token_ids=[tokenizer.eos_token_id], adapter_reader=overflowing_reader,
    )
    app = create_app(engine, tokenizer, ServerSettings(base_model_name="tiny", limits=LIMITS))
    gc.freeze()  # as run_server does: no full collection over the model's (and pytest's) objects mid-request
    try:
        with serve_in_background(app) as url:
            yield url, engine, [*hostile, "overflows"]
    finally:
        gc.unfreeze()


def valid_body(model: str, prompt: str, sampled: bool) -> dict:
    body = {"model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0}
    return {**body, "temperature": 1.0, "top_p": 0.9, "seed": 7} if sampled else body


def hostile_jobs(bad_adapters: list[str]) -> list[tuple[str, object]]:
    """(kind, payload) of requests that must all be refused with a 4xx."""
    deep = b"[" * 50_000 + b"]" * 50_000
    return [
        ("raw", b"{not json"), ("raw", b"\xff\xfe\x00garbage"), ("raw", deep), ("raw", b'{"model": "tiny", "prompt": "\\ud800"}'),
        ("raw", b"[" * 70 + b"]" * 70), ("raw", b""),
        ("json", {"model": "tiny", "prompt": "x", "max_tokens": 10_000}),
        ("json", {"model": "tiny", "prompt": "x", "stop": ["s" * 300]}),
        ("json", {"model": "tiny", "prompt": "x", "stop": ["a", "b", "c", "d", "e"]}),
        ("json", {"model": "tiny", "prompt": "word " * 400}),                      # too many tokens
        ("json", {"model": "tiny", "prompt": "x" * 70_000}),                       # body too large
        ("json", {"model": "tiny", "prompt": ["x"] * (CONCURRENCY + 1), "max_tokens": 1}),  # never admissible
        ("json", {"model": "../../etc/passwd", "prompt": "x"}),
        ("json", {"model": "ghost", "prompt": "x"}),
        ("json", {"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}),
        *[("json", {"model": name, "prompt": "Answer:", "max_tokens": 4}) for name in bad_adapters],
        *[("json-chat", {"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
          for name in bad_adapters[:3]],
    ]


class Recorder:
    """Statuses and mismatches seen by all clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: list[tuple[int, str]] = []
        self.wrong: list[str] = []

    def status(self, code: int, what: str) -> None:
        with self.lock:
            self.statuses.append((code, what))

    def mismatch(self, what: str) -> None:
        with self.lock:
            self.wrong.append(what)


def run_client(url: str, seed: int, expected: dict, hostile: list, recorder: Recorder) -> None:
    rng = random.Random(seed)
    valid = list(expected)
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(JOBS_PER_CLIENT):
            roll = rng.random()
            if roll < 0.35:
                key = rng.choice(valid)
                response = client.post("/v1/completions", json=valid_body(*key))
                recorder.status(response.status_code, f"valid {key}")
                if response.status_code == 200 and response.json()["choices"][0]["text"] != expected[key]:
                    recorder.mismatch(f"{key}: {response.json()['choices'][0]['text']!r} != {expected[key]!r}")
            elif roll < 0.5:
                key = rng.choice(valid)
                with client.stream("POST", "/v1/completions", json={**valid_body(*key), "stream": True}) as response:
                    recorder.status(response.status_code, f"stream {key}")
                    events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
                text = "".join(json.loads(e)["choices"][0]["text"] for e in events if e != "[DONE]")
                if text != expected[key]:
                    recorder.mismatch(f"stream {key}: {text!r} != {expected[key]!r}")
            elif roll < 0.6:  # hang up after the first chunk of a long stream
                body = {"model": rng.choice(MODELS), "prompt": rng.choice(PROMPTS), "max_tokens": 12, "stream": True}
                with client.stream("POST", "/v1/completions", json=body) as response:
                    recorder.status(response.status_code, "disconnect mid-stream")
                    next(response.iter_lines(), None)
            elif roll < 0.65:  # hang up before a non-streamed answer comes
                try:
                    client.post("/v1/completions", timeout=0.02,
                                json={"model": rng.choice(MODELS), "prompt": rng.choice(PROMPTS), "max_tokens": 12})
                except httpx.TimeoutException:
                    pass
            else:
                kind, payload = rng.choice(hostile)
                path = "/v1/chat/completions" if kind == "json-chat" else "/v1/completions"
                if kind == "raw":
                    response = client.post(path, content=payload, headers={"content-type": "application/json"})
                else:
                    response = client.post(path, json=payload)
                recorder.status(response.status_code, f"hostile {str(payload)[:60]}")
                if response.status_code < 400 or "error" not in response.json():
                    recorder.mismatch(f"hostile request answered {response.status_code}: {str(payload)[:60]}")


def watch_health(url: str, stop: threading.Event, latencies: list[float], statuses: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            statuses.append(client.get("/health").status_code)
            latencies.append(time.perf_counter() - started)
            stop.wait(0.02)


def storm(url: str, expected: dict, hostile: list, seed: int) -> tuple[Recorder, list[float], list[int]]:
    recorder, latencies, health = Recorder(), [], []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_health, args=(url, stop, latencies, health))
    watcher.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            for future in [pool.submit(run_client, url, seed * 100 + i, expected, hostile, recorder) for i in range(CLIENTS)]:
                future.result()
    finally:
        stop.set()
        watcher.join(30)
    return recorder, latencies, health


def wait_drained(engine, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = engine.stats()
        if stats.in_flight == 0 and stats.running == 0 and stats.waiting == 0:
            return stats
        time.sleep(0.05)
    return engine.stats()


def test_the_server_survives_a_hostile_load_with_no_5xx_no_wrong_output_and_bounded_memory(server):
    url, engine, bad_adapters = server
    with httpx.Client(base_url=url, timeout=60) as client:  # what each valid request gets alone
        expected = {}
        for model in MODELS:
            for prompt in PROMPTS:
                for sampled in (False, True):
                    response = client.post("/v1/completions", json=valid_body(model, prompt, sampled))
                    assert response.status_code == 200, response.text
                    expected[model, prompt, sampled] = response.json()["choices"][0]["text"]
    assert len(set(expected.values())) > len(MODELS)  # adapters and sampling change the answers
    hostile = hostile_jobs(bad_adapters)

    process = psutil.Process()
    first = storm(url, expected, hostile, seed=1)  # warms every code path and cache before memory is measured
    rss_warm = process.memory_info().rss
    later = [storm(url, expected, hostile, seed=seed) for seed in (2, 3)]
    rss_after = process.memory_info().rss

    for recorder, latencies, health in (first, *later):
        assert [s for s in recorder.statuses if s[0] >= 500] == []
        assert recorder.wrong == []
        assert set(health) == {200} and max(latencies) < 2.0, f"slowest /health: {max(latencies):.2f} s"
    assert sum(len(r.statuses) for r, _, _ in (first, *later)) > CLIENTS * JOBS_PER_CLIENT * 2
    stats = wait_drained(engine)
    assert (stats.in_flight, stats.running, stats.waiting) == (0, 0, 0)
    assert httpx.get(f"{url}/health").json()["preparing"] == 0
    assert len(stats.adapters_loaded) <= 3
    assert rss_after - rss_warm < 64 << 20, f"RSS grew by {(rss_after - rss_warm) / 2**20:.0f} MiB over two storms"
