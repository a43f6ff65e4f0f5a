"""Compressibility: how redundant a task's text is.

* ``compressibility`` (the study's definition): gzip-compressed size over raw UTF-8 size of each example
  (prompt + completion). For short examples it mostly measures their length: gzip's 18 bytes of header and
  trailer outweigh a 40-byte example (a ratio above 1), and a longer instruction lowers the ratio without
  the task changing.
* ``content_compressibility``: the examples' varying content and outputs (no template text), written one
  after another in the sample's order and cut into blocks of 16 KiB, each compressed with raw DEFLATE (no
  gzip framing); the mean and standard deviation of the blocks' compressed/raw ratios. A block holds enough
  text for DEFLATE (whose window is 32 KiB) to find what repeats within and across examples, whatever their
  length, so the figure is an estimate of the task text's entropy rate: about 0.35-0.45 for label sets over
  short sentences, higher for varied prose. Every task gets the same context budget, so neither the
  examples' length nor the dataset's size (beyond one block) moves it.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from featurizers.batch_features import BatchFeatures, SampleView
from featurizers.registry import heuristic, measure

#: Bytes per compressed block, and the most blocks read (1 MiB of text: about 0.1 s).
BLOCK_BYTES = 16 * 1024
MAX_BLOCKS = 64


@measure("compressibility", summaries=("mean", "std"))
def compressibility(batch: BatchFeatures) -> np.ndarray:
    """len(gzip(prompt + completion)) / len(prompt + completion) in UTF-8 bytes; NaN (skipped) when empty.

    Lower means more repetitive text. Short examples can exceed 1 because of gzip's 18-byte framing.
    """
    raw = np.fromiter((len(b) for b in batch.example_bytes), dtype=np.float64, count=len(batch))
    out = np.full(len(batch), np.nan)
    np.divide(batch.example_gzip_sizes, raw, out=out, where=raw > 0)
    return out


def block_ratios(data: bytes, block: int = BLOCK_BYTES, max_blocks: int = MAX_BLOCKS) -> list[float]:
    """Raw-DEFLATE (level 9) compressed/raw size of each ``block``-byte block of ``data``.

    A last partial block is dropped when there is a full one before it (it would have less context than the
    others); data shorter than one block is one block.

    Example:
        >>> [round(r, 3) for r in block_ratios(b"abc" * 20_000, block=16_384)]
        [0.002, 0.002, 0.002]
    """
    data = data[: block * max_blocks]
    if not data:
        return []
    blocks = [data[i : i + block] for i in range(0, len(data), block)]
    if len(blocks) > 1 and len(blocks[-1]) < block:
        blocks.pop()
    return [len(zlib.compress(b, 9, -15)) / len(b) for b in blocks]


def _content_ratios(s: SampleView) -> list[float]:
    if "content_compressibility" not in s.cache:
        parts = []
        size = 0
        for content, output in zip(s.input_contents, s.completions):
            text = f"{content}\n{output}\n".encode("utf-8", "surrogatepass")
            parts.append(text)
            size += len(text)
            if size >= BLOCK_BYTES * MAX_BLOCKS:
                break
        s.cache["content_compressibility"] = block_ratios(b"".join(parts))
    return s.cache["content_compressibility"]


@heuristic("content_compressibility_mean")
def content_compressibility_mean(s: SampleView) -> float:
    """Mean raw-DEFLATE ratio of 16 KiB blocks of the examples' varying content and outputs, one after another."""
    ratios = _content_ratios(s)
    return float(np.mean(ratios)) if ratios else math.nan


@heuristic("content_compressibility_std")
def content_compressibility_std(s: SampleView) -> float:
    """Standard deviation of those blocks' ratios (0 with one block): how unevenly redundant the examples are."""
    ratios = _content_ratios(s)
    return float(np.std(ratios)) if ratios else math.nan
