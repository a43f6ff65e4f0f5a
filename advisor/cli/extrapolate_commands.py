"""``advisor extrapolate``: forecast each model's loss at a larger training set from its learning curve.

Example::

    advisor extrapolate curves.csv --target-size 100000          # curves.csv: model,n_examples,loss
    advisor extrapolate curves.csv --target-size 100000 --json --level 0.9
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extrapolate",
        help="forecast each model's held-out loss at a larger training set from its learning curve",
        description=(
            "Fit the rectified fine-tuning scaling law L(D) = B / (D_l + D^beta) + E (Lin et al., 2024) to each "
            "model's learning curve and forecast its loss at --target-size examples, with an interval. CURVES is "
            "a CSV with columns model,n_examples,loss: one row per measured point, any number of models and "
            "sizes (n_examples 0 is the zero-shot loss, left out of the fit unless --use-zero-shot); each model "
            "needs at least two positive sizes."
        ),
    )
    parser.add_argument("curves", type=Path, metavar="CURVES.csv", help="learning curves: model,n_examples,loss")
    parser.add_argument("--target-size", type=float, required=True, metavar="N",
                        help="training-set size (examples) to forecast the loss at")
    parser.add_argument("--level", type=float, default=0.8, metavar="P",
                        help="nominal coverage of the interval (default 0.8)")
    parser.add_argument("--use-zero-shot", action="store_true",
                        help="fit the n_examples=0 (zero-shot) losses too, weighted as the smallest size")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {model, predicted_loss, low, high, ...}")
    parser.set_defaults(handler=run_extrapolate)


def run_extrapolate(args: argparse.Namespace) -> int:
    from advisor.extrapolation import FitSettings, extrapolate, read_curves

    curves = read_curves(args.curves)
    forecasts = extrapolate(curves, args.target_size, settings=FitSettings(use_zero_shot=args.use_zero_shot),
                            level=args.level)
    if args.json:
        print(json.dumps([_json_row(f.to_dict()) for f in forecasts], indent=2))
    else:
        print(format_forecasts(forecasts))
    return 0


def format_forecasts(forecasts: list[Any]) -> str:
    """One line per model: predicted loss and interval at the target size, and what the fit saw."""
    level = forecasts[0].level if forecasts else 0.8
    width = max([len("model")] + [len(f.model) for f in forecasts])
    header = (f"{'model':<{width}}  {'predicted_loss':>14}  {'low':>8}  {'high':>8}  {'sizes':>5}  "
              f"{'largest':>9}  {'beta':>6}")
    lines = [header, "-" * len(header)]
    for f in forecasts:
        lines.append(f"{f.model:<{width}}  {f.predicted_loss:>14.4f}  {f.low:>8.4f}  {f.high:>8.4f}  {f.n_sizes:>5}  "
                     f"{f.largest_size:>9,.0f}  {f.law['beta']:>6.3f}")
    target = forecasts[0].target_size if forecasts else float("nan")
    lines.append(f"(loss at {target:,.0f} examples; {level:.0%} interval from the fit's jackknife and the "
                 "extrapolation distance)")
    return "\n".join(lines)


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN/Infinity; a degenerate fit's law parameters could be infinite
    return {k: (_json_row(v) if isinstance(v, dict) else (None if isinstance(v, float) and not math.isfinite(v) else v))
            for k, v in row.items()}
