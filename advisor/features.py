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

#: Indicator features of the task type the featurizers detect (``TaskProfile.task_type``), read from a
#: ``task_type`` column. Only the types that at least two reference tasks with fair samples have: one task
#: cannot teach what its type does.
TASK_TYPE_PREFIX = "task_type:"
TASK_TYPE_FEATURES: tuple[str, ...] = (
    "task_type:classification", "task_type:multiple_choice", "task_type:free_generation",
    "task_type:structured_output",
)


#: Heuristics that place the task on its own metric's scale: how far trivial learners get
#: (``featurizers.simple_learners``).
SIMPLE_LEARNER_FEATURES: tuple[str, ...] = ("simple_learner_score",)


def heuristics_frame(profiles: dict[str, TaskProfile]) -> pd.DataFrame:
    """Tasks x heuristics (numbers), plus the detected ``task_type`` as a text column."""
    frame = pd.DataFrame({name: p.heuristics for name, p in profiles.items()}).T.astype(float)
    frame["task_type"] = pd.Series({name: p.task_type for name, p in profiles.items()}, dtype=object)
    return frame


@dataclass(frozen=True)
class FeatureSpec:
    """An ordered list of heuristic names read from each profile, with log scaling where it helps."""

    names: tuple[str, ...]

    def matrix(self, heuristics: pd.DataFrame) -> pd.DataFrame:
        """Tasks x features, log-scaled where the name says so. Missing columns or values are an error."""
        numeric = [n for n in self.names if not n.startswith(TASK_TYPE_PREFIX)]
        needed = numeric + (["task_type"] if len(numeric) < len(self.names) else [])
        missing = [n for n in needed if n not in heuristics.columns]
        if missing:
            raise ProfileFeatureError(
                f"task profile lacks heuristics the predictor needs: {missing}; "
                "re-profile the data with the featurizer version the predictor was trained on"
            )
        frame = pd.DataFrame(index=heuristics.index)
        for name in self.names:
            if name.startswith(TASK_TYPE_PREFIX):
                frame[name] = (heuristics["task_type"] == name[len(TASK_TYPE_PREFIX):]).astype(float)
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
