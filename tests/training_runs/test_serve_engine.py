"""The serving engine: mixed-adapter continuous batching gives each request what it would get alone."""
from __future__ import annotations

import threading

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from training_runs.serve.adapters import AdapterDirectory, read_adapter
from training_runs.serve.engine import EngineConfig, GenerationRequest, SamplingParams, ServeEngine
from training_runs.serve.errors import AdapterFormatError, AdapterTooLargeError, ServerBusyError
from training_runs.serve.random_adapters import write_peft_adapters, write_random_adapter
from training_runs.tiny_model import write_tiny_model

ADAPTERS = ("alpha", "beta", "gamma", "delta")
PROMPTS = ([1, 50, 60, 70], [1, 80, 90], [1, 100, 20, 30, 40, 41, 42, 43, 44], [1, 7])
NEW_TOKENS = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-engine")
    model_dir = write_tiny_model(root / "tiny", hidden_size=64, layers=2)
    write_peft_adapters(model_dir, root / "adapters", ADAPTERS[:3], target_modules=("q_proj", "v_proj", "down_proj"))
    write_random_adapter(root / "adapters" / "delta", AutoModelForCausalLM.from_pretrained(model_dir).config, rank=8, seed=3)
    return root, model_dir


@pytest.fixture(scope="module")
def references(workspace):
    """Greedy continuations from transformers' generate with peft's PeftModel, one request at a time."""
    from peft import PeftModel

    root, model_dir = workspace
    expected = {}
    for name in (None, *ADAPTERS):
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        if name is not None:
            model = PeftModel.from_pretrained(model, root / "adapters" / name)
        model.eval()
        for prompt in PROMPTS:
            ids = torch.tensor([prompt])
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                 do_sample=False, eos_token_id=None, pad_token_id=0)
            expected[name, tuple(prompt)] = out[0, len(prompt):].tolist()
    return expected


def make_engine(workspace, **overrides) -> ServeEngine:
    root, model_dir = workspace
    reader = overrides.pop("adapter_reader", None)
    config = EngineConfig(**{"max_batch_size": 8, "max_seq_len": 64, "max_adapters": 4, **overrides})
    kwargs = {"adapter_reader": reader} if reader else {}
    return ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"), config,
                       eos_token_ids=[], **kwargs).start()


def greedy(adapter, prompt, max_tokens=NEW_TOKENS) -> GenerationRequest:
    return GenerationRequest(prompt_ids=prompt, adapter=adapter, sampling=SamplingParams(max_tokens=max_tokens, temperature=0))


def test_a_batch_mixing_adapters_and_the_base_model_matches_peft_run_one_request_at_a_time(workspace, references):
    engine = make_engine(workspace)
    try:
        requests = [greedy(name, prompt) for prompt in PROMPTS for name in (None, *ADAPTERS)]
        results = engine.generate(requests, timeout=120)
    finally:
        engine.shutdown()
    for request, result in zip(requests, results):
        assert result.error is None
        assert result.token_ids == references[request.adapter, tuple(request.prompt_ids)], request.adapter
    assert len({tuple(references[name, tuple(PROMPTS[0])]) for name in (None, *ADAPTERS)}) == 5  # adapters matter


def test_requests_joining_a_running_batch_between_decode_steps_get_the_same_tokens(workspace, references):
    engine = make_engine(workspace, max_batch_size=3)
    try:
        long_runner = engine.submit_many([greedy("alpha", PROMPTS[2], 40)], [lambda event: None])
        results = engine.generate([greedy(name, prompt) for name in ADAPTERS for prompt in PROMPTS[:2]], timeout=120)
        assert engine.stats().steps > 0 and long_runner
    finally:
        engine.shutdown()
    expected = [references[name, tuple(prompt)] for name in ADAPTERS for prompt in PROMPTS[:2]]
    assert [r.token_ids for r in results] == expected


def test_one_adapter_at_a_time_policy_gives_the_same_outputs(workspace, references):
    engine = make_engine(workspace, policy="single")
    try:
        requests = [greedy(name, prompt) for name in (*ADAPTERS, None) for prompt in PROMPTS]
        results = engine.generate(requests, timeout=120)
    finally:
        engine.shutdown()
    assert [r.token_ids for r in results] == [references[q.adapter, tuple(q.prompt_ids)] for q in requests]


def test_the_least_recently_used_adapter_is_evicted_beyond_the_count_limit_and_reloads_correctly(workspace, references):
    engine = make_engine(workspace, max_adapters=2)
    try:
        for name in ("alpha", "beta", "gamma"):
            [result] = engine.generate([greedy(name, PROMPTS[0])], timeout=60)
            assert result.token_ids == references[name, tuple(PROMPTS[0])]
        stats = engine.stats()
        assert stats.adapters_loaded == ["beta", "gamma"] and stats.adapter_evictions == 1
        [again] = engine.generate([greedy("alpha", PROMPTS[1])], timeout=60)
        assert again.token_ids == references["alpha", tuple(PROMPTS[1])]
        assert engine.stats().adapters_loaded == ["gamma", "alpha"]
    finally:
        engine.shutdown()


def test_the_memory_budget_bounds_resident_adapter_bytes(workspace):
    root, _ = workspace
    one = read_adapter(root / "adapters" / "alpha").nbytes
    engine = make_engine(workspace, max_adapters=4, adapter_memory_bytes=int(one * 1.5))
    try:
        for name in ("alpha", "beta", "gamma"):
            engine.generate([greedy(name, PROMPTS[0], 2)], timeout=60)
            stats = engine.stats()
            assert stats.adapters_loaded == [name] and stats.adapter_bytes <= int(one * 1.5)
        assert engine.stats().adapter_evictions == 2
    finally:
        engine.shutdown()


def test_an_adapter_larger_than_the_whole_budget_fails_with_a_clear_error(workspace):
    engine = make_engine(workspace, adapter_memory_bytes=100)
    try:
        [result] = engine.generate([greedy("alpha", PROMPTS[0])], timeout=60)
    finally:
        engine.shutdown()
    assert result.finish_reason == "error" and isinstance(result.error, AdapterTooLargeError)
    assert "memory budget" in str(result.error)


def test_more_concurrent_adapters_than_slots_all_finish_because_finished_ones_are_evicted(workspace, references):
    engine = make_engine(workspace, max_adapters=1, max_batch_size=4)
    try:
        requests = [greedy(name, prompt) for prompt in PROMPTS[:2] for name in ADAPTERS]
        results = engine.generate(requests, timeout=120)
    finally:
        engine.shutdown()
    assert [r.token_ids for r in results] == [references[q.adapter, tuple(q.prompt_ids)] for q in requests]


def test_a_request_waiting_for_a_slot_is_not_overtaken_by_newer_requests_for_the_resident_adapter(workspace):
    engine = make_engine(workspace, max_adapters=1, max_batch_size=8)
    order: list[str] = []
    first = _Waiter()
    try:
        engine.submit(greedy("alpha", PROMPTS[0], 30), first.sink)
        while not first.tokens:
            threading.Event().wait(0.01)
        waiters = {name: _Waiter(label=name, order=order) for name in ("beta", "alpha-2", "alpha-3")}
        engine.submit_many([greedy("beta", PROMPTS[1]), greedy("alpha", PROMPTS[1]), greedy("alpha", PROMPTS[2])],
                           [waiters[name].sink for name in ("beta", "alpha-2", "alpha-3")])
        assert all(w.done.wait(60) for w in waiters.values())
    finally:
        engine.shutdown()
    assert order[0] == "beta"


def test_a_slow_adapter_load_does_not_hold_up_requests_for_loaded_adapters(workspace, references):
    release = threading.Event()
    started = threading.Event()

    def reader(path, **kwargs):
        if path.name == "gamma":
            started.set()
            release.wait(60)
        return read_adapter(path, **kwargs)

    engine = make_engine(workspace, adapter_reader=reader)
    try:
        engine.generate([greedy("alpha", PROMPTS[0], 1)], timeout=60)  # alpha is resident now
        slow = _Waiter()
        engine.submit(greedy("gamma", PROMPTS[0]), slow.sink)
        assert started.wait(30)
        [fast] = engine.generate([greedy("alpha", PROMPTS[1])], timeout=60)  # completes while gamma still loads
        assert fast.token_ids == references["alpha", tuple(PROMPTS[1])]
        assert not slow.done.is_set()
        release.set()
        assert slow.done.wait(60) and slow.tokens == references["gamma", tuple(PROMPTS[0])]
    finally:
        release.set()
        engine.shutdown()


def test_requests_beyond_the_concurrency_limit_are_refused_as_busy(workspace):
    release = threading.Event()

    def reader(path, **kwargs):  # hold requests in the queue until the test is done
        release.wait(60)
        return read_adapter(path, **kwargs)

    engine = make_engine(workspace, max_concurrent_requests=2, adapter_reader=reader)
    try:
        engine.submit_many([greedy("beta", PROMPTS[0]), greedy("beta", PROMPTS[1])], [lambda e: None] * 2)
        with pytest.raises(ServerBusyError, match="limit is 2"):
            engine.submit(greedy("beta", PROMPTS[0]), lambda e: None)
    finally:
        release.set()
        engine.shutdown()


def test_seeded_sampling_repeats_and_different_seeds_differ(workspace):
    engine = make_engine(workspace)
    try:
        def sample(seed):
            params = SamplingParams(max_tokens=12, temperature=1.5, top_p=0.95, seed=seed)
            return engine.generate([GenerationRequest(prompt_ids=PROMPTS[0], adapter="beta", sampling=params)])[0].token_ids
        assert sample(7) == sample(7)
        assert len({tuple(sample(s)) for s in range(4)}) > 1
    finally:
        engine.shutdown()


def test_a_cancelled_request_stops_early_and_frees_its_place(workspace):
    engine = make_engine(workspace)
    try:
        waiter = _Waiter(cancel_after=2, engine=engine)
        waiter.request_id = engine.submit(greedy("alpha", PROMPTS[0], 50), waiter.sink)
        assert waiter.done.wait(60)
        assert waiter.reason == "cancelled" and len(waiter.tokens) < 50
        assert engine.stats().in_flight == 0 and engine.stats().running == 0
    finally:
        engine.shutdown()


def test_an_adapter_for_another_base_model_is_refused_with_the_reason(workspace, tmp_path):
    root, _ = workspace
    other = LlamaConfig(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    write_random_adapter(root / "adapters" / "wrong-base", other, rank=4)
    engine = make_engine(workspace)
    try:
        [result] = engine.generate([greedy("wrong-base", PROMPTS[0])], timeout=60)
    finally:
        engine.shutdown()
    assert isinstance(result.error, AdapterFormatError) and "another base model" in str(result.error)


def test_grouped_query_attention_models_decode_like_transformers(tmp_path):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    model = LlamaForCausalLM(config).eval()
    write_random_adapter(tmp_path / "adapters" / "gqa", config, rank=4, seed=1)
    expected = {}
    for prompt in PROMPTS:
        out = model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, pad_token_id=0)
        expected[tuple(prompt)] = out[0, len(prompt):].tolist()
    engine = ServeEngine(model, AdapterDirectory(tmp_path / "adapters"), EngineConfig(max_batch_size=4, max_seq_len=32)).start()
    try:
        results = engine.generate([greedy(None, p, 6) for p in PROMPTS] + [greedy("gqa", p, 6) for p in PROMPTS])
    finally:
        engine.shutdown()
    assert [r.token_ids for r in results[:4]] == [expected[tuple(p)] for p in PROMPTS]
    assert [r.token_ids for r in results[4:]] != [r.token_ids for r in results[:4]]


class _Waiter:
    """Collects one request's events; ``order`` records which labelled request produced a token first."""

    def __init__(self, cancel_after: int | None = None, engine=None, label: str = "", order: list | None = None) -> None:
        self.tokens, self.reason, self.done = [], None, threading.Event()
        self.cancel_after, self.engine, self.request_id = cancel_after, engine, None
        self.label, self.order = label, order

    def sink(self, event) -> None:
        if event.token_id is not None:
            if not self.tokens and self.order is not None:
                self.order.append(self.label)
            self.tokens.append(event.token_id)
            if self.cancel_after and len(self.tokens) == self.cancel_after:
                self.engine.cancel(self.request_id)
        if event.finish_reason is not None:
            self.reason = event.finish_reason
            self.done.set()
