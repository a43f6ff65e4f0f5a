"""`advisor onboard`: which reference tasks a new model should run first, and onboarding it for real."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from advisor.api import Advisor, local_artifact_dir
from advisor.cli import main
from training_runs.store import Store

pytestmark = pytest.mark.slow


def test_without_tasks_it_proposes_reference_tasks_that_shrink_the_models_uncertainty_most(capsys):
    assert main(["onboard", "--base-model", "Qwen/Qwen2.5-7B", "--json", "--suggest", "3"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan) == 3 and len({p["task"] for p in plan}) == 3
    sds = [plan[0]["spread_sd_before"]] + [p["spread_sd_after"] for p in plan]
    assert sds == sorted(sds, reverse=True) and sds[-1] < sds[0]
    assert all(p["dataset"] for p in plan)          # where the study's data for each task comes from
    assert len({p["metric"] for p in plan}) >= 2     # different kinds of task before repeating one


def test_a_model_outside_the_registry_needs_its_descriptors(capsys):
    assert main(["onboard", "--base-model", "./no-such-model", "--name", "mystery"]) == 2
    assert "--params-billion" in capsys.readouterr().err


def _small_copy(task: str, reference_tasks: Path, dest: Path, rows: int) -> Path:
    folder = dest / task
    folder.mkdir(parents=True)
    shutil.copy2(reference_tasks / task / "metadata.yaml", folder / "metadata.yaml")
    lines = (reference_tasks / task / "train.jsonl").read_text(encoding="utf-8").splitlines()[:rows]
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_onboarding_smollm2_on_two_reference_tasks_records_its_runs_and_the_refit_forecast_uses_them(
        smollm2_dir: Path, reference_tasks: Path, tmp_path: Path, capsys):
    main(["db", "init"])
    shipped = Advisor.load()
    folders = [_small_copy(t, reference_tasks, tmp_path / "tasks", 40) for t in ("glue_sst2", "glue_cola")]
    code = main(["onboard", "--base-model", str(smollm2_dir), "--name", "smollm2-135m-instruct",
                 "--tasks", ",".join(map(str, folders)), "--max-steps", "3", "--eval-size", "8",
                 "--no-quantize", "--device", "cpu", "--max-seq-length", "256"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "glue_sst2:" in out and "glue_cola:" in out and "after" in out
    with Store.open() as store:
        runs = store.runs_frame()
    mine = runs[runs["model"] == "smollm2-135m-instruct"]
    assert sorted(mine[mine["kind"] == "qlora"]["task"]) == ["glue_cola", "glue_sst2"]
    assert sorted(mine[mine["kind"] == "zero-shot"]["task"]) == ["glue_cola", "glue_sst2"]
    assert (local_artifact_dir() / "predictor.joblib").is_file()
    refit = Advisor.load()                          # the local refit is the default artifact now
    profile = refit.reference_profiles().loc["glue_mrpc"].dropna().to_dict()
    from featurizers.profile_types import TaskProfile

    task = TaskProfile(heuristics=profile, n_examples=int(profile["n_examples"]), n_profiled=10,
                       task_type="classification", metric="binary_flex")
    after = next(f for f in refit.rank(task).forecasts if f.base_model == "smollm2-135m-instruct")
    before = next(f for f in shipped.rank(task).forecasts if f.base_model == "smollm2-135m-instruct")
    assert after.runs == 2 and after.low_confidence and before.runs == 0
    assert after.predicted_score != pytest.approx(before.predicted_score, abs=1e-6)
