"""Learning-curve extrapolation: the rectified law's fit, its intervals, bad input, and `advisor extrapolate`."""
from __future__ import annotations

import doctest
import importlib
import json
import math

import numpy as np
import pytest
from testsupport import SHARED, require_service

from advisor.cli import main
from advisor.curve_backtests import read_wide_curves, score_budget
from advisor.extrapolation import (
    CurveFitError,
    FitSettings,
    RectifiedLaw,
    extrapolate,
    fit_learning_curve,
    read_curves,
)

LEARNING_CURVES = SHARED / "learning_curves"
SIZES = [200 * 2**i for i in range(9)]  # 200 ... 51,200
#: Lin et al. 2024, Table 1: AtS Pearson x100 at budgets 1/8, 1/16, 1/32, 1/64.
PUBLISHED_ATS = {"flan": (90.9, 73.1, 65.5, 61.1), "wmt19": (98.9, 97.0, 97.7, 86.0)}
UNANCHORED = FitSettings(recency=1e6, floor_shrinkage=0.0, slope_anchor=0.0)


@pytest.mark.parametrize("dataset", sorted(PUBLISHED_ATS))
def test_the_forecasts_correlate_with_the_full_size_losses_at_least_as_well_as_published_at_every_budget(dataset):
    if not LEARNING_CURVES.is_dir():
        require_service(f"{LEARNING_CURVES} (the public learning curves)")
    curves = read_wide_curves(LEARNING_CURVES / f"{dataset}.csv")
    assert curves.shape[0] == 30 and max(curves.columns) == 1_638_400
    for budget, published in zip((8, 16, 32, 64), PUBLISHED_ATS[dataset]):
        score = score_budget(curves, budget)
        assert score.pearson >= published, f"{dataset} 1/{budget}: {score.pearson:.1f} < {published}"


@pytest.mark.parametrize("law", [
    RectifiedLaw(B=6.0, D_l=2.0, beta=0.45, E=0.6),
    RectifiedLaw(B=3.0, D_l=0.05, beta=0.2, E=0.0),
    RectifiedLaw(B=40.0, D_l=20.0, beta=0.8, E=1.2),
])
def test_the_parameters_of_a_noise_free_curve_are_recovered(law):
    law = RectifiedLaw(law.B, law.D_l, law.beta, law.E, scale=200.0)
    fit = fit_learning_curve(SIZES, law.loss(np.array(SIZES)), UNANCHORED)
    assert fit.law.beta == pytest.approx(law.beta, abs=0.02)
    assert fit.law.E == pytest.approx(law.E, abs=0.02)
    assert fit.predict(16 * SIZES[-1]) == pytest.approx(law.loss(16 * SIZES[-1]), rel=0.01)


def test_a_pure_power_law_is_extrapolated_exactly_by_the_default_settings():
    losses = [5.0 * s**-0.15 for s in SIZES[:4]]
    fit = fit_learning_curve(SIZES[:4], losses)
    target = 64 * SIZES[3]
    assert fit.predict(target) == pytest.approx(5.0 * target**-0.15, rel=0.005)


def test_noisy_curves_land_inside_their_interval_about_as_often_as_its_level_says():
    rng = np.random.default_rng(0)
    inside = []
    for _ in range(60):
        law = RectifiedLaw(B=rng.uniform(1, 10), D_l=rng.uniform(0.1, 5), beta=rng.uniform(0.1, 0.6),
                           E=rng.uniform(0, 0.5), scale=200.0)
        losses = law.loss(np.array(SIZES[:6])) * np.exp(rng.normal(0, 0.01, 6))
        fit = fit_learning_curve(SIZES[:6], losses)
        low, high = fit.interval(4 * SIZES[5], level=0.8)
        inside.append(low <= law.loss(4 * SIZES[5]) <= high)
    assert 0.6 <= np.mean(inside) <= 1.0


def test_the_interval_contains_the_forecast_and_widens_with_the_extrapolation_distance():
    fit = fit_learning_curve(SIZES[:5], [3.0, 2.7, 2.45, 2.2, 2.0])
    widths = []
    for target in (SIZES[4], 4 * SIZES[4], 64 * SIZES[4]):
        low, high = fit.interval(target)
        assert low < fit.predict(target) < high
        widths.append(math.log(high / low))
    assert widths[0] < widths[1] < widths[2]
    assert fit.interval(64 * SIZES[4], level=0.95)[1] > fit.interval(64 * SIZES[4], level=0.8)[1]


def test_repeated_sizes_are_averaged_and_the_zero_shot_loss_is_left_out_by_default():
    fit = fit_learning_curve([0, 200, 200, 400, 800], [9.0, 2.0, 2.2, 1.8, 1.6])
    assert fit.sizes == (200.0, 400.0, 800.0)
    assert fit.losses[0] == pytest.approx(math.sqrt(2.0 * 2.2))
    with_zero = fit_learning_curve([0, 200, 400], [2.5, 2.0, 1.8], FitSettings(use_zero_shot=True))
    assert with_zero.sizes == (0.0, 200.0, 400.0)


@pytest.mark.parametrize("sizes, losses, message", [
    ([200], [2.0], "two or more distinct positive sizes"),
    ([200, 200], [2.0, 1.9], "two or more distinct positive sizes"),
    ([0, 200], [3.0, 2.0], "two or more distinct positive sizes"),
    ([200, 400], [2.0, 0.0], "losses must be positive"),
    ([200, 400], [2.0, -1.0], "losses must be positive"),
    ([200, 400], [2.0, float("nan")], "losses must be positive"),
    ([-200, 400], [2.0, 1.0], "sizes must be finite and non-negative"),
    ([200, 400, 800], [2.0, 1.0], "equal length"),
])
def test_curves_that_cannot_be_fitted_are_refused_with_a_clear_error(sizes, losses, message):
    with pytest.raises(CurveFitError, match=message):
        fit_learning_curve(sizes, losses)


def test_extrapolate_names_the_model_whose_curve_is_bad_and_refuses_a_bad_target_or_level():
    with pytest.raises(CurveFitError, match="model 'b': .*two or more"):
        extrapolate({"a": [(100, 2.0), (200, 1.8)], "b": [(100, 2.0)]}, 1000)
    with pytest.raises(CurveFitError, match="target size must be a positive"):
        extrapolate({"a": [(100, 2.0), (200, 1.8)]}, 0)
    with pytest.raises(CurveFitError, match="level must be in"):
        extrapolate({"a": [(100, 2.0), (200, 1.8)]}, 1000, level=1.0)


def test_extrapolate_ranks_a_steeper_curve_below_a_flatter_one_at_a_larger_size():
    rows = extrapolate({"flat": [(100, 2.0), (200, 1.9), (400, 1.8)], "steep": [(100, 2.2), (200, 1.8), (400, 1.5)]},
                       target_size=6400)
    by_model = {r.model: r for r in rows}
    assert [r.model for r in rows] == ["flat", "steep"]
    assert by_model["steep"].predicted_loss < by_model["flat"].predicted_loss < 1.8
    assert all(r.low < r.predicted_loss < r.high and r.n_sizes == 3 and r.largest_size == 400 for r in rows)


@pytest.fixture
def curves_csv(tmp_path):
    path = tmp_path / "curves.csv"
    rows = ["model,n_examples,loss"]
    for model, slope in (("alpha", 0.1), ("beta", 0.2)):
        rows += [f"{model},0,4.0"] + [f"{model},{s},{3.0 * (s / 100) ** -slope:.5f}" for s in (100, 200, 400, 800)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_advisor_extrapolate_prints_one_row_per_model_with_the_forecast_and_its_interval(curves_csv, capsys):
    assert main(["extrapolate", str(curves_csv), "--target-size", "12800"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["model", "predicted_loss", "low", "high"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:4]] for line in lines[2:4]}
    expected = {"alpha": 3.0 * 128**-0.1, "beta": 3.0 * 128**-0.2}
    for model, (predicted, low, high) in rows.items():
        assert predicted == pytest.approx(expected[model], rel=0.01) and low < predicted < high


def test_advisor_extrapolate_json_is_a_list_of_model_forecasts(curves_csv, capsys):
    assert main(["extrapolate", str(curves_csv), "--target-size", "12800", "--json", "--level", "0.9"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["alpha", "beta"]
    for row in rows:
        assert row["low"] < row["predicted_loss"] < row["high"] and row["level"] == 0.9
        assert row["target_size"] == 12800 and row["n_sizes"] == 4


@pytest.mark.parametrize("content, message", [
    ("model,size,loss\na,100,2\n", "missing column(s) n_examples"),
    ("model,n_examples,loss\na,100,two\n", "row 2: loss 'two' is not a number"),
    ("model,n_examples,loss\na,100,2.0\n", "model 'a': a learning curve needs"),
    ("model,n_examples,loss\na,100,2.0\na,200,-1\n", "losses must be positive"),
    ("model,n_examples,loss\n", "no rows"),
    ("", "not a readable CSV"),
])
def test_advisor_extrapolate_reports_a_bad_curves_file_in_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "curves.csv"
    path.write_text(content)
    assert main(["extrapolate", str(path), "--target-size", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("advisor extrapolate: error: ") and message in err and err.count("\n") == 1


def test_advisor_extrapolate_reports_a_missing_file(tmp_path, capsys):
    assert main(["extrapolate", str(tmp_path / "none.csv"), "--target-size", "1000"]) == 2
    assert "no such curves file" in capsys.readouterr().err


def test_read_curves_keeps_the_three_columns_as_numbers(curves_csv):
    frame = read_curves(curves_csv)
    assert list(frame.columns) == ["model", "n_examples", "loss"] and frame["loss"].dtype == float


@pytest.mark.parametrize("name", ["advisor.extrapolation", "advisor.curve_backtests"])
def test_the_docstring_examples_run_and_show_what_they_say(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0
