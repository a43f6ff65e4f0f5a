"""Property-based fuzzing of the server's request parsing: whatever the body, the answer is a 4xx with a JSON error
body (or a normal answer), never a 5xx, and the parsers raise nothing but their own error."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.serve.adapters import AdapterDirectory
from training_runs.serve.app import ServerSettings, create_app
from training_runs.serve.engine import EngineConfig, ServeEngine
from training_runs.serve.errors import InvalidRequestError
from training_runs.serve.protocol import (
    RequestLimits,
    json_nesting_depth,
    parse_chat_request,
    parse_completion_request,
    parse_json_body,
)
from training_runs.serve.random_adapters import write_hostile_adapters, write_peft_adapters
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIMITS = RequestLimits(max_prompt_tokens=32, max_tokens=4, max_body_bytes=8192, max_json_depth=16)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# any Unicode text, lone surrogates included (valid in JSON as "\ud800", invalid as text)
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.integers(min_value=-3, max_value=70) | st.floats() | TEXT
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=10
)
MODELS = st.sampled_from(["tiny", "alpha", "nan-weights", "redos-pattern", "escape", "no-weights", "ghost", "../x", ""])
MESSAGES = st.lists(
    st.fixed_dictionaries({}, optional={
        "role": st.sampled_from(["user", "system", "assistant", "developer", "tool"]) | JSON_VALUES,
        "content": TEXT | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": TEXT})) | JSON_VALUES,
    }),
    max_size=3,
)
PROMPTS = TEXT | st.lists(TEXT, max_size=3) | st.lists(st.integers(min_value=-2, max_value=600), max_size=6) | st.lists(
    st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=4), max_size=3)
FIELDS = {
    "prompt": PROMPTS | JSON_VALUES, "messages": MESSAGES | JSON_VALUES,
    "max_tokens": st.integers(min_value=-1, max_value=6) | JSON_VALUES, "max_completion_tokens": JSON_VALUES,
    "temperature": st.floats() | JSON_VALUES, "top_p": st.floats() | JSON_VALUES, "seed": st.integers() | JSON_VALUES,
    "stop": TEXT | st.lists(TEXT, max_size=6) | JSON_VALUES, "stream": st.booleans() | JSON_VALUES,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | JSON_VALUES,
    "n": JSON_VALUES, "echo": JSON_VALUES, "best_of": JSON_VALUES, "suffix": JSON_VALUES, "logprobs": JSON_VALUES,
    "logit_bias": JSON_VALUES, "presence_penalty": JSON_VALUES, "tools": JSON_VALUES,
}
REQUEST_BODIES = st.fixed_dictionaries({"model": MODELS | JSON_VALUES}, optional=FIELDS)


def encoded(value) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity stay in (Python's JSON reads them back)


RAW_BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(encoded)
    | REQUEST_BODIES.map(encoded)
    | st.integers(min_value=1, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth)
    | REQUEST_BODIES.map(lambda body: encoded(body)[: len(encoded(body)) // 2])  # cut short
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-fuzz")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=1)
    write_peft_adapters(model_dir, root / "adapters", ["alpha"])
    write_hostile_adapters(root / "adapters", root / "outside", AutoModelForCausalLM.from_pretrained(model_dir).config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"),
                         EngineConfig(max_batch_size=8, max_seq_len=40, max_adapters=2),
                         eos_token_ids=[tokenizer.eos_token_id])
    with TestClient(create_app(engine, tokenizer, ServerSettings(base_model_name="tiny", limits=LIMITS))) as test_client:
        yield test_client


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@FAST
@given(body=REQUEST_BODIES | st.dictionaries(TEXT, JSON_VALUES, max_size=6))
def test_the_request_parsers_return_params_or_raise_their_own_error(body):
    for parse in (parse_completion_request, parse_chat_request):
        try:
            parse(body, LIMITS)
        except InvalidRequestError as exc:
            assert exc.status == 400 and exc.message


@FAST
@given(raw=RAW_BODIES)
def test_any_raw_body_is_a_json_object_or_a_400(raw):
    try:
        body = parse_json_body(raw, LIMITS)
    except InvalidRequestError as exc:
        assert exc.status == 400
    else:
        assert isinstance(body, dict) and body == json.loads(raw)


@FAST
@given(value=JSON_VALUES)
def test_the_nesting_depth_is_read_off_the_raw_text_exactly(value):
    assert json_nesting_depth(encoded(value)) == depth_of(value)


@FAST
@given(raw=RAW_BODIES, endpoint=st.sampled_from(["/v1/completions", "/v1/chat/completions"]))
def test_any_body_gets_an_answer_or_a_4xx_with_a_json_error_never_a_5xx(client, raw, endpoint):
    response = client.post(endpoint, content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and error["message"] and error["type"]
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert response.text.rstrip().endswith("data: [DONE]")
    else:
        assert response.json()["choices"]
