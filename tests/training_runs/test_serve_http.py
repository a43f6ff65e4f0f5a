"""The OpenAI-compatible HTTP API, through FastAPI's TestClient: formats, streaming, limits, errors, auth."""
from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.serve.adapters import AdapterDirectory, read_adapter
from training_runs.serve.app import ServerSettings, create_app
from training_runs.serve.engine import EngineConfig, GenerationRequest, SamplingParams, ServeEngine
from training_runs.serve.protocol import RequestLimits
from training_runs.serve.random_adapters import write_peft_adapters
from training_runs.tiny_model import write_tiny_model

TOKEN = "s3cret-token"
LIMITS = RequestLimits(max_prompt_tokens=48, max_tokens=32, max_body_bytes=4096)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-http")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    write_peft_adapters(model_dir, root / "adapters", ["alpha", "beta"])
    return root, model_dir


def build(workspace, *, token=None, reader=None, tokenizer=None, **config):
    root, model_dir = workspace
    tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
    engine_config = EngineConfig(**{"max_batch_size": 8, "max_seq_len": 80, "max_adapters": 2, **config})
    kwargs = {"adapter_reader": reader} if reader else {}
    engine = ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"),
                         engine_config, eos_token_ids=[tokenizer.eos_token_id], **kwargs)
    app = create_app(engine, tokenizer, ServerSettings(base_model_name="tiny", limits=LIMITS, api_token=token))
    return app, engine, tokenizer


@pytest.fixture(scope="module")
def served(workspace):
    app, engine, tokenizer = build(workspace)
    with TestClient(app) as client:
        yield client, engine, tokenizer


def direct(engine, tokenizer, adapter, prompt, max_tokens):
    """What the engine itself generates greedily for ``prompt``: the reference for the HTTP answers."""
    ids = tokenizer(prompt)["input_ids"]
    request = GenerationRequest(prompt_ids=ids, adapter=adapter, sampling=SamplingParams(max_tokens=max_tokens, temperature=0))
    [result] = engine.generate([request], timeout=60)
    return tokenizer.decode(result.token_ids, skip_special_tokens=True), result


def sse_events(response) -> list:
    lines = [line for line in response.text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[len("data: "):]) for line in lines[:-1]]


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


def test_a_completion_for_an_adapter_is_openai_shaped_and_equals_the_engine_output(served):
    client, engine, tokenizer = served
    response = client.post("/v1/completions", json={"model": "alpha", "prompt": "Answer: yes", "max_tokens": 6, "temperature": 0})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "text_completion" and body["model"] == "alpha" and body["id"].startswith("cmpl-")
    [choice] = body["choices"]
    expected, result = direct(engine, tokenizer, "alpha", "Answer: yes", 6)
    assert choice["text"] == expected and choice["index"] == 0
    assert choice["finish_reason"] == ("length" if result.finish_reason == "length" else "stop")
    assert body["usage"]["prompt_tokens"] == len(tokenizer("Answer: yes")["input_ids"])
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_the_base_model_and_each_adapter_answer_differently(served):
    client, _, _ = served
    texts = {
        model: client.post("/v1/completions", json={"model": model, "prompt": "Question: what", "max_tokens": 8,
                                                    "temperature": 0}).json()["choices"][0]["text"]
        for model in ("tiny", "alpha", "beta")
    }
    assert len(set(texts.values())) == 3


def test_several_prompts_in_one_request_come_back_as_choices_in_order(served):
    client, engine, tokenizer = served
    prompts = ["Review: dull", "The answer is", "Sentence 1: A man"]
    body = client.post("/v1/completions", json={"model": "beta", "prompt": prompts, "max_tokens": 5, "temperature": 0}).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert [c["text"] for c in body["choices"]] == [direct(engine, tokenizer, "beta", p, 5)[0] for p in prompts]


def test_streamed_completion_chunks_add_up_to_the_non_streamed_text(served):
    client, _, _ = served
    request = {"model": "alpha", "prompt": "Input: the quick", "max_tokens": 10, "temperature": 0}
    whole = client.post("/v1/completions", json=request).json()["choices"][0]
    response = client.post("/v1/completions", json={**request, "stream": True, "stream_options": {"include_usage": True}})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    chunks, usage = events[:-1], events[-1]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == whole["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] >= 1


def test_chat_without_a_template_uses_the_documented_plain_format(served):
    client, engine, tokenizer = served
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is it true?"}]
    body = client.post("/v1/chat/completions", json={"model": "beta", "messages": messages, "max_tokens": 6,
                                                     "temperature": 0}).json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant"
    plain = "System: Be brief.\nUser: Is it true?\nAssistant:"
    assert body["usage"]["prompt_tokens"] == len(tokenizer(plain)["input_ids"])
    assert message["content"] == direct(engine, tokenizer, "beta", plain, 6)[0].split("\nUser:")[0]


def test_streamed_chat_starts_with_the_role_and_adds_up_to_the_whole_answer(served):
    client, _, _ = served
    request = {"model": "alpha", "messages": [{"role": "user", "content": "Summarize the article"}], "max_tokens": 8,
               "temperature": 0}
    whole = client.post("/v1/chat/completions", json=request).json()["choices"][0]["message"]["content"]
    events = sse_events(client.post("/v1/chat/completions", json={**request, "stream": True}))
    assert events[0]["object"] == "chat.completion.chunk"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[1:]) == whole
    assert events[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_chat_uses_the_tokenizer_chat_template_when_there_is_one(workspace):
    _, model_dir = workspace
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = "{% for m in messages %}<<{{ m['role'] }}>>{{ m['content'] }}{% endfor %}<<assistant>>"
    app, _, _ = build(workspace, tokenizer=tokenizer)
    with TestClient(app) as client:
        body = client.post("/v1/chat/completions", json={"model": "tiny", "max_tokens": 3, "temperature": 0,
                                                         "messages": [{"role": "user", "content": "Hi"}]}).json()
    templated = "<<user>>Hi<<assistant>>"
    assert body["usage"]["prompt_tokens"] == len(tokenizer(templated, add_special_tokens=False)["input_ids"])


def test_a_stop_string_ends_the_text_before_it(served):
    client, _, _ = served
    request = {"model": "alpha", "prompt": "Answer: yes", "max_tokens": 12, "temperature": 0}
    text = client.post("/v1/completions", json=request).json()["choices"][0]["text"]
    stop = text[3:5]
    assert len(stop) == 2
    choice = client.post("/v1/completions", json={**request, "stop": [stop]}).json()["choices"][0]
    assert choice["text"] == text[: text.index(stop)] and choice["finish_reason"] == "stop"
    streamed = sse_events(client.post("/v1/completions", json={**request, "stop": stop, "stream": True}))
    assert "".join(e["choices"][0]["text"] for e in streamed) == choice["text"]


def test_seeded_sampling_over_http_repeats(served):
    client, _, _ = served
    request = {"model": "beta", "prompt": "Review:", "max_tokens": 10, "temperature": 1.3, "top_p": 0.9, "seed": 11}
    first = client.post("/v1/completions", json=request).json()["choices"][0]["text"]
    assert client.post("/v1/completions", json=request).json()["choices"][0]["text"] == first


def test_models_lists_the_base_model_and_every_adapter_on_disk(served):
    client, _, _ = served
    client.post("/v1/completions", json={"model": "alpha", "prompt": "x", "max_tokens": 1})
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    entries = {m["id"]: m for m in body["data"]}
    assert set(entries) == {"tiny", "alpha", "beta"}
    assert entries["alpha"]["parent"] == "tiny" and entries["tiny"]["parent"] is None
    assert entries["alpha"]["loaded"] is True


def test_one_model_can_be_looked_up_by_name_and_unknown_ones_are_404(served):
    client, _, _ = served
    assert client.get("/v1/models/alpha").json()["parent"] == "tiny"
    assert client.get("/v1/models/tiny").json()["id"] == "tiny"
    assert client.get("/v1/models/ghost").status_code == 404
    assert client.get("/v1/models/..hidden").status_code == 400


def test_health_reports_the_engine_state(served):
    client, _, _ = served
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["base_model"] == "tiny" and body["policy"] == "mixed"


def test_metrics_count_requests_tokens_latency_time_to_first_token_and_loaded_adapters(served):
    client, _, _ = served
    before = client.get("/metrics").text
    client.post("/v1/completions", json={"model": "beta", "prompt": "Label:", "max_tokens": 4, "temperature": 0})
    client.post("/v1/completions", json={"model": "no-such-adapter", "prompt": "x"})
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")

    def value(exposition: str, series: str) -> float:
        lines = [line for line in exposition.splitlines() if line.startswith(series + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    ok = 'advisor_serve_requests_total{endpoint="completions",model="beta",status="200"}'
    assert value(text, ok) == value(before, ok) + 1
    assert value(text, 'advisor_serve_requests_total{endpoint="completions",model="-",status="404"}') >= 1
    assert value(text, 'advisor_serve_completion_tokens_total{model="beta"}') >= 1
    assert value(text, 'advisor_serve_time_to_first_token_seconds_count{endpoint="completions"}') >= 1
    assert value(text, 'advisor_serve_request_latency_seconds_count{endpoint="completions"}') >= 1
    assert 1 <= value(text, "advisor_serve_adapters_loaded") <= 2


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"prompt": "x"}, 400, "'model' is required"),
        ({"model": "no-such-adapter", "prompt": "x"}, 404, "does not exist"),
        ({"model": "../../etc/passwd", "prompt": "x"}, 400, "invalid model name"),
        ({"model": "a/b", "prompt": "x"}, 400, "invalid model name"),
        ({"model": "alpha"}, 400, "'prompt'"),
        ({"model": "alpha", "prompt": ""}, 400, "prompt is empty"),
        ({"model": "alpha", "prompt": "x", "max_tokens": 33}, 400, "from 1 to 32"),
        ({"model": "alpha", "prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "alpha", "prompt": "x", "max_tokens": "5"}, 400, "max_tokens"),
        ({"model": "alpha", "prompt": "word " * 60}, 400, "at most 48"),
        ({"model": "alpha", "prompt": [1, 2, 99999]}, 400, "token ids"),
        ({"model": "alpha", "prompt": "x", "temperature": 3}, 400, "temperature"),
        ({"model": "alpha", "prompt": "x", "top_p": 0}, 400, "top_p"),
        ({"model": "alpha", "prompt": "x", "n": 2}, 400, "'n' must be 1"),
        ({"model": "alpha", "prompt": "x", "echo": True}, 400, "echo"),
        ({"model": "alpha", "prompt": "x", "stop": 5}, 400, "stop"),
        ({"model": "alpha", "prompt": "x", "stream": "yes"}, 400, "stream"),
    ],
)
def test_bad_completion_requests_get_a_4xx_naming_the_problem(served, body, status, fragment):
    client, _, _ = served
    response = client.post("/v1/completions", json=body)
    assert response.status_code == status
    assert fragment in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "alpha"}, "'messages'"),
        ({"model": "alpha", "messages": []}, "'messages'"),
        ({"model": "alpha", "messages": [{"role": "wizard", "content": "x"}]}, "role must be one of"),
        ({"model": "alpha", "messages": [{"role": "user", "content": {"image": 1}}]}, "content must be"),
        ({"model": "alpha", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools"),
    ],
)
def test_bad_chat_requests_get_a_400_naming_the_problem(served, body, fragment):
    client, _, _ = served
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and fragment in error_of(response)["message"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b"", "empty"), (b"\xff\xfe", "not valid JSON")],
)
def test_a_body_that_is_not_a_json_object_gets_400(served, content, fragment):
    client, _, _ = served
    response = client.post("/v1/completions", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400 and fragment in error_of(response)["message"]


def test_a_body_over_the_size_limit_gets_413(served):
    client, _, _ = served
    response = client.post("/v1/completions", json={"model": "alpha", "prompt": "x" * 5000})
    assert response.status_code == 413 and "limit" in error_of(response)["message"]


def test_unknown_routes_and_methods_get_openai_shaped_errors(served):
    client, _, _ = served
    assert client.get("/v1/nothing").status_code == 404 and error_of(client.get("/v1/nothing"))
    response = client.get("/v1/completions")
    assert response.status_code == 405 and error_of(response)["message"]


def test_a_full_server_answers_429_and_recovers(workspace):
    release = threading.Event()

    def slow_reader(path, **kwargs):
        release.wait(60)
        return read_adapter(path, **kwargs)

    app, engine, tokenizer = build(workspace, reader=slow_reader, max_concurrent_requests=1)
    with TestClient(app) as client:
        held = engine.submit(GenerationRequest(prompt_ids=[1, 5], adapter="alpha"), lambda event: None)
        response = client.post("/v1/completions", json={"model": "tiny", "prompt": "x", "max_tokens": 2})
        assert response.status_code == 429 and error_of(response)["type"] == "rate_limit_error"
        release.set()
        engine.cancel(held)
        for _ in range(200):
            if engine.stats().in_flight == 0:
                break
            threading.Event().wait(0.05)
        assert client.post("/v1/completions", json={"model": "tiny", "prompt": "x", "max_tokens": 2}).status_code == 200


def test_with_a_token_every_api_route_needs_the_bearer_token_but_health_does_not(workspace):
    app, _, _ = build(workspace, token=TOKEN)
    request = {"model": "tiny", "prompt": "x", "max_tokens": 2}
    with TestClient(app) as client:
        for call in (lambda h: client.post("/v1/completions", json=request, headers=h),
                     lambda h: client.get("/v1/models", headers=h), lambda h: client.get("/metrics", headers=h)):
            assert call({}).status_code == 401
            wrong = call({"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            assert error_of(wrong)["type"] == "authentication_error"
            assert call({"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/health").status_code == 200
