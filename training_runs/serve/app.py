"""The OpenAI-compatible HTTP API over a ``ServeEngine`` (FastAPI).

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions`` (``model`` = the base model's served name,
an adapter name, or the run id in an adapter's run.json; ``"stream": true`` answers with server-sent
events, ``data: {...}`` chunks then ``data: [DONE]``), ``GET /v1/models`` (base model + adapters on disk),
``GET /v1/models/{model}``, ``GET /health``, ``GET /metrics`` (Prometheus).

With ``ServerSettings.api_token`` set, ``/v1/*`` and ``/metrics`` need ``Authorization: Bearer <token>``;
``/health`` stays open for liveness probes. Every error is OpenAI-shaped:
``{"error": {"message", "type", "param", "code"}}`` with a 4xx status for the client's mistakes (bad or
too deeply nested JSON 400, unknown model 404, body too large 413, unusable adapter or more prompts than
the server runs at once 422, busy 429...).

The event loop only moves bytes: parsing a body, rendering a chat, tokenizing, checking adapter files and
queueing run on a small pool of preparation threads, and turning tokens into text runs on the
``Detokenizer`` thread, so one heavy request never holds up ``/health`` or the other clients. A client
that disconnects (streaming or not) has its sequences cancelled.

Example:
    >>> app = create_app(engine, tokenizer, ServerSettings(base_model_name="tiny"))   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from training_runs.serve.engine import GenerationRequest, SamplingParams, ServeEngine
from training_runs.serve.errors import (
    AuthenticationError,
    InvalidRequestError,
    PromptTooLongError,
    RequestTooLargeError,
    ServeError,
    ServerBusyError,
)
from training_runs.serve.metrics import CONTENT_TYPE, ServerMetrics
from training_runs.serve.protocol import (
    GenerationParams,
    RequestLimits,
    parse_chat_request,
    parse_completion_request,
    parse_json_body,
    render_chat,
)
from training_runs.serve.streaming import ChoiceText, Detokenizer, TextPiece
from training_runs.serve.textstream import TextAssembler


#: More characters per token than any prompt averages: beyond ``max_prompt_tokens`` times this many characters,
#: a prompt's head is tokenized first to refuse a huge prompt cheaply.
_CHARS_PER_TOKEN_BOUND = 64
#: How many more tokens cutting text in the middle of a word can give than the same text whole.
_CUT_TOKENS = 16


@dataclass(frozen=True)
class ServerSettings:
    """What the HTTP layer needs besides the engine: the base model's served name, limits, optional token,
    how many threads prepare requests (parse, tokenize, check adapters) off the event loop, and how many
    requests may be read or prepared at once (more get HTTP 429 before their body is read, which bounds the
    memory bodies take)."""

    base_model_name: str
    limits: RequestLimits = field(default_factory=RequestLimits)
    api_token: str | None = None
    preparation_threads: int = 4
    max_preparing: int = 64

    def __post_init__(self) -> None:
        for name in ("preparation_threads", "max_preparing"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def error_body(error: ServeError) -> dict:
    """The OpenAI error object for ``error``."""
    return {"error": {"message": error.message, "type": error.error_type, "param": error.param, "code": error.code}}


def create_app(engine: ServeEngine, tokenizer, settings: ServerSettings, *, own_engine: bool = True) -> FastAPI:
    """Build the FastAPI app. The app starts the engine on startup; with ``own_engine`` it also shuts it down."""

    preparation = ThreadPoolExecutor(settings.preparation_threads, thread_name_prefix="serve-prepare")
    detokenizer = Detokenizer(cancel=engine.cancel)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        engine.start()
        detokenizer.start()
        try:
            yield
        finally:
            if own_engine:
                await asyncio.to_thread(engine.shutdown)
            detokenizer.stop()
            preparation.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="finetune-advisor multi-LoRA server", lifespan=lifespan, docs_url=None, redoc_url=None)
    metrics = ServerMetrics(engine.stats)
    app.state.engine, app.state.metrics, app.state.settings = engine, metrics, settings
    api = _Api(engine, tokenizer, settings, metrics, preparation, detokenizer)

    @app.exception_handler(ServeError)
    async def _serve_error(_request: Request, exc: ServeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
        return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = ServeError(str(exc.detail))
        error.status, error.code = exc.status_code, "not_found" if exc.status_code == 404 else None
        return JSONResponse(error_body(error), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        error = ServeError(f"internal error: {type(exc).__name__}: {exc}")
        error.status, error.error_type = 500, "server_error"
        return JSONResponse(error_body(error), status_code=500)

    @app.get("/health")
    async def health() -> JSONResponse:
        stats = engine.stats()
        body = {
            "status": "ok" if engine.alive else "engine stopped",
            "base_model": settings.base_model_name,
            "policy": stats.policy,
            "adapters_loaded": stats.adapters_loaded,
            "running": stats.running,
            "waiting": stats.waiting,
            "preparing": api.preparing,
        }
        return JSONResponse(body, status_code=200 if engine.alive else 503)

    @app.get("/metrics")
    async def metrics_route(request: Request) -> Response:
        api.authorize(request)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        api.authorize(request)
        servable = await api.offload(engine.servable_adapters)  # only adapters whose files pass the checks
        loaded = set(engine.stats().adapters_loaded)
        entries = [_model_entry(settings.base_model_name, None, True)]
        entries += [
            _model_entry(name, settings.base_model_name, name in loaded)
            for name in servable
            if name != settings.base_model_name
        ]
        return JSONResponse({"object": "list", "data": entries})

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str, request: Request) -> JSONResponse:
        api.authorize(request)
        if model_id == settings.base_model_name:
            return JSONResponse(_model_entry(model_id, None, True))
        # 400 for a bad name, 404 for an unknown one, 422 for one that cannot be served; run ids resolve too
        path = await api.offload(engine.adapters.resolve, model_id)
        await api.offload(engine.check_adapter, model_id)
        return JSONResponse(_model_entry(model_id, settings.base_model_name, path.name in engine.stats().adapters_loaded))

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await api.handle(request, "completions")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await api.handle(request, "chat")

    return app


def _model_entry(name: str, parent: str | None, loaded: bool) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "finetune-advisor",
            "root": parent or name, "parent": parent, "loaded": loaded}


@dataclass
class _Accepted:
    """A request that was parsed, tokenized and queued in the engine."""

    params: GenerationParams
    requests: list[GenerationRequest]
    choices: list[ChoiceText]
    ids: list[int]


class _Api:
    """The generation endpoints' logic, shared by completions and chat."""

    def __init__(self, engine: ServeEngine, tokenizer, settings: ServerSettings, metrics: ServerMetrics,
                 preparation: ThreadPoolExecutor, detokenizer: Detokenizer) -> None:
        self.engine, self.tokenizer, self.settings, self.metrics = engine, tokenizer, settings, metrics
        self.limits = settings.limits
        self.preparation, self.detokenizer = preparation, detokenizer
        self.preparing = 0  # requests between their headers and their queueing (changed on the event loop only)

    def authorize(self, request: Request) -> None:
        token = self.settings.api_token
        if not token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise AuthenticationError(
                "missing or invalid API key: send 'Authorization: Bearer <token>' with the server's token"
                if header else "missing API key: send 'Authorization: Bearer <token>'"
            )

    async def offload(self, function, *args):
        """Run blocking ``function(*args)`` on a preparation thread; the event loop stays free."""
        return await asyncio.wrap_future(self.preparation.submit(function, *args))

    async def handle(self, request: Request, endpoint: str):
        start = time.perf_counter()
        events: asyncio.Queue = asyncio.Queue()
        deliver = _deliverer(asyncio.get_running_loop(), events)
        try:
            self.authorize(request)
            if self.preparing >= self.settings.max_preparing:
                raise ServerBusyError(
                    f"the server is busy: {self.preparing} requests are being read and prepared and the limit is "
                    f"{self.settings.max_preparing}; retry later"
                )
            self.preparing += 1
            try:
                raw = await self._read_body(request)
                future = self.preparation.submit(self._prepare, raw, endpoint, deliver)
                try:
                    accepted = await asyncio.wrap_future(future)
                except asyncio.CancelledError:  # the request task went away while its sequences were being queued
                    future.add_done_callback(self._cancel_orphans)
                    raise
            finally:
                self.preparing -= 1
        except ServeError as exc:
            self.metrics.observe_request(endpoint, "-", exc.status)
            raise
        call = _Call(self, endpoint, accepted, events, start)
        if accepted.params.stream:
            return StreamingResponse(call.sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return await call.complete(request)

    def _prepare(self, raw: bytes, endpoint: str, deliver: Callable[[TextPiece], None]) -> _Accepted:
        """Parse, tokenize, check and queue one request (on a preparation thread)."""
        body = parse_json_body(raw, self.limits)
        if endpoint == "chat":
            params = parse_chat_request(body, self.limits)
            text, special, extra_stop = render_chat(self.tokenizer, params.messages)
            prompts = [self._encode(text, special)]
            stop = params.stop + extra_stop
        else:
            params = parse_completion_request(body, self.limits)
            prompts = [p if isinstance(p, list) else self._encode(p, True) for p in params.prompts]
            stop = params.stop
        adapter = None if params.model == self.settings.base_model_name else params.model
        if adapter is not None:
            self.engine.check_adapter(adapter)  # bad name 400, unknown 404, files that cannot be served 422
        requests = [self._request(ids, adapter, params) for ids in prompts]
        choices = [ChoiceText(i, TextAssembler(self.tokenizer, stop), deliver) for i in range(len(requests))]
        ids = self.engine.submit_many(requests, [self.detokenizer.sink(choice) for choice in choices])
        return _Accepted(params, requests, choices, ids)

    def _cancel_orphans(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is None:
            for request_id in future.result().ids:
                self.engine.cancel(request_id)

    def _encode(self, text: str, add_special_tokens: bool) -> list[int]:
        limit = self.limits.max_prompt_tokens
        window = limit * _CHARS_PER_TOKEN_BOUND
        if len(text) > window:  # tokenize a head first: a 1 MB prompt is refused for the cost of a small one
            head = self.tokenizer(text[:window], add_special_tokens=add_special_tokens)["input_ids"]
            if len(head) > limit + _CUT_TOKENS:
                raise PromptTooLongError(
                    f"the prompt has more than {limit} tokens (its first {window} characters alone have "
                    f"{len(head)}); this server accepts at most {limit}", param="prompt")
        ids = self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        if len(ids) > limit:
            raise PromptTooLongError(f"the prompt has {len(ids)} tokens; this server accepts at most {limit}", param="prompt")
        return ids

    def _request(self, ids: list[int], adapter: str | None, params) -> GenerationRequest:
        if len(ids) > self.limits.max_prompt_tokens:
            raise PromptTooLongError(
                f"the prompt has {len(ids)} tokens; this server accepts at most {self.limits.max_prompt_tokens}",
                param="prompt",
            )
        vocab = getattr(self.engine.model.config, "vocab_size", None)
        if vocab is not None and any(not 0 <= t < vocab for t in ids):
            raise InvalidRequestError(f"token ids must be in 0..{vocab - 1}", param="prompt")
        max_tokens = params.max_tokens
        if max_tokens is None:  # chat without max_tokens: up to the context limit
            max_tokens = max(1, min(self.limits.max_tokens, self.engine.config.max_seq_len - len(ids)))
        sampling = SamplingParams(max_tokens=max_tokens, temperature=params.temperature, top_p=params.top_p, seed=params.seed)
        return GenerationRequest(prompt_ids=ids, adapter=adapter, sampling=sampling)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidRequestError("the Content-Length header is not a number")
            if int(declared) > limit:
                raise RequestTooLargeError(f"the request body has {declared} bytes; the limit is {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLargeError(f"the request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _deliverer(loop: asyncio.AbstractEventLoop, events: asyncio.Queue) -> Callable[[TextPiece | None], None]:
    """Hand text pieces from the detokenizer thread to the request's queue on the event loop."""

    def deliver(piece: TextPiece | None) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, piece)
        except RuntimeError:  # the event loop is closed (server shutting down)
            pass

    return deliver


class _Call:
    """One accepted generation request: turns its text pieces into an OpenAI response or SSE stream."""

    def __init__(self, api: _Api, endpoint: str, accepted: _Accepted, events: asyncio.Queue, start: float) -> None:
        self.api, self.endpoint, self.params = api, endpoint, accepted.params
        self.requests, self.choices, self.ids = accepted.requests, accepted.choices, accepted.ids
        self.events, self.start = events, start
        self.pending = set(range(len(self.requests)))
        self.chat = endpoint == "chat"
        self.created = int(time.time())
        self.id = ("chatcmpl-" if self.chat else "cmpl-") + uuid.uuid4().hex[:24]
        self.status = 200

    async def pieces(self) -> AsyncIterator[tuple[int, str, str | None, ServeError | None]]:
        """Yield ``(choice, text_delta, finish_reason, error)`` until every choice has finished (or the client left)."""
        while self.pending:
            piece = await self.events.get()
            if piece is None:
                return  # the client disconnected
            if piece.choice not in self.pending:
                continue
            if piece.finish_reason is not None:
                self.pending.discard(piece.choice)
            yield piece.choice, piece.text, piece.finish_reason, piece.error

    @property
    def first_token(self) -> float | None:
        times = [c.first_token_time for c in self.choices if c.first_token_time is not None]
        return min(times) if times else None

    def completion_tokens(self) -> int:
        return sum(c.assembler.token_count for c in self.choices)

    def usage(self) -> dict:
        prompt = sum(len(r.prompt_ids) for r in self.requests)
        completion = self.completion_tokens()
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def complete(self, request: Request) -> JSONResponse:
        texts = [""] * len(self.requests)
        reasons: list[str | None] = [None] * len(self.requests)
        watcher = asyncio.ensure_future(self._until_disconnected(request))
        try:
            async for index, delta, reason, error in self.pieces():
                if error is not None:
                    self.status = error.status
                    return JSONResponse(error_body(error), status_code=error.status)
                texts[index] += delta
                if reason is not None:
                    reasons[index] = reason
        finally:
            watcher.cancel()
            self._close()
        if self.chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "logprobs": None, "finish_reason": r}
                       for i, (t, r) in enumerate(zip(texts, reasons))]
        else:
            choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": r}
                       for i, (t, r) in enumerate(zip(texts, reasons))]
        return JSONResponse({
            "id": self.id, "object": "chat.completion" if self.chat else "text_completion", "created": self.created,
            "model": self.params.model, "choices": choices, "usage": self.usage(),
        })

    async def sse(self) -> AsyncIterator[str]:
        try:
            if self.chat:
                for index in range(len(self.requests)):
                    yield self._chunk(index, {"role": "assistant", "content": ""}, None)
            async for index, delta, reason, error in self.pieces():
                if error is not None:
                    self.status = error.status
                    yield f"data: {json.dumps(error_body(error))}\n\n"
                    continue
                if delta:
                    yield self._chunk(index, {"content": delta} if self.chat else delta, None)
                if reason is not None:
                    yield self._chunk(index, {} if self.chat else "", reason)
            if self.params.include_usage:
                usage = {"id": self.id, "object": self._chunk_object(), "created": self.created,
                         "model": self.params.model, "choices": [], "usage": self.usage()}
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            self._close()

    def _chunk_object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    def _chunk(self, index: int, delta, reason: str | None) -> str:
        choice = {"index": index, "logprobs": None, "finish_reason": reason}
        choice["delta" if self.chat else "text"] = delta
        body = {"id": self.id, "object": self._chunk_object(), "created": self.created, "model": self.params.model,
                "choices": [choice]}
        return f"data: {json.dumps(body)}\n\n"

    async def _until_disconnected(self, request: Request) -> None:
        """Wake ``pieces`` when the client of a non-streamed request goes away (its body is already read)."""
        try:
            while (await request.receive())["type"] != "http.disconnect":
                pass
        except Exception:  # the connection is already gone in some other way: treat it as a disconnect
            pass
        self.events.put_nowait(None)

    def _close(self) -> None:
        """Cancel what is still generating (client gone, or an error) and record the request's metrics."""
        for index in self.pending:
            self.api.engine.cancel(self.ids[index])
        if self.pending and self.status == 200:
            self.status = 499  # the client went away before the end
        self.pending.clear()
        now = time.perf_counter()
        self.api.metrics.observe_request(
            self.endpoint, self.params.model, self.status,
            prompt_tokens=sum(len(r.prompt_ids) for r in self.requests),
            completion_tokens=self.completion_tokens(),
            latency=now - self.start,
            ttft=None if self.first_token is None else self.first_token - self.start,
        )
