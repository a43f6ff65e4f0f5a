"""The server under hostile requests and hostile adapters (issue 15): clear 4xx errors, and nothing one request
does holds up /health or the other clients."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.serve.adapters import AdapterDirectory, read_adapter
from training_runs.serve.app import ServerSettings, create_app
from training_runs.serve.engine import EngineConfig, ServeEngine
from training_runs.serve.protocol import RequestLimits
from training_runs.serve.random_adapters import REDOS_PATTERN, write_hostile_adapters, write_peft_adapters
from training_runs.serve.server import serve_in_background
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-hardening")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    write_peft_adapters(model_dir, root / "adapters", ["alpha", "beta"])
    config = AutoModelForCausalLM.from_pretrained(model_dir).config
    problems = write_hostile_adapters(root / "adapters", root / "outside", config)
    return root, model_dir, problems


def build(workspace, *, tokenizer=None, reader=None, limits=RequestLimits(), settings=None, **config):
    root, model_dir, _ = workspace
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
    engine_config = EngineConfig(**{"max_batch_size": 8, "max_seq_len": 128, "max_adapters": 2, **config})
    kwargs = {"adapter_reader": reader} if reader else {}
    engine = ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"),
                         engine_config, eos_token_ids=[tokenizer.eos_token_id], **kwargs)
    server_settings = ServerSettings(base_model_name="tiny", limits=limits, **(settings or {}))
    return create_app(engine, tokenizer, server_settings), engine


@pytest.fixture(scope="module")
def client(workspace):
    app, _ = build(workspace, limits=RequestLimits(max_prompt_tokens=64, max_tokens=16))
    with TestClient(app) as test_client:
        yield test_client


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


# ----------------------------------------------------------------------------------- stop strings, JSON nesting
def test_four_stop_strings_of_250000_characters_in_a_1_mb_request_are_refused_naming_the_limit(client):
    body = {"model": "tiny", "prompt": "x", "max_tokens": 4, "stop": ["ab" * 125_000] * 4}
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert "at most 256 characters" in error["message"] and error["param"] == "stop"


@pytest.mark.parametrize("depth", [100_000, 400_000])
def test_a_body_nested_hundreds_of_thousands_deep_is_refused_before_parsing(client, depth):
    response = client.post("/v1/completions", content=b"[" * depth + b"]" * depth,
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert f"nests JSON {depth} levels deep" in error_of(response)["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    response = client.post("/v1/completions", json={"model": "tiny", "prompt": "x", "stop": ["[{" * 100], "max_tokens": 1})
    assert response.status_code == 200


def test_a_prompt_with_a_lone_surrogate_is_refused_as_not_unicode(client):
    response = client.post("/v1/completions", content=b'{"model": "tiny", "prompt": "a\\ud800b"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400 and "lone surrogate" in error_of(response)["message"]


def test_a_chat_template_that_refuses_the_messages_is_a_400(workspace):
    _, model_dir, _ = workspace
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}x"
    app, _ = build(workspace, tokenizer=tokenizer)
    with TestClient(app) as client:
        response = client.post("/v1/chat/completions", json={"model": "tiny", "messages": [{"role": "assistant", "content": "hi"}]})
    assert response.status_code == 400 and "user first" in error_of(response)["message"]


# ----------------------------------------------------------------------------------- limits that can never be met
def test_more_prompts_than_the_server_runs_at_once_is_422_naming_the_limit_not_429(workspace):
    app, _ = build(workspace, max_concurrent_requests=2)
    with TestClient(app) as client:
        response = client.post("/v1/completions", json={"model": "tiny", "prompt": ["a", "b", "c"], "max_tokens": 2})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "too_many_prompts" and "at most 2 at once" in error["message"]


# ----------------------------------------------------------------------------------- hostile adapters
def test_every_hostile_adapter_is_refused_with_a_422_or_404_naming_the_problem(client, workspace):
    _, _, problems = workspace
    for name, why in problems.items():
        response = client.post("/v1/completions", json={"model": name, "prompt": "x", "max_tokens": 2})
        assert response.status_code in (404, 422), (name, why, response.text)
        assert error_of(response)["message"], name
        lookup = client.get(f"/v1/models/{name}")
        assert lookup.status_code in (404, 422), (name, why)


def test_a_corrupt_adapter_config_is_422(client):
    for name in ("corrupt-config", "bad-rank", "pattern-list", "rank-zero", "deep-config"):
        response = client.post("/v1/completions", json={"model": name, "prompt": "x", "max_tokens": 2})
        assert response.status_code == 422 and error_of(response)["code"] == "unsupported_adapter", name


def test_models_lists_only_adapters_that_can_be_served(client):
    ids = {entry["id"] for entry in client.get("/v1/models").json()["data"]}
    assert ids == {"tiny", "alpha", "beta"}


def test_a_weights_file_symlinked_outside_the_adapters_directory_is_never_read(client):
    response = client.post("/v1/completions", json={"model": "escape", "prompt": "x", "max_tokens": 2})
    assert response.status_code == 422 and "outside the adapters directory" in error_of(response)["message"]


def test_a_backtracking_alpha_pattern_is_refused_without_running_it(workspace):
    root, _, _ = workspace
    with pytest.raises(ValueError, match="does not run regular expressions") as refused:
        read_adapter(root / "adapters" / "redos-pattern")
    assert REDOS_PATTERN in str(refused.value)


def test_an_adapter_that_cannot_be_read_in_time_fails_its_requests_with_503_and_others_are_served(workspace):
    release = threading.Event()

    def stuck_reader(path, **kwargs):
        if path.name == "beta":
            release.wait(30)
        return read_adapter(path, **kwargs)

    app, _ = build(workspace, reader=stuck_reader, adapter_load_timeout=0.5)
    try:
        with TestClient(app) as client:
            stuck = client.post("/v1/completions", json={"model": "beta", "prompt": "x", "max_tokens": 2})
            assert stuck.status_code == 503 and error_of(stuck)["code"] == "adapter_load_timeout"
            assert client.post("/v1/completions", json={"model": "alpha", "prompt": "x", "max_tokens": 2}).status_code == 200
    finally:
        release.set()


# ----------------------------------------------------------------------------------- blocking work off the event loop
class SlowTokenizer:
    """The real tokenizer, except that encoding (or decoding) waits until the test releases it."""

    def __init__(self, inner, *, block: str) -> None:
        self._inner, self._block = inner, block
        self.blocked, self.release = threading.Event(), threading.Event()

    def _wait(self) -> None:
        self.blocked.set()
        self.release.wait(30)

    def __call__(self, *args, **kwargs):
        if self._block == "encode":
            self._wait()
        return self._inner(*args, **kwargs)

    def decode(self, *args, **kwargs):
        if self._block == "decode":
            self._wait()
        return self._inner.decode(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.mark.parametrize("block", ["encode", "decode"])
def test_health_answers_while_a_request_is_being_tokenized_or_detokenized(workspace, block):
    _, model_dir, _ = workspace
    tokenizer = SlowTokenizer(AutoTokenizer.from_pretrained(model_dir), block=block)
    app, _ = build(workspace, tokenizer=tokenizer)
    with serve_in_background(app) as url:
        outcome = {}

        def slow_request() -> None:
            outcome["status"] = httpx.post(f"{url}/v1/completions", timeout=60,
                                           json={"model": "tiny", "prompt": "Answer:", "max_tokens": 3}).status_code

        worker = threading.Thread(target=slow_request)
        worker.start()
        try:
            assert tokenizer.blocked.wait(30)
            assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # the event loop is free
        finally:
            tokenizer.release.set()
            worker.join(60)
    assert outcome["status"] == 200



class CountingTokenizer:
    """The real tokenizer, counting the characters it is asked to encode."""

    def __init__(self, inner) -> None:
        self._inner, self.characters = inner, 0

    def __call__(self, text, **kwargs):
        self.characters += len(text)
        return self._inner(text, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_huge_prompt_is_refused_after_tokenizing_only_its_head(workspace):
    _, model_dir, _ = workspace
    tokenizer = CountingTokenizer(AutoTokenizer.from_pretrained(model_dir))
    app, _ = build(workspace, tokenizer=tokenizer, limits=RequestLimits(max_prompt_tokens=64, max_tokens=16))
    with TestClient(app) as client:
        response = client.post("/v1/completions", json={"model": "tiny", "prompt": "word " * 200_000})
        assert response.status_code == 400 and "more than 64 tokens" in error_of(response)["message"]
        assert tokenizer.characters <= 64 * 64  # not the 1,000,000 characters of the prompt


def test_requests_beyond_the_preparation_limit_are_refused_as_busy_before_their_body_is_read(workspace):
    _, model_dir, _ = workspace
    tokenizer = SlowTokenizer(AutoTokenizer.from_pretrained(model_dir), block="encode")
    app, _ = build(workspace, tokenizer=tokenizer, settings={"preparation_threads": 1, "max_preparing": 2})
    with serve_in_background(app) as url:
        body = {"model": "tiny", "prompt": "Answer:", "max_tokens": 2}
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(httpx.post, f"{url}/v1/completions", json=body, timeout=60) for _ in range(2)]
            try:
                deadline = time.monotonic() + 30
                while httpx.get(f"{url}/health").json()["preparing"] < 2:  # one being tokenized, one queued
                    assert time.monotonic() < deadline, "the two requests never reached the server"
                    time.sleep(0.02)
                busy = httpx.post(f"{url}/v1/completions", json=body, timeout=30)
                assert busy.status_code == 429 and "limit is 2" in error_of(busy)["message"]
            finally:
                tokenizer.release.set()
            assert [f.result().status_code for f in held] == [200, 200]
