"""The result type of profiling a task dataset: named heuristics with their uncertainty."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Bumped whenever a heuristic's definition changes; predictors record the version they were trained on.
FEATURIZER_VERSION = "2.0"

#: The study's heuristics (arXiv 2405.00732), in the order the study lists them.
STUDY_HEURISTICS: tuple[str, ...] = (
    "input_tokens_mean", "input_tokens_std", "input_tokens_p95",
    "output_tokens_mean", "output_tokens_std", "output_tokens_p95",
    "example_tokens_mean", "example_tokens_std", "example_tokens_p95",
    "io_rougeL_mean", "io_rougeL_std",
    "compressibility_mean", "compressibility_std",
    "n_examples",
)


#: Counterparts of the study's heuristics that read only what varies from example to example: the
#: template's fixed text left out of token counts, ROUGE-L and compressibility (see
#: :mod:`featurizers.contents`). With the outputs' token counts and ``n_examples`` (unique examples, or the
#: size claimed for the full training set) they are the study's heuristics a forecast should read: they do
#: not move when the instruction is reworded, rows are repeated or reordered, or columns renamed.
INVARIANT_STUDY_HEURISTICS: tuple[str, ...] = (
    "content_input_tokens_mean", "content_input_tokens_std", "content_input_tokens_p95",
    "output_tokens_mean", "output_tokens_std", "output_tokens_p95",
    "content_example_tokens_mean", "content_example_tokens_std", "content_example_tokens_p95",
    "content_io_rougeL_mean", "content_io_rougeL_std",
    "content_compressibility_mean", "content_compressibility_std",
    "n_examples",
)


#: Every heuristic that reads the task as a set of unique examples, each its varying content and output:
#: the invariant study counterparts and the dataset-level heuristics (with ``embeddings=True`` the
#: semantic-diversity ones too). Rewording the template's fixed text, repeating or reordering rows and
#: renaming columns leave them unchanged (tests/featurizers/test_invariance.py).
INVARIANT_HEURISTICS: tuple[str, ...] = INVARIANT_STUDY_HEURISTICS + (
    "empty_output_share", "output_cardinality", "output_distinct_ratio", "label_entropy", "output_in_input_share",
    "numeric_output_share", "input_lexical_diversity", "output_lexical_diversity", "near_duplicate_rate",
    "input_readability", "output_readability", "majority_score", "nearest_neighbor_score", "simple_learner_score",
)


@dataclass(frozen=True)
class TaskProfile:
    """Heuristics of one task dataset.

    ``heuristics`` maps each public heuristic name (e.g. ``"example_tokens_p95"``) to its value, computed on
    the unique examples; ``intervals`` maps summary statistics to a 95% confidence interval ``(low, high)``
    when the profile was computed on a sample (empty in exact mode). ``metric`` is the metric that scored the
    simple-learner heuristics (the task's, else inferred from its kind). ``task_type`` is the task kind (one
    of :data:`tasks.task_kinds.TASK_KINDS`).

    Sizes: ``n_rows`` rows were read, ``n_unique`` of them distinct examples (same input and output count
    once; ``duplicate_share`` = 1 - n_unique / n_rows), ``n_profiled`` of those profiled.
    ``n_examples_claimed`` is the training-set size the caller gave (``n_examples=``, a task folder's
    metadata), else None; ``n_examples`` (also the heuristic of that name) is the claim if any, else
    ``n_unique``. ``warnings`` says in words what the caller should know (duplicates, empty outputs).

    Example:
        >>> p = TaskProfile(heuristics={"n_examples": 10.0}, n_examples=10, n_profiled=10)
        >>> TaskProfile.from_dict(p.to_dict()) == p
        True
    """

    heuristics: dict[str, float]
    n_examples: int
    n_profiled: int
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    featurizer_version: str = FEATURIZER_VERSION
    task_type: str | None = None
    source: str | None = None
    fingerprint: str | None = None
    n_empty_outputs: int = 0
    sampled: bool = False
    metric: str | None = None
    n_rows: int | None = None
    n_unique: int | None = None
    duplicate_share: float = 0.0
    n_examples_claimed: int | None = None
    warnings: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> float:
        return self.heuristics[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN becomes ``None``)."""
        d = asdict(self)
        d["heuristics"] = {k: _json_float(v) for k, v in self.heuristics.items()}
        d["intervals"] = {k: [_json_float(lo), _json_float(hi)] for k, (lo, hi) in self.intervals.items()}
        d["warnings"] = list(self.warnings)
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TaskProfile":
        """Inverse of :meth:`to_dict`; unknown keys are an error so typos do not pass silently."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TaskProfile fields: {sorted(unknown)}; expected some of {sorted(known)}")
        d = dict(d)
        d["warnings"] = tuple(d.get("warnings") or ())
        d["heuristics"] = {k: (math.nan if v is None else float(v)) for k, v in d.get("heuristics", {}).items()}
        d["intervals"] = {
            k: (math.nan if lo is None else float(lo), math.nan if hi is None else float(hi))
            for k, (lo, hi) in d.get("intervals", {}).items()
        }
        return cls(**d)


def _json_float(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v
