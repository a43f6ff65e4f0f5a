"""The serving engine: continuous batching of requests for many adapters in the same forward passes.

One background thread runs the scheduler loop; between two decode steps it

1. takes in new requests and cancellations,
2. installs adapters that finished loading (read from disk on a loader thread pool, so a slow load never
   stalls the requests of other adapters), evicting least-recently-used unpinned adapters when over the
   count or memory budget,
3. admits waiting requests whose adapter is resident into free batch rows and prefills their prompts,
4. runs one decode step over every running sequence (each row with its own adapter slot and position),
5. samples the next tokens (greedy, or temperature/top-p with a per-request seed), streams them to each
   request's sink, and retires finished sequences.

One tenant cannot break another's results: an adapter's files are checked cheaply (``check_adapter``, which
the HTTP layer calls before it queues a request: config, files, shapes, rank, budget, remembered per version
of the files by the ``AdapterCatalog``) and again when read (finite weights); a row whose logits come out
NaN or infinite (an adapter that overflows) fails alone with ``AdapterOutputError`` while the other rows of
its batch go on; and the runner clears a KV-cache row before it is reused. A load that
takes longer than ``adapter_load_timeout`` fails its requests (``AdapterLoadTimeoutError``) instead of
holding them forever.

``policy="single"`` is the reference the benchmark compares against: one adapter at a time in the batch
(what serving merged weights, or a server without mixed-adapter batching, amounts to). When the batch
drains it switches to the adapter of the oldest waiting request; while other adapters' requests wait it
admits no more requests.

Example:
    >>> engine = ServeEngine(model, AdapterDirectory("adapters"), EngineConfig(), eos_token_ids=[2])  # doctest: +SKIP
    >>> engine.start()                                                                               # doctest: +SKIP
    >>> [result] = engine.generate([GenerationRequest(adapter="sentiment", prompt_ids=[1, 5, 9],
    ...                             sampling=SamplingParams(max_tokens=8))])                       # doctest: +SKIP
    >>> result.token_ids, result.finish_reason                                                      # doctest: +SKIP
    ([17, 4, 2], 'stop')
    >>> engine.shutdown()                                                                            # doctest: +SKIP
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from training_runs.serve.adapters import AdapterDirectory, AdapterManifest, AdapterWeights, read_adapter
from training_runs.serve.cache import AdapterCache
from training_runs.serve.catalog import AdapterCatalog
from training_runs.serve.errors import (
    AdapterFormatError,
    AdapterLoadTimeoutError,
    AdapterOutputError,
    EngineStoppedError,
    InvalidRequestError,
    ModelOutputError,
    PromptTooLongError,
    ServeError,
    ServerBusyError,
    TooManyPromptsError,
)
from training_runs.serve.lora import LoraSlots
from training_runs.serve.runner import ModelRunner

logger = logging.getLogger(__name__)

POLICIES = ("mixed", "single")


@dataclass(frozen=True)
class EngineConfig:
    """Limits and sizes of the engine; the defaults suit a 7B model on one 80 GB GPU.

    ``max_seq_len`` bounds prompt plus generated tokens (it sizes the KV cache together with
    ``max_batch_size``); ``adapter_memory_bytes`` bounds the bytes of LoRA weights resident at once and
    ``max_adapters`` their number; ``max_concurrent_requests`` bounds running plus waiting sequences (more
    are refused with ``ServerBusyError``, HTTP 429; one request holding more is refused with
    ``TooManyPromptsError``, HTTP 422); ``adapter_load_timeout`` is how many seconds the requests waiting
    for an adapter to be read from disk wait at most.
    """

    max_batch_size: int = 32
    max_seq_len: int = 1024
    max_adapters: int = 16
    adapter_memory_bytes: int = 1 << 30
    max_lora_rank: int = 16
    max_concurrent_requests: int = 256
    max_prefill_tokens: int = 4096
    policy: str = "mixed"
    loader_threads: int = 2
    adapter_load_timeout: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_seq_len", "max_adapters", "adapter_memory_bytes", "max_lora_rank",
                     "max_concurrent_requests", "max_prefill_tokens", "loader_threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.adapter_load_timeout > 0:
            raise ValueError(f"adapter_load_timeout must be a positive number of seconds, got {self.adapter_load_timeout!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens: ``temperature`` 0 is greedy; ``top_p`` nucleus; ``seed`` makes sampling repeatable."""

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidRequestError(f"max_tokens must be at least 1, got {self.max_tokens}", param="max_tokens")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidRequestError(f"temperature must be between 0 and 2, got {self.temperature}", param="temperature")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError(f"top_p must be in (0, 1], got {self.top_p}", param="top_p")


@dataclass(frozen=True)
class GenerationRequest:
    """One sequence to generate: ``adapter`` None means the base model."""

    prompt_ids: Sequence[int]
    adapter: str | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True)
class StreamEvent:
    """What a request's sink receives: a token, or the end (``finish_reason`` 'stop'/'length'/'cancelled'/'error')."""

    request_id: int
    token_id: int | None = None
    finish_reason: str | None = None
    error: ServeError | None = None
    time: float = 0.0


@dataclass
class GenerationResult:
    """Everything one request produced, with its timings (seconds since submission)."""

    request_id: int
    token_ids: list[int]
    finish_reason: str
    error: ServeError | None
    time_to_first_token: float | None
    latency: float


@dataclass(frozen=True)
class EngineStats:
    """A snapshot for /health and /metrics."""

    running: int
    waiting: int
    in_flight: int
    adapters_loaded: list[str]
    adapter_bytes: int
    adapter_loads: int
    adapter_evictions: int
    steps: int
    policy: str


@dataclass
class _Sequence:
    request_id: int
    request: GenerationRequest
    sink: Callable[[StreamEvent], None]
    submitted: float
    generator: torch.Generator | None = None
    generated: list[int] = field(default_factory=list)
    cache_len: int = 0
    next_input: int = 0
    slot: int = 0
    finished: str | None = None
    error: ServeError | None = None

    @property
    def adapter(self) -> str | None:
        return self.request.adapter


class ServeEngine:
    """Continuous-batching, mixed-adapter generation over one base model (see the module docstring)."""

    def __init__(
        self,
        model: torch.nn.Module,
        adapters: AdapterDirectory,
        config: EngineConfig = EngineConfig(),
        *,
        eos_token_ids: Iterable[int] = (),
        adapter_reader: Callable[..., AdapterWeights] = read_adapter,
    ) -> None:
        self.config = config
        self.adapters = adapters
        self.eos_token_ids = frozenset(int(t) for t in eos_token_ids)
        self.model = model.eval()
        self.slots = LoraSlots(model, num_slots=config.max_adapters + 1, max_rank=config.max_lora_rank)
        self.runner = ModelRunner(model, max_batch=config.max_batch_size, max_seq_len=config.max_seq_len)
        self.cache = AdapterCache(max_adapters=config.max_adapters, max_bytes=config.adapter_memory_bytes)
        self.catalog = AdapterCatalog(adapters, check=self._check_manifest)
        self._reader = adapter_reader
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._cancelled: set[int] = set()
        self._loading: dict[str, tuple[Future, float]] = {}  # name -> (read in progress, deadline)
        self._loaded_host: dict[str, AdapterWeights] = {}
        self._loader = ThreadPoolExecutor(max_workers=config.loader_threads, thread_name_prefix="adapter-loader")
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._current_single: str | None = None
        self.adapter_loads = 0
        self.steps = 0

    # ----------------------------------------------------------------- public API (any thread)
    def start(self) -> "ServeEngine":
        """Start the scheduler thread (idempotent); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="serve-engine", daemon=True)
            self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop the scheduler; requests still queued or running end with ``EngineStoppedError``."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._loader.shutdown(wait=False, cancel_futures=True)
        self._drain_inbox()
        for seq in list(self._waiting) + self._running:
            self._finish(seq, "error", EngineStoppedError("the server is shutting down"))
        self._waiting.clear()
        self._running.clear()

    def validate(self, request: GenerationRequest) -> None:
        """Raise the ``ServeError`` that ``submit`` would raise for ``request`` (without queueing it).

        It looks the adapter's directory up on disk: call it off an event loop.
        """
        if request.adapter is not None:
            self.adapters.resolve(request.adapter)
        n = len(request.prompt_ids)
        if n < 1:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        if n + request.sampling.max_tokens > self.config.max_seq_len:
            raise PromptTooLongError(
                f"the prompt has {n} tokens and max_tokens is {request.sampling.max_tokens}: together more than the "
                f"server's context limit of {self.config.max_seq_len} tokens; shorten the prompt or lower max_tokens",
                param="max_tokens" if n < self.config.max_seq_len else "prompt",
            )

    def check_adapter(self, name: str) -> None:
        """Raise the ``ServeError`` that would fail requests for adapter ``name`` when it is loaded, if one is
        known already: unsafe or unknown name, bad files, config, shapes, rank or size, or an earlier load
        failure (each adapter's files are checked once per version of them; call it off an event loop)."""
        problem = self.catalog.problem(self.adapters.resolve(name).name)
        if problem is not None:
            raise problem

    def servable_adapters(self) -> list[str]:
        """The adapters on disk that pass ``check_adapter``, sorted (call it off an event loop)."""
        return self.catalog.servable()

    def submit(self, request: GenerationRequest, sink: Callable[[StreamEvent], None]) -> int:
        """Queue ``request``; ``sink`` receives its ``StreamEvent``s on the engine thread. Returns the request id.

        Raises ``ServerBusyError`` when ``max_concurrent_requests`` are already in flight, and the errors of
        ``validate`` for bad requests (unknown adapter, too long).
        """
        return self.submit_many([request], [sink])[0]

    def submit_many(
        self, requests: Sequence[GenerationRequest], sinks: Sequence[Callable[[StreamEvent], None]]
    ) -> list[int]:
        """Queue several requests at once: all are accepted or none (429 counts them together)."""
        if self._stopping.is_set():
            raise EngineStoppedError("the server is shutting down")
        if len(requests) > self.config.max_concurrent_requests:
            raise TooManyPromptsError(
                f"the request holds {len(requests)} prompts but this server runs at most "
                f"{self.config.max_concurrent_requests} at once; send at most {self.config.max_concurrent_requests} "
                "per request",
                param="prompt",
            )
        for request in requests:
            self.validate(request)
        with self._lock:
            if self._in_flight + len(requests) > self.config.max_concurrent_requests:
                raise ServerBusyError(
                    f"the server is busy: {self._in_flight} requests in flight and the limit is "
                    f"{self.config.max_concurrent_requests}; retry later"
                )
            self._in_flight += len(requests)
        now = time.perf_counter()
        ids = []
        for request, sink in zip(requests, sinks):
            request_id = next(self._ids)
            self._inbox.put(_Sequence(request_id, request, sink, now))
            ids.append(request_id)
        self._wake.set()
        return ids

    def cancel(self, request_id: int) -> None:
        """Stop generating for ``request_id`` (its sink then gets finish_reason 'cancelled')."""
        self._inbox.put(("cancel", request_id))
        self._wake.set()

    def generate(self, requests: Sequence[GenerationRequest], timeout: float | None = None) -> list[GenerationResult]:
        """Submit ``requests`` together and block until all finish; results in the same order."""
        collectors = [_Collector() for _ in requests]
        ids = self.submit_many(requests, [c.sink for c in collectors])
        results = []
        for request_id, collector in zip(ids, collectors):
            if not collector.done.wait(timeout):
                self.cancel(request_id)
                raise TimeoutError(f"request {request_id} did not finish within {timeout} s")
            results.append(collector.result(request_id))
        return results

    def stats(self) -> EngineStats:
        """Counts for monitoring (read without stopping the loop; values may be one step old)."""
        return EngineStats(
            running=len(self._running),
            waiting=len(self._waiting),
            in_flight=self._in_flight,
            adapters_loaded=self.cache.names(),
            adapter_bytes=self.cache.bytes_used,
            adapter_loads=self.adapter_loads,
            adapter_evictions=self.cache.evictions,
            steps=self.steps,
            policy=self.config.policy,
        )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- scheduler (engine thread)
    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking at the inbox, so a submit from now on is never missed
            self._drain_inbox()
            self._collect_loads()
            admitted = self._admit()
            if not admitted and not self._running:
                self._wake.wait(0.05)
                continue
            batch = list(self._running) + admitted
            try:
                if admitted:
                    self._prefill(admitted)
                if self._running:
                    self._decode()
            except Exception as exc:  # a failed step must not kill the server: fail its sequences
                logger.exception("serving step failed")
                error = ServeError(f"generation failed: {type(exc).__name__}: {exc}")
                error.status, error.error_type = 500, "server_error"
                for seq in batch:
                    if seq in self._running:
                        seq.finished, seq.error = "error", error
                    elif seq.finished is None:
                        self._finish(seq, "error", error)
            self._retire()

    def _drain_inbox(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, tuple):
                self._cancelled.add(item[1])
            else:
                self._waiting.append(item)

    def _apply_cancellations(self) -> None:
        if not self._cancelled:
            return
        for seq in list(self._waiting):
            if seq.request_id in self._cancelled:
                self._waiting.remove(seq)
                self._finish(seq, "cancelled")
        for seq in self._running:
            if seq.request_id in self._cancelled and seq.finished is None:
                seq.finished = "cancelled"
        self._cancelled.clear()

    def _collect_loads(self) -> None:
        self._apply_cancellations()
        now = time.perf_counter()
        for name, (future, deadline) in list(self._loading.items()):
            if not future.done():
                if now > deadline:  # the read goes on (a thread cannot be stopped) but nobody waits for it
                    self._fail_waiting(name, AdapterLoadTimeoutError(
                        f"adapter {name!r} was not read from disk within {self.config.adapter_load_timeout:g} s; "
                        "retry later", param="model"))
                continue
            del self._loading[name]
            try:
                weights = future.result()
                self.cache.check_fits(name, weights.nbytes)
                self._loaded_host[name] = weights
                self.adapter_loads += 1
            except Exception as exc:  # the error goes to every request waiting for this adapter
                if isinstance(exc, ServeError):
                    error = exc
                else:
                    error = AdapterFormatError(f"cannot load adapter {name!r}: {type(exc).__name__}: {exc}", param="model")
                self._remember_failure(name, error)
                self._fail_waiting(name, error)

    def _fail_waiting(self, name: str, error: ServeError) -> None:
        for seq in [s for s in self._waiting if s.adapter == name]:
            self._waiting.remove(seq)
            self._finish(seq, "error", error)

    def _remember_failure(self, name: str, error: ServeError) -> None:
        """Keep a bad adapter out of /v1/models and fail its next requests at once (until its files change)."""
        try:
            self.catalog.remember(self.adapters.resolve(name).name, error)
        except ServeError:
            pass  # it vanished meanwhile: nothing to remember

    def _check_manifest(self, manifest: AdapterManifest) -> None:
        """The engine's part of an adapter's check: it fits the base model's layers, the rank and the budget."""
        self.slots.check(manifest)
        self.cache.check_fits(manifest.name, manifest.nbytes(self.runner.dtype.itemsize))

    def _load(self, name: str) -> AdapterWeights:
        path = self.adapters.resolve(name)
        problem = self.catalog.problem(path.name)  # the files may have changed since the request was validated
        if problem is not None:
            raise problem
        weights = self._reader(path, name=name, dtype=self.runner.dtype)
        self.slots.check(weights)
        return weights

    def _resident_slot(self, name: str | None) -> int | None:
        """The slot for ``name`` if it can run now; otherwise start what makes it ready and return None."""
        if name is None:
            return 0
        slot = self.cache.slot(name)
        if slot is not None:
            return slot
        weights = self._loaded_host.get(name)
        if weights is None:
            if name not in self._loading:
                future = self._loader.submit(self._load, name)
                future.add_done_callback(lambda _f: self._wake.set())
                self._loading[name] = (future, time.perf_counter() + self.config.adapter_load_timeout)
            return None
        placed = self.cache.add(name, weights.nbytes)
        if placed is None:
            return None  # every resident adapter is in use; retry when a sequence finishes
        slot, evicted = placed
        for victim in evicted:
            logger.info("evicted adapter %s", victim)
        self.slots.install(slot, weights)
        del self._loaded_host[name]
        logger.info("loaded adapter %s into slot %d", name, slot)
        return slot

    def _admit(self) -> list[_Sequence]:
        free_rows = self.config.max_batch_size - len(self._running)
        if free_rows <= 0 or not self._waiting:
            return []
        admitted: list[_Sequence] = []
        if self.config.policy == "single":
            if not self._running:
                self._current_single = self._waiting[0].adapter
            elif any(s.adapter != self._current_single for s in self._waiting):
                return []  # let the batch drain so the oldest waiting adapter gets its turn
        slot_blocked = False
        for seq in list(self._waiting):
            if len(admitted) >= free_rows:
                break
            if self.config.policy == "single" and seq.adapter != self._current_single:
                continue
            if slot_blocked and seq.adapter is not None:
                continue  # an older request waits for a slot: admitting newer ones would keep their adapters pinned
            slot = self._resident_slot(seq.adapter)
            if slot is None:
                # it will need a slot that only finishing sequences can free: hold newer adapter requests back
                slot_blocked = seq.adapter in self._loaded_host or not self.cache.can_take_another()
                continue
            if seq.adapter is not None:
                self.cache.pin(seq.adapter)
            seq.slot = slot
            if seq.request.sampling.temperature > 0:
                seq.generator = torch.Generator(device=self.runner.device)
                if seq.request.sampling.seed is not None:
                    seq.generator.manual_seed(seq.request.sampling.seed)
                else:
                    seq.generator.seed()
            self._waiting.remove(seq)
            admitted.append(seq)
        wanted = {s.adapter for s in self._waiting}
        for name in [n for n in self._loaded_host if n not in wanted]:
            del self._loaded_host[name]  # its requests were cancelled meanwhile
        return admitted

    def _prefill(self, admitted: list[_Sequence]) -> None:
        # group by a token budget so one prefill never pads more than max_prefill_tokens
        groups: list[list[_Sequence]] = []
        for seq in sorted(admitted, key=lambda s: len(s.request.prompt_ids)):
            width = len(seq.request.prompt_ids)
            if groups and width * (len(groups[-1]) + 1) <= self.config.max_prefill_tokens:
                groups[-1].append(seq)
            else:
                groups.append([seq])
        for group in groups:
            first_row = len(self._running)
            self._running.extend(group)
            rows = list(range(first_row, first_row + len(group)))
            with self.slots.rows([s.slot for s in group], device=self.runner.device):
                logits = self.runner.prefill(rows, [list(s.request.prompt_ids) for s in group])
            for seq in group:
                seq.cache_len = len(seq.request.prompt_ids)
            self._fail_non_finite(group, logits)
            self._emit(group, self._sample(group, logits))

    def _decode(self) -> None:
        active = self._running
        tokens = torch.tensor([s.next_input for s in active], dtype=torch.long)
        lengths = [s.cache_len for s in active]
        with self.slots.rows([s.slot for s in active], device=self.runner.device):
            logits = self.runner.decode(tokens, lengths)
        for seq in active:
            seq.cache_len += 1
        self.steps += 1
        self._fail_non_finite(active, logits)
        self._emit(active, self._sample(active, logits))

    def _fail_non_finite(self, seqs: Sequence[_Sequence], logits: torch.Tensor) -> None:
        """A row whose logits hold NaN or infinity fails alone; the other rows of the batch are unaffected."""
        finite = torch.isfinite(logits).all(dim=-1).tolist()
        for seq, ok in zip(seqs, finite):
            if ok or seq.finished is not None:
                continue
            seq.finished = "error"
            if seq.adapter is not None:
                seq.error = AdapterOutputError(
                    f"adapter {seq.adapter!r} made the model compute NaN or infinite values for this prompt; its "
                    "weights are unusable with this base model", param="model")
            else:
                seq.error = ModelOutputError("the base model computed NaN or infinite values for this prompt")

    def _sample(self, seqs: Sequence[_Sequence], logits: torch.Tensor) -> list[int]:
        chosen = logits.argmax(dim=-1).tolist()
        for i, seq in enumerate(seqs):
            params = seq.request.sampling
            if params.temperature <= 0 or seq.finished is not None:
                continue
            try:
                # shifting by the maximum keeps a tiny temperature from overflowing to inf (and NaN probabilities)
                row = logits[i]
                probs = torch.softmax((row - row.max()) / params.temperature, dim=-1)
                if params.top_p < 1.0:
                    sorted_probs, order = probs.sort(descending=True)
                    keep = sorted_probs.cumsum(0) - sorted_probs < params.top_p  # always keeps the top token
                    probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_probs[keep])
                chosen[i] = int(torch.multinomial(probs, 1, generator=seq.generator).item())
            except RuntimeError as exc:  # this row cannot be sampled: it fails, the others go on
                logger.exception("sampling request %d failed", seq.request_id)
                seq.finished, seq.error = "error", ModelOutputError(f"sampling failed: {exc}")
        return chosen

    def _emit(self, seqs: Sequence[_Sequence], tokens: list[int]) -> None:
        now = time.perf_counter()
        for seq, token in zip(seqs, tokens):
            if seq.finished is not None:
                continue
            if token in self.eos_token_ids:
                seq.finished = "stop"
                continue
            seq.generated.append(token)
            seq.next_input = token
            self._send(seq, StreamEvent(seq.request_id, token_id=token, time=now))
            if len(seq.generated) >= seq.request.sampling.max_tokens or seq.cache_len + 1 >= self.config.max_seq_len:
                seq.finished = "length"

    def _retire(self) -> None:
        done = [i for i, s in enumerate(self._running) if s.finished is not None]
        for row in reversed(done):
            seq = self._running[row]
            last = len(self._running) - 1
            if row != last:
                moved = self._running[last]
                self.runner.move_row(last, row, moved.cache_len)
                self._running[row] = moved
            self._running.pop()
            self._finish(seq, seq.finished or "stop", seq.error)

    def _finish(self, seq: _Sequence, reason: str, error: ServeError | None = None) -> None:
        if seq.slot and seq.adapter is not None:
            self.cache.unpin(seq.adapter)
            seq.slot = 0
        seq.finished = reason
        with self._lock:
            self._in_flight -= 1
        self._send(seq, StreamEvent(seq.request_id, finish_reason=reason, error=error, time=time.perf_counter()))

    @staticmethod
    def _send(seq: _Sequence, event: StreamEvent) -> None:
        try:
            seq.sink(event)
        except Exception:  # a broken consumer must not break the engine
            logger.exception("the sink of request %d failed", seq.request_id)


class _Collector:
    """Gathers one request's events for ``ServeEngine.generate``."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.first: float | None = None
        self.start = time.perf_counter()
        self.end = 0.0
        self.reason = ""
        self.error: ServeError | None = None
        self.done = threading.Event()

    def sink(self, event: StreamEvent) -> None:
        if event.token_id is not None:
            if self.first is None:
                self.first = event.time
            self.tokens.append(event.token_id)
        if event.finish_reason is not None:
            self.reason, self.error, self.end = event.finish_reason, event.error, event.time
            self.done.set()

    def result(self, request_id: int) -> GenerationResult:
        return GenerationResult(
            request_id=request_id,
            token_ids=self.tokens,
            finish_reason=self.reason,
            error=self.error,
            time_to_first_token=None if self.first is None else self.first - self.start,
            latency=self.end - self.start,
        )
