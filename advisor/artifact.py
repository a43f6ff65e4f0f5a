"""The trained predictor artifact: fitted predictors, the reference data they explain with, a model card.

Layout of an artifact directory (``models/`` ships one):
- ``predictor.joblib``: the :class:`PredictorBundle` (fitted predictors and reference tables);
- ``model_card.json``: training data, features, candidates' cross-validated metrics, versions;
- ``MODEL_CARD.md``: the same card for people.
Files are written to a temporary directory and moved into place, so a failed write leaves the
previous artifact intact.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from advisor.forecaster import JointForecaster

BUNDLE_FILE = "predictor.joblib"
CARD_FILE = "model_card.json"
CARD_MARKDOWN = "MODEL_CARD.md"
#: Bumped when the bundle's layout changes; older bundles are refused with a clear message.
ARTIFACT_FORMAT = 2


class ArtifactError(ValueError):
    """An artifact is missing, corrupt, or incompatible with this code."""


@dataclass
class PredictorBundle:
    """What :class:`advisor.Advisor` needs at run time, with no database or files besides itself.

    ``default`` forecasts from the heuristics alone; ``with_base_scores`` also reads measured zero-shot scores.
    ``reference_heuristics``: heuristics of every profiled reference task, with their ``task_type`` and
    ``metric`` (for similar tasks and charts); ``reference_results``: per reference task, best model, best
    fine-tuned score, mean lift, GPT-4 score; ``descriptors``: the base models the forecasters were trained on.
    """

    default: JointForecaster
    with_base_scores: JointForecaster
    featurizer_version: str
    predictor_version: str
    reference_heuristics: pd.DataFrame
    reference_results: pd.DataFrame
    descriptors: pd.DataFrame
    card: dict[str, Any] = field(default_factory=dict)
    artifact_format: int = ARTIFACT_FORMAT


def save_bundle(bundle: PredictorBundle, directory: str | Path, card_markdown: str) -> Path:
    """Write ``bundle`` and its card into ``directory`` atomically (files replaced only when all are written)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".artifact-") as tmp:
        tmp_path = Path(tmp)
        joblib.dump(bundle, tmp_path / BUNDLE_FILE, compress=3)
        (tmp_path / CARD_FILE).write_text(json.dumps(bundle.card, indent=2, sort_keys=True) + "\n")
        (tmp_path / CARD_MARKDOWN).write_text(card_markdown)
        for name in (BUNDLE_FILE, CARD_FILE, CARD_MARKDOWN):
            os.replace(tmp_path / name, directory / name)
    return directory


def load_bundle(directory: str | Path, *, featurizer_version: str) -> PredictorBundle:
    """Load an artifact, refusing one built for another featurizer version or artifact format."""
    path = Path(directory) / BUNDLE_FILE
    if not path.is_file():
        raise ArtifactError(f"no predictor artifact at {path}; train one with `advisor train --out {directory}`")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # a truncated or foreign file: say so instead of a pickle traceback
        raise ArtifactError(f"predictor artifact {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(bundle, PredictorBundle):
        raise ArtifactError(f"{path} does not hold a predictor bundle")
    if bundle.artifact_format != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"predictor artifact {path} has format {bundle.artifact_format}, this code reads format "
            f"{ARTIFACT_FORMAT}; retrain it with `advisor train`"
        )
    if bundle.featurizer_version != featurizer_version:
        raise ArtifactError(
            f"predictor artifact {path} was trained on featurizer version {bundle.featurizer_version}, but the "
            f"installed featurizers are version {featurizer_version}; retrain it with `advisor train`"
        )
    return bundle


def copy_artifact(source: str | Path, destination: str | Path) -> None:
    """Copy an artifact directory's files (used by tests to work on a scratch copy)."""
    Path(destination).mkdir(parents=True, exist_ok=True)
    for name in (BUNDLE_FILE, CARD_FILE, CARD_MARKDOWN):
        shutil.copy2(Path(source) / name, Path(destination) / name)
