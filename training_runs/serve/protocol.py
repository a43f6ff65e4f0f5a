"""The OpenAI-compatible request formats: the raw body to JSON, validation into dataclasses, chat formatting.

``parse_json_body`` decodes a request body that may be hostile: UTF-8 only, and nested at most
``RequestLimits.max_json_depth`` levels, checked on the raw bytes before the parser recurses (a body
nested 100,000 deep would otherwise end in ``RecursionError``). ``parse_completion_request`` and
``parse_chat_request`` check the decoded body field by field and raise ``InvalidRequestError`` naming
the field and what is allowed (the limits included: at most ``max_stop_sequences`` stop strings of at
most ``max_stop_chars`` characters). Unsupported OpenAI features (``n`` > 1, ``best_of``, ``echo``,
``logprobs``, penalties, tools) are refused rather than silently ignored; unknown extra fields
(``user``...) are ignored, as OpenAI does. Text with lone surrogates (``"\ud800"`` is valid JSON but
not Unicode text) is refused.

Chat prompts use the tokenizer's chat template when it has one. Otherwise they use the plain format
``PLAIN_CHAT_FORMAT`` documents: one ``Role: content`` line per message, then ``Assistant:``; generation
also stops at a new ``\\nUser:`` line.

Example:
    >>> params = parse_completion_request({"model": "m", "prompt": "Hi", "max_tokens": 4}, RequestLimits())
    >>> params.prompts, params.max_tokens, params.temperature
    (['Hi'], 4, 1.0)
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from training_runs.serve.errors import InvalidRequestError

PLAIN_CHAT_FORMAT = (
    "Without a chat template, a conversation is rendered as one 'Role: content' line per message "
    "(System:, User:, Assistant:), followed by 'Assistant:'; generation also stops at '\\nUser:'."
)
_PLAIN_STOP = "\nUser:"
_ROLES = ("system", "user", "assistant", "developer")
#: A JSON string literal (the unrolled-loop form: linear time, no backtracking).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[list(b"[{")] = 1
_BRACKET_STEP[list(b"]}")] = -1


@dataclass(frozen=True)
class RequestLimits:
    """Per-request limits of the HTTP API."""

    max_prompt_tokens: int = 2048
    max_tokens: int = 512
    default_completion_tokens: int = 16
    max_prompts_per_request: int = 64
    max_stop_sequences: int = 4
    max_stop_chars: int = 256
    max_body_bytes: int = 1 << 20
    max_json_depth: int = 64

    def __post_init__(self) -> None:
        for name in ("max_prompt_tokens", "max_tokens", "default_completion_tokens", "max_prompts_per_request",
                     "max_stop_sequences", "max_stop_chars", "max_body_bytes", "max_json_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class GenerationParams:
    """The fields both endpoints share."""

    model: str
    max_tokens: int | None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False


@dataclass(frozen=True)
class CompletionParams(GenerationParams):
    """A validated ``POST /v1/completions`` body; each prompt is text or a list of token ids."""

    prompts: list = field(default_factory=list)


@dataclass(frozen=True)
class ChatParams(GenerationParams):
    """A validated ``POST /v1/chat/completions`` body (messages with plain-text content)."""

    messages: list[dict[str, str]] = field(default_factory=list)


def json_nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the UTF-8 JSON text ``raw`` (brackets inside strings do not count).

    Linear time and no recursion, so it can run on a hostile body before a recursive parser does.

    Example:
        >>> json_nesting_depth(b'{"a": [[1], "]]]"]}')
        3
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return int(np.cumsum(_BRACKET_STEP[np.frombuffer(brackets, dtype=np.uint8)], dtype=np.int64).max())


def parse_json_body(raw: bytes, limits: RequestLimits) -> dict:
    """The JSON object in request body ``raw``, or ``InvalidRequestError`` saying why there is none.

    Example:
        >>> parse_json_body(b'{"model": "m"}', RequestLimits())
        {'model': 'm'}
        >>> parse_json_body(b"[" * 100 + b"]" * 100, RequestLimits())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        training_runs.serve.errors.InvalidRequestError: the request body nests JSON 100 levels deep; ...
    """
    if not raw.strip():
        raise InvalidRequestError("the request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: it is not UTF-8 text ({exc.reason} at byte "
                                  f"{exc.start})") from None
    depth = json_nesting_depth(raw)
    if depth > limits.max_json_depth:
        raise InvalidRequestError(
            f"the request body nests JSON {depth} levels deep; this server accepts at most {limits.max_json_depth}"
        )
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return body


def parse_completion_request(body: dict, limits: RequestLimits) -> CompletionParams:
    """Validate a ``/v1/completions`` body (see the module docstring)."""
    common = _common(body, limits, default_max_tokens=limits.default_completion_tokens)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts: list = [_text(prompt, "prompt")]
    elif isinstance(prompt, list) and prompt and all(_is_int(t) for t in prompt):
        prompts = [list(prompt)]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = [_text(p, "prompt") for p in prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, list) and p and all(_is_int(t) for t in p) for p in prompt):
        prompts = [list(p) for p in prompt]
    else:
        raise InvalidRequestError(
            "'prompt' must be a non-empty string, a list of strings, or token ids (a list of integers)", param="prompt"
        )
    if len(prompts) > limits.max_prompts_per_request:
        raise InvalidRequestError(
            f"'prompt' holds {len(prompts)} prompts; at most {limits.max_prompts_per_request} per request", param="prompt"
        )
    for flag in ("echo",):
        if body.get(flag):
            raise InvalidRequestError(f"'{flag}' is not supported by this server", param=flag)
    if body.get("suffix") not in (None, ""):
        raise InvalidRequestError("'suffix' is not supported by this server", param="suffix")
    if body.get("best_of") not in (None, 1):
        raise InvalidRequestError("'best_of' must be 1 (or absent) on this server", param="best_of")
    return CompletionParams(**common, prompts=prompts)


def parse_chat_request(body: dict, limits: RequestLimits) -> ChatParams:
    """Validate a ``/v1/chat/completions`` body (see the module docstring)."""
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    common = _common({**body, "max_tokens": max_tokens}, limits, default_max_tokens=None)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty list of {role, content} objects", param="messages")
    parsed = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object with 'role' and 'content'", param="messages")
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidRequestError(
                f"messages[{i}].role must be one of {', '.join(_ROLES)}; got {_short(role)}", param="messages"
            )
        parsed.append({"role": "system" if role == "developer" else role, "content": _content_text(message.get("content"), i)})
    for flag in ("tools", "functions", "response_format"):
        if body.get(flag):
            raise InvalidRequestError(f"'{flag}' is not supported by this server", param=flag)
    if body.get("logprobs"):
        raise InvalidRequestError("'logprobs' is not supported by this server", param="logprobs")
    return ChatParams(**common, messages=parsed)


def render_chat(tokenizer, messages: Sequence[dict[str, str]]) -> tuple[str, bool, list[str]]:
    """The prompt text for ``messages``: ``(text, add_special_tokens, extra_stop_strings)``.

    Example:
        >>> class NoTemplate: chat_template = None
        >>> render_chat(NoTemplate(), [{"role": "user", "content": "Hi"}])
        ('User: Hi\\nAssistant:', True, ['\\nUser:'])
    """
    if getattr(tokenizer, "chat_template", None):
        try:
            text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        except Exception as exc:  # templates raise on conversations they do not accept (roles out of turn...)
            raise InvalidRequestError(
                f"the model's chat template refuses these messages: {type(exc).__name__}: {_cut(str(exc), 200)}",
                param="messages",
            ) from None
        return text, False, []  # the template writes its own special tokens
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:", True, [_PLAIN_STOP]


def _common(body: dict, limits: RequestLimits, *, default_max_tokens: int | None) -> dict:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("'model' is required: the base model's name or an adapter name", param="model")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        max_tokens = default_max_tokens
    elif not _is_int(max_tokens) or not 1 <= max_tokens <= limits.max_tokens:
        raise InvalidRequestError(
            f"'max_tokens' must be an integer from 1 to {limits.max_tokens} (this server's limit); got {_short(max_tokens)}",
            param="max_tokens",
        )
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0.0:
        raise InvalidRequestError("'top_p' must be greater than 0", param="top_p")
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        raise InvalidRequestError(f"'seed' must be a non-negative integer; got {_short(seed)}", param="seed")
    n = body.get("n", 1)
    if n not in (1, None):
        raise InvalidRequestError("'n' must be 1 on this server (send several prompts instead)", param="n")
    for penalty in ("presence_penalty", "frequency_penalty"):
        if body.get(penalty) not in (None, 0, 0.0):
            raise InvalidRequestError(f"'{penalty}' is not supported by this server (use 0)", param=penalty)
    if body.get("logit_bias"):
        raise InvalidRequestError("'logit_bias' is not supported by this server", param="logit_bias")
    stop = body.get("stop")
    if stop is None:
        stop_list: list[str] = []
    elif isinstance(stop, str):
        stop_list = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stop_list = list(stop)
    else:
        raise InvalidRequestError("'stop' must be a string or a list of strings", param="stop")
    if len(stop_list) > limits.max_stop_sequences:
        raise InvalidRequestError(f"'stop' may hold at most {limits.max_stop_sequences} strings", param="stop")
    for i, text in enumerate(stop_list):
        if len(text) > limits.max_stop_chars:
            raise InvalidRequestError(
                f"a stop string may be at most {limits.max_stop_chars} characters long; stop[{i}] has {len(text)}",
                param="stop",
            )
        _text(text, "stop")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("'stream' must be true or false", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise InvalidRequestError("'stream_options' must be an object", param="stream_options")
    return dict(
        model=model, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop_list,
        stream=stream, include_usage=bool(options.get("include_usage", False)),
    )


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequestError(f"'{name}' must be a number from {low:g} to {high:g}; got {_short(value)}", param=name)
    return float(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _content_text(content: object, index: int) -> str:
    if isinstance(content, str):
        return _text(content, "messages")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
        return _text("".join(p["text"] for p in content), "messages")
    raise InvalidRequestError(
        f"messages[{index}].content must be a string or a list of text parts ({{'type': 'text', 'text': ...}})",
        param="messages",
    )


def _text(value: str, param: str) -> str:
    """``value`` if it is Unicode text; JSON can carry lone surrogates (``"\ud800"``), which no tokenizer takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"'{param}' holds a lone surrogate (\\u{ord(value[exc.start]):04x}), which is not Unicode text", param=param
        ) from None
    return value


def _short(value: object) -> str:
    """``repr(value)``, cut to a readable length for error messages."""
    return _cut(repr(value), 80)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
