"""Which task heuristics the predictor reads, and how they are put on a comparable scale."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from featurizers.profile_types import INVARIANT_STUDY_HEURISTICS, STUDY_HEURISTICS, TaskProfile


class ProfileFeatureError(ValueError):
    """A task profile lacks heuristics the predictor needs."""


#: The study's heuristics. Token counts and example counts are heavy-tailed, so they enter on a log scale.
STUDY_FEATURES: tuple[str, ...] = STUDY_HEURISTICS
#: The study's heuristics as the default candidates read them: their content-only counterparts (no template
#: text; see featurizers.profile_types.INVARIANT_STUDY_HEURISTICS), which rewording an instruction, repeating
#: or reordering rows does not move.
INVARIANT_STUDY_FEATURES: tuple[str, ...] = INVARIANT_STUDY_HEURISTICS

LOG_SCALED_PREFIXES: tuple[str, ...] = (
    "input_tokens_", "output_tokens_", "example_tokens_", "content_input_tokens_", "content_example_tokens_",
    "n_examples",
)

#: Indicator features of the task kind the featurizers detect (``TaskProfile.task_type``, one of
#: ``tasks.task_kinds.TASK_KINDS``), read from a ``task_type`` column; a forecaster reads the kinds that at least
#: two training tasks have (see :mod:`advisor.selection`): one task cannot teach what its kind does.
TASK_TYPE_PREFIX = "task_type:"

#: Indicator features of the task metric's family, read from a ``metric`` column (``TaskProfile.metric``,
#: the metric that scores the task). Each family puts scores on its own footing: ``binary`` (yes/no
#: accuracy, chance 0.5), ``exact`` (the whole answer must match: labels, choices, numbers), ``overlap``
#: (partial credit for overlapping text). Base models differ most on ``exact`` tasks (multiple choice,
#: where some never learn the answer format), so the family is what the spread across models reads.
METRIC_FAMILY_PREFIX = "metric_family:"
METRIC_FAMILIES: dict[str, str] = {
    "binary_flex": "binary",
    "exact_match": "exact",
    "first_number": "exact",
    "sts": "exact",
    "rouge_l": "overlap",
    "json_match": "overlap",
}
#: Columns that categorical features read, by the prefix of their names.
CATEGORICAL_COLUMNS: dict[str, str] = {TASK_TYPE_PREFIX: "task_type", METRIC_FAMILY_PREFIX: "metric_family"}


def metric_family(metric: str | None) -> str | None:
    """The family of a registered metric name (see :data:`METRIC_FAMILIES`), None when unknown.

    Example:
        >>> metric_family("binary_flex"), metric_family("rouge_l"), metric_family(None)
        ('binary', 'overlap', None)
    """
    return METRIC_FAMILIES.get(metric) if metric else None


def categorical_prefix(name: str) -> str | None:
    """The categorical prefix of a feature name (``task_type:`` ...), None for a numeric heuristic."""
    return next((prefix for prefix in CATEGORICAL_COLUMNS if name.startswith(prefix)), None)


#: Heuristics that place the task on its own metric's scale: how far trivial learners get
#: (``featurizers.simple_learners``).
SIMPLE_LEARNER_FEATURES: tuple[str, ...] = ("simple_learner_score",)


def heuristics_frame(profiles: dict[str, TaskProfile]) -> pd.DataFrame:
    """Tasks x heuristics (numbers), plus the text columns ``task_type``, ``metric`` and ``metric_family``."""
    frame = pd.DataFrame({name: p.heuristics for name, p in profiles.items()}).T.astype(float)
    frame["task_type"] = pd.Series({name: p.task_type for name, p in profiles.items()}, dtype=object)
    frame["metric"] = pd.Series({name: p.metric for name, p in profiles.items()}, dtype=object)
    frame["metric_family"] = frame["metric"].map(metric_family)
    return frame


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered list of heuristic names read from each profile, with log scaling where it helps."""

    names: tuple[str, ...]

    def matrix(self, heuristics: pd.DataFrame) -> pd.DataFrame:
        """Tasks x features, log-scaled where the name says so. Missing columns or values are an error."""
        needed = list(dict.fromkeys(
            CATEGORICAL_COLUMNS[prefix] if (prefix := categorical_prefix(n)) else n for n in self.names
        ))
        missing = [n for n in needed if n not in heuristics.columns]
        if missing:
            raise ProfileFeatureError(
                f"task profile lacks heuristics the predictor needs: {missing}; "
                "re-profile the data with the featurizer version the predictor was trained on"
            )
        frame = pd.DataFrame(index=heuristics.index)
        for name in self.names:
            prefix = categorical_prefix(name)
            if prefix is not None:
                frame[name] = (heuristics[CATEGORICAL_COLUMNS[prefix]] == name[len(prefix):]).astype(float)
            else:
                frame[name] = heuristics[name].astype(float)
        bad = frame.columns[frame.isna().any()].tolist()
        if bad:
            tasks = frame.index[frame.isna().any(axis=1)].tolist()
            raise ProfileFeatureError(f"heuristics {bad} are undefined (NaN) for task(s) {tasks}")
        for name in self.names:
            if name.startswith(LOG_SCALED_PREFIXES):
                frame[name] = np.log1p(frame[name].clip(lower=0))
        return frame

    def from_profiles(self, profiles: dict[str, TaskProfile]) -> pd.DataFrame:
        """Feature matrix for named profiles (one row per name)."""
        return self.matrix(heuristics_frame(profiles))
