"""Prometheus metrics of the server, in a registry of its own (no process-global state).

Counters and histograms are updated by the HTTP layer; the engine's gauges (adapters loaded, running and
waiting sequences, adapter loads and evictions) are read from ``ServeEngine.stats()`` at scrape time.

Metric names (all prefixed ``advisor_serve_``): ``requests_total{endpoint,model,status}``,
``prompt_tokens_total{model}``, ``completion_tokens_total{model}``, ``request_latency_seconds{endpoint}``,
``time_to_first_token_seconds{endpoint}``, ``adapters_loaded``, ``adapter_bytes``, ``running_sequences``,
``waiting_sequences``, ``adapter_loads_total``, ``adapter_evictions_total``, ``decode_steps_total``.

Example:
    >>> metrics = ServerMetrics(lambda: None)
    >>> metrics.observe_request("completions", "base", 200, prompt_tokens=5, completion_tokens=3,
    ...                         latency=0.2, ttft=0.05)
    >>> b'advisor_serve_completion_tokens_total{model="base"} 3.0' in metrics.render()
    True
"""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _EngineCollector:
    def __init__(self, stats: Callable[[], object]) -> None:
        self._stats = stats

    def collect(self):
        stats = self._stats()
        if stats is None:
            return
        gauges = (
            ("advisor_serve_adapters_loaded", "Adapters resident in the LoRA cache", len(stats.adapters_loaded)),
            ("advisor_serve_adapter_bytes", "Bytes of LoRA weights resident in the cache", stats.adapter_bytes),
            ("advisor_serve_running_sequences", "Sequences in the running batch", stats.running),
            ("advisor_serve_waiting_sequences", "Sequences waiting for a batch row or their adapter", stats.waiting),
        )
        for name, doc, value in gauges:
            yield GaugeMetricFamily(name, doc, value=value)
        counters = (
            ("advisor_serve_adapter_loads", "Adapters read from disk", stats.adapter_loads),
            ("advisor_serve_adapter_evictions", "Adapters evicted from the LoRA cache", stats.adapter_evictions),
            ("advisor_serve_decode_steps", "Batched decode steps run", stats.steps),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(name, doc, value=value)


class ServerMetrics:
    """The server's metrics; ``render()`` returns the Prometheus text exposition."""

    def __init__(self, engine_stats: Callable[[], object]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "advisor_serve_requests", "HTTP generation requests by endpoint, model and status",
            ["endpoint", "model", "status"], registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "advisor_serve_prompt_tokens", "Prompt tokens processed", ["model"], registry=self.registry
        )
        self.completion_tokens = Counter(
            "advisor_serve_completion_tokens", "Tokens generated", ["model"], registry=self.registry
        )
        self.latency = Histogram(
            "advisor_serve_request_latency_seconds", "Time from request to last token", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.ttft = Histogram(
            "advisor_serve_time_to_first_token_seconds", "Time from request to first token", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.registry.register(_EngineCollector(engine_stats))

    def observe_request(
        self, endpoint: str, model: str, status: int, *, prompt_tokens: int = 0, completion_tokens: int = 0,
        latency: float | None = None, ttft: float | None = None,
    ) -> None:
        """Record one finished request (``model`` must be a known model name or '-', to bound label values)."""
        self.requests.labels(endpoint, model, str(status)).inc()
        if prompt_tokens:
            self.prompt_tokens.labels(model).inc(prompt_tokens)
        if completion_tokens:
            self.completion_tokens.labels(model).inc(completion_tokens)
        if latency is not None:
            self.latency.labels(endpoint).observe(latency)
        if ttft is not None:
            self.ttft.labels(endpoint).observe(ttft)

    def render(self) -> bytes:
        return generate_latest(self.registry)
