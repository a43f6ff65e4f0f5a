"""A synthetic study table with a known structure, for forecaster tests that must be able to fail."""
from __future__ import annotations

import numpy as np
import pandas as pd

from advisor.features import STUDY_FEATURES, metric_family
from advisor.training_data import TrainingTable

MODELS = ["small-base", "small-chat", "big-base", "big-chat"]
#: Metrics dealt round-robin to the synthetic tasks (one per family).
METRICS = ("binary_flex", "exact_match", "rouge_l")


def synthetic_table(n_tasks: int = 24, noise: float = 0.02, seed: int = 0, family_effect: float = 0.0) -> TrainingTable:
    """Fine-tuned score = 0.7 - 0.12 * z(output_tokens_mean) + model offset + family effect + noise.

    Long outputs make a task hard (as in the study); bigger models are better by a fixed offset; on
    ``exact_match`` tasks the small models gain ``family_effect`` and the big ones lose it (as some study models
    never learn a multiple-choice format). GPT-4 sits 0.02 above the level.
    """
    rng = np.random.default_rng(seed)
    tasks = [f"task{i:02d}" for i in range(n_tasks)]
    heur = pd.DataFrame(index=tasks)
    for name in STUDY_FEATURES:
        heur[name] = rng.uniform(1, 200, n_tasks) if "tokens" in name or name == "n_examples" else rng.uniform(0, 1, n_tasks)
    heur["output_tokens_mean"] = np.exp(rng.uniform(0, 5, n_tasks))
    heur["simple_learner_score"] = rng.uniform(0, 1, n_tasks)
    metrics = [METRICS[i % len(METRICS)] for i in range(n_tasks)]
    heur["task_type"] = ["classification" if m != "rouge_l" else "free_generation" for m in metrics]
    heur["metric"] = metrics
    heur["metric_family"] = [metric_family(m) for m in metrics]
    z = np.log1p(heur["output_tokens_mean"])
    z = (z - z.mean()) / z.std()
    offsets = pd.Series([-0.06, -0.03, 0.03, 0.06], index=MODELS)
    level = (0.7 - 0.12 * z).clip(0.1, 0.9)
    exact = (heur["metric"] == "exact_match").astype(float)
    sign = pd.Series([1.0, 1.0, -1.0, -1.0], index=MODELS)
    finetuned = pd.DataFrame({m: level + offsets[m] + family_effect * sign[m] * exact for m in MODELS})
    finetuned = (finetuned + rng.normal(0, noise, (n_tasks, len(MODELS)))).clip(0, 1)
    base = (finetuned - 0.3 + rng.normal(0, noise, finetuned.shape)).clip(0, 1)
    gpt4 = (level + 0.02 + rng.normal(0, noise, n_tasks)).clip(0, 1)
    descriptors = pd.DataFrame(
        {
            "family": ["x", "x", "y", "y"],
            "params_billion": [2.0, 2.0, 7.0, 7.0],
            "instruction_tuned": [0.0, 1.0, 0.0, 1.0],
            "release_year": [2023.5, 2023.5, 2024.0, 2024.0],
        },
        index=MODELS,
    )
    return TrainingTable(finetuned=finetuned, base=base, gpt4=pd.Series(gpt4, index=tasks), heuristics=heur,
                         descriptors=descriptors)
