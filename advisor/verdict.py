"""Does fine-tuning pay off, and how sure is that: read from the draws of the pick's lift.

The lift is the fine-tuned score minus the zero-shot score (measured when given, else forecast), in score
points of the task's metric. The verdict compares the chance of a large lift and of a worthwhile one with
even odds; how sure it is, is the probability of the verdict itself (lowered for a model forecast without
runs of its own).

Example:
    >>> import numpy as np
    >>> judge(np.full(100, 0.2)).verdict, judge(np.full(100, 0.0)).verdict
    ('likely', 'unlikely')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A lift at or above this is "pays off" (10 points of the task's metric).
PAYS_OFF_LIFT = 0.10
#: Below this lift fine-tuning hardly pays off (3 points).
MARGINAL_LIFT = 0.03
#: Probabilities of the verdict separating "fairly sure" / "moderately sure" / "not very sure".
FAIRLY_SURE = 0.8
MODERATELY_SURE = 0.6

VERDICTS = ("likely", "possible", "unlikely")


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is ``likely``, ``possible`` or ``unlikely`` (that fine-tuning pays off); ``confidence`` is
    ``fairly sure``, ``moderately sure`` or ``not very sure``; ``probability`` is the chance the verdict holds
    (``p_pays_off``: lift >= :data:`PAYS_OFF_LIFT`; ``p_worthwhile``: lift >= :data:`MARGINAL_LIFT`)."""

    verdict: str
    confidence: str
    probability: float
    p_pays_off: float
    p_worthwhile: float


def judge(lift_draws: np.ndarray, *, low_confidence: bool = False) -> Verdict:
    """The verdict on draws of the pick's lift.

    ``likely`` when a lift of :data:`PAYS_OFF_LIFT` is more likely than not; ``unlikely`` when even a lift of
    :data:`MARGINAL_LIFT` is less likely than not; ``possible`` between. Its probability: P(large lift) for
    ``likely``, P(lift below the marginal one) for ``unlikely``, and for ``possible`` the chance the lift falls
    between the two thresholds.
    """
    draws = np.asarray(lift_draws, dtype=float)
    p_pays = float(np.mean(draws >= PAYS_OFF_LIFT))
    p_worth = float(np.mean(draws >= MARGINAL_LIFT))
    if p_pays >= 0.5:
        verdict, probability = "likely", p_pays
    elif p_worth < 0.5:
        verdict, probability = "unlikely", 1.0 - p_worth
    else:
        verdict, probability = "possible", p_worth - p_pays
    if low_confidence or probability < MODERATELY_SURE:
        confidence = "not very sure"
    elif probability < FAIRLY_SURE:
        confidence = "moderately sure"
    else:
        confidence = "fairly sure"
    return Verdict(verdict, confidence, probability, p_pays, p_worth)
