"""Compressibility of the study: gzip-compressed size over raw UTF-8 size of each example."""
from __future__ import annotations

import numpy as np

from featurizers.batch_features import BatchFeatures
from featurizers.registry import measure


@measure("compressibility", summaries=("mean", "std"))
def compressibility(batch: BatchFeatures) -> np.ndarray:
    """len(gzip(prompt + completion)) / len(prompt + completion) in UTF-8 bytes; NaN (skipped) when empty.

    Lower means more repetitive text. Short examples can exceed 1 because of gzip's 18-byte framing.
    """
    raw = np.fromiter((len(b) for b in batch.example_bytes), dtype=np.float64, count=len(batch))
    out = np.full(len(batch), np.nan)
    np.divide(batch.example_gzip_sizes, raw, out=out, where=raw > 0)
    return out
