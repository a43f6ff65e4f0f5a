"""The verdict and how sure it is are read from the draws of the pick's lift."""
from __future__ import annotations

import numpy as np

from advisor.verdict import judge


def test_a_lift_that_clears_ten_points_in_most_draws_is_likely_and_fairly_sure():
    v = judge(np.random.default_rng(0).normal(0.25, 0.05, 2000))
    assert (v.verdict, v.confidence) == ("likely", "fairly sure") and v.probability > 0.95


def test_a_lift_that_rarely_reaches_three_points_is_unlikely():
    v = judge(np.random.default_rng(0).normal(0.0, 0.02, 2000))
    assert v.verdict == "unlikely" and v.probability == 1 - v.p_worthwhile


def test_a_middling_lift_is_possible_and_a_wide_spread_lowers_how_sure():
    narrow = judge(np.random.default_rng(0).normal(0.065, 0.01, 2000))
    wide = judge(np.random.default_rng(0).normal(0.065, 0.2, 2000))
    assert narrow.verdict == "possible" and narrow.confidence == "fairly sure"
    assert wide.confidence == "not very sure"


def test_a_pick_forecast_without_runs_is_never_called_sure():
    assert judge(np.full(100, 0.5), low_confidence=True).confidence == "not very sure"
