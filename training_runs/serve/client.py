"""The evaluation client: score several adapters on one task through a running multi-LoRA server.

Each adapter gets the task's prompts (greedy, ``temperature`` 0, sent as batches of prompts over a few
concurrent HTTP requests) and its completions are scored against the references with the task metric of
``tasks.metrics`` (the runner's metrics: the one given, else the task's ``TaskData.metric``, else
inferred from the references, as the runner does). Prompts go to ``/v1/completions`` as text, so the server tokenizes them exactly as the runner's
evaluation does (with the tokenizer's special tokens).

Example:
    >>> scores = evaluate_adapters("http://127.0.0.1:8000", [("2+2=", "4"), ("3+3=", "6")],
    ...                            ["arith-r8", "arith-r16"], metric="exact_match")   # doctest: +SKIP
    >>> print(format_scores(scores))                                                 # doctest: +SKIP
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

_RETRIES_WHEN_BUSY = 8


class ServerRequestError(OSError):
    """The server refused a request or could not be reached; the message carries its error."""


@dataclass(frozen=True)
class AdapterScore:
    """One adapter's score on the task, with what it took to get it."""

    adapter: str
    metric: str
    score: float
    n_examples: int
    completion_tokens: int
    seconds: float
    predictions: tuple[str, ...]


def evaluate_adapters(
    server: str,
    task,
    adapters: Sequence[str],
    *,
    metric: str | None = None,
    limit: int | None = None,
    max_tokens: int | None = None,
    concurrency: int = 8,
    prompts_per_request: int = 8,
    token: str | None = None,
    timeout: float = 300.0,
    http_client=None,
) -> list[AdapterScore]:
    """Score each of ``adapters`` on ``task`` (a ``TaskData`` or (prompt, completion) pairs) via ``server``.

    ``max_tokens`` defaults to a bound from the longest reference (one token per two characters, plus 16,
    at most 512). Predictions are stripped of surrounding whitespace, as the runner's evaluation does.
    Unknown adapter names are reported before anything is generated. ``http_client``: an ``httpx.Client``
    to send through instead of a new one (e.g. FastAPI's ``TestClient``).
    """
    import httpx

    from tasks.metrics import get_metric, infer_metric, score
    from training_runs.qlora.data import examples_from

    examples = examples_from(task)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        examples = examples[:limit]
    if not examples:
        raise ValueError("the task has no examples to evaluate")
    if concurrency < 1 or prompts_per_request < 1:
        raise ValueError("concurrency and prompts_per_request must be at least 1")
    prompts = [p for p, _ in examples]
    references = [c for _, c in examples]
    metric_name = get_metric(metric or getattr(task, "metric", None) or infer_metric(references)).name
    if max_tokens is None:
        max_tokens = min(512, max(len(r) for r in references) // 2 + 16)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = server.rstrip("/")
    owned = http_client is None
    client = httpx.Client(base_url=base, headers=headers, timeout=timeout) if owned else http_client
    if not owned:
        client.headers.update(headers)
    try:
        missing = [name for name in adapters if not _exists(client, name)]
        if missing:
            available = {entry["id"] for entry in _get(client, "/v1/models")["data"]}
            raise ValueError(
                f"the server at {base} has no model named {', '.join(map(repr, missing))}; it serves "
                f"{', '.join(sorted(available))}"
            )
        results = []
        chunks = [list(range(i, min(i + prompts_per_request, len(prompts)))) for i in range(0, len(prompts), prompts_per_request)]
        for adapter in adapters:
            started = time.perf_counter()
            predictions = [""] * len(prompts)
            tokens = 0

            def run(indices: list[int], adapter: str = adapter) -> tuple[list[int], dict]:
                body = {"model": adapter, "prompt": [prompts[i] for i in indices], "max_tokens": max_tokens,
                        "temperature": 0}
                return indices, _post(client, "/v1/completions", body)

            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                for indices, reply in pool.map(run, chunks):
                    for choice in reply["choices"]:
                        predictions[indices[choice["index"]]] = choice["text"].strip()
                    tokens += reply.get("usage", {}).get("completion_tokens", 0)
            results.append(AdapterScore(
                adapter=adapter, metric=metric_name, score=score(metric_name, predictions, references),
                n_examples=len(prompts), completion_tokens=tokens, seconds=time.perf_counter() - started,
                predictions=tuple(predictions),
            ))
    finally:
        if owned:
            client.close()
    return results


def format_scores(scores: Sequence[AdapterScore]) -> str:
    """A plain-text table of ``scores``, best first.

    Example:
        >>> print(format_scores([AdapterScore("a", "exact_match", 0.5, 4, 10, 2.0, ())]))
        adapter  metric        score  examples  tokens/s
        a        exact_match  0.5000         4       5.0
    """
    rows = sorted(scores, key=lambda s: -s.score)
    width = max([len("adapter")] + [len(s.adapter) for s in rows])
    metric_width = max([len("metric")] + [len(s.metric) for s in rows])
    lines = [f"{'adapter':<{width}}  {'metric':<{metric_width}}  {'score':>6}  {'examples':>8}  {'tokens/s':>8}"]
    for s in rows:
        rate = s.completion_tokens / s.seconds if s.seconds > 0 else 0.0
        lines.append(f"{s.adapter:<{width}}  {s.metric:<{metric_width}}  {s.score:>6.4f}  {s.n_examples:>8}  {rate:>8.1f}")
    return "\n".join(lines)


def _get(client, path: str) -> dict:
    return _check(_send(lambda: client.get(path)), path)


def _exists(client, name: str) -> bool:
    """Whether the server knows model ``name`` (an adapter, its run id, or the base model)."""
    response = _send(lambda: client.get(f"/v1/models/{name}"))
    if response.status_code in (400, 404):
        return False
    _check(response, f"/v1/models/{name}")
    return True


def _post(client, path: str, body: dict) -> dict:
    for attempt in range(_RETRIES_WHEN_BUSY + 1):
        response = _send(lambda: client.post(path, json=body))
        if response.status_code != 429 or attempt == _RETRIES_WHEN_BUSY:
            return _check(response, path)
        time.sleep(min(0.1 * 2**attempt, 5.0))  # the server is full: back off and retry
    raise AssertionError("unreachable")


def _send(call):
    import httpx

    try:
        return call()
    except httpx.HTTPError as exc:
        raise ServerRequestError(f"cannot reach the server: {exc}") from exc


def _check(response, path: str) -> dict:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise ServerRequestError(f"{path} answered HTTP {response.status_code}: {message}")
    return response.json()
