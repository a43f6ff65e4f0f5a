"""A fine-tune killed at any point resumes or starts cleanly when rerun; bad places and devices fail up front.

The kills are real: ``advisor finetune`` runs in a subprocess that sends itself SIGKILL at a chosen point
(a function of the runner or the store is wrapped to do so), then the same command is run again.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from testsupport import write_pairs_csv
from qlora_helpers import fast_config, parity_pairs, tiny_model_dir  # noqa: F401 (fixtures)

from advisor.cli import main
from training_runs.qlora import list_adapters, run_qlora
from training_runs.qlora.checkpoint import CHECKPOINT_DIR, load_checkpoint
from training_runs.store import Store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Runs the advisor CLI after arranging to SIGKILL itself at the point named by argv[1].
KILLER = r'''
import os, signal, sys

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def wrap(owner, name, nth, before):
    original = getattr(owner, name)
    calls = [0]
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if before and calls[0] == nth:
            die()
        out = original(*args, **kwargs)
        if not before and calls[0] == nth:
            die()
        return out
    setattr(owner, name, wrapper)

point = sys.argv[1]
if point == "mid-training":            # right after the step-2 checkpoint of 4 steps
    import training_runs.qlora.training as m; wrap(m, "save_checkpoint", 1, before=False)
elif point == "checkpoint-write":      # the step-4 checkpoint's weights written, not yet in place
    import safetensors.torch as m; wrap(m, "save_file", 2, before=False)
elif point == "adapter-write":         # peft wrote the adapter into its staging directory
    import peft; wrap(peft.PeftModel, "save_pretrained", 1, before=False)
elif point == "before-record":         # the adapter is in place, nothing recorded
    import training_runs.qlora.runner as m; wrap(m, "record_result", 1, before=True)
elif point == "mid-record":            # the qlora row is inserted, the transaction still open
    from training_runs.store.store import Store; wrap(Store, "_add_run", 1, before=False)
elif point == "before-cleanup":        # recorded, the checkpoint not yet deleted
    import training_runs.qlora.runner as m; wrap(m, "remove_checkpoint", 1, before=True)
elif point == "mid-cleanup":           # the checkpoint renamed away, not yet deleted
    import training_runs.qlora.checkpoint as m; wrap(m, "clear_leftovers", 1, before=True)
else:
    raise SystemExit(f"unknown kill point {point}")
from advisor.cli import main
sys.exit(main(sys.argv[2:]))
'''


@pytest.fixture
def parity_csv(tmp_path):
    return write_pairs_csv(tmp_path / "parity.csv", ("question", "answer"), parity_pairs(40))


def _finetune_args(model_dir: Path, data: Path, root: Path) -> list[str]:
    return ["finetune", "--base-model", str(model_dir), "--data", str(data), "--prompt-col", "question",
            "--completion-col", "answer", "--task", "parity", "--max-steps", "4", "--save-steps", "2",
            "--eval-size", "6", "--no-quantize", "--device", "cpu", "--output-dir", str(root / "run"),
            "--adapters-dir", str(root / "adapters"), "--url", f"sqlite:///{root / 'runs.db'}"]


def _run(args: list[str], *prefix: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ADVISOR_DEBUG": ""}
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True, env=env, timeout=300)


def _runs(root: Path):
    with Store.open(f"sqlite:///{root / 'runs.db'}") as store:
        return store.runs_frame()


def _hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) if directory.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid-training", "checkpoint-write", "adapter-write", "before-record", "mid-record",
                                   "before-cleanup"])
def test_a_run_killed_at_any_point_before_it_is_cleaned_up_completes_once_when_rerun(point, tiny_model_dir, parity_csv,
                                                                                     tmp_path):
    (tmp_path / "killer.py").write_text(KILLER)
    args = _finetune_args(tiny_model_dir, parity_csv, tmp_path)
    killed = _run(args, str(tmp_path / "killer.py"), point)
    assert killed.returncode == -9, killed.stderr[-2000:]
    checkpoint = load_checkpoint(tmp_path / "run")
    assert checkpoint is not None  # every one of these points comes after a checkpoint was written
    if point != "before-cleanup":
        assert _runs(tmp_path).empty  # nothing half-recorded: a qlora row never lands without its zero-shot row

    rerun = _run(args, "-m", "advisor.cli")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    runs = _runs(tmp_path)
    assert sorted(runs["kind"]) == ["qlora", "zero-shot"] and set(runs["provenance"]) == {checkpoint.run_id}
    [adapter] = list_adapters(tmp_path / "adapters")
    assert adapter.run_id == checkpoint.run_id
    assert _hidden(tmp_path / "adapters") == [] and os.listdir(tmp_path / "adapters") == [adapter.name]
    assert load_checkpoint(tmp_path / "run") is None and _hidden(tmp_path / "run") == []
    if point == "mid-training":
        assert "(resumed at step 2)" in rerun.stdout
    if point == "before-cleanup":
        assert f"run {checkpoint.run_id} is already recorded" in rerun.stdout


@pytest.mark.slow
def test_a_run_killed_while_deleting_its_checkpoint_leaves_no_half_checkpoint_and_the_rerun_starts_a_new_run(
    tiny_model_dir, parity_csv, tmp_path
):
    (tmp_path / "killer.py").write_text(KILLER)
    args = _finetune_args(tiny_model_dir, parity_csv, tmp_path)
    assert _run(args, str(tmp_path / "killer.py"), "mid-cleanup").returncode == -9
    assert not (tmp_path / "run" / CHECKPOINT_DIR).exists() and _hidden(tmp_path / "run")  # renamed away whole
    first = set(_runs(tmp_path)["provenance"])

    rerun = _run(args, "-m", "advisor.cli")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    runs = _runs(tmp_path)
    assert len(runs) == 4 and len(set(runs["provenance"]) - first) == 1  # the first run stays, whole
    assert _hidden(tmp_path / "run") == [] and _hidden(tmp_path / "adapters") == []


def test_a_lone_fine_tuned_row_left_by_an_older_version_gets_its_zero_shot_row_on_rerun(tiny_model_dir, tmp_path):
    config = fast_config(tmp_path)
    pairs = parity_pairs(40)

    def stop_after_last_checkpoint(info):
        if info.step == config.max_steps:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_qlora(pairs, tiny_model_dir, config, task="parity", on_step=stop_after_last_checkpoint)
    run_id = load_checkpoint(config.output_dir).run_id
    with Store.open(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        lone = store.record_run(task="parity", base_model="tiny-llama", kind="qlora", score=0.5, metric="binary_flex",
                                provenance=run_id)
        result = run_qlora(pairs, tiny_model_dir, config, task="parity", store=store)
        runs = store.runs_frame()
    assert result.record_ids[0] == lone and sorted(runs["kind"]) == ["qlora", "zero-shot"]
    assert set(runs["provenance"]) == {run_id}


def test_an_adapter_name_taken_by_another_run_is_refused_before_training(tiny_model_dir, tmp_path, monkeypatch):
    first = run_qlora(parity_pairs(30), tiny_model_dir, fast_config(tmp_path / "a", adapter_name="mine",
                                                                     adapters_dir=str(tmp_path / "adapters")))
    monkeypatch.setattr("training_runs.qlora.runner.load_model", _must_not_load)
    with pytest.raises(ValueError, match=rf"an adapter named 'mine' already exists .*\(from run {first.run_id}\); "
                                         "choose another --adapter-name"):
        run_qlora(parity_pairs(30), tiny_model_dir, fast_config(tmp_path / "b", adapter_name="mine",
                                                                 adapters_dir=str(tmp_path / "adapters")))


def _must_not_load(*args, **kwargs):
    raise AssertionError("the model was loaded although the run could not finish")


FAST = ["--max-steps", "2", "--eval-size", "6", "--no-quantize"]


def _finetune(tiny_model_dir, parity_csv, *extra: str) -> int:
    return main(["finetune", "--base-model", str(tiny_model_dir), "--data", str(parity_csv), "--prompt-col", "question",
                 "--completion-col", "answer", *FAST, *extra])


def test_an_unknown_device_is_one_line_naming_the_valid_ones(tiny_model_dir, parity_csv, capsys):
    assert _finetune(tiny_model_dir, parity_csv, "--device", "tpu9") == 2
    err = capsys.readouterr().err
    assert err == ("advisor finetune: error: device 'tpu9' is not one the runner trains on; "
                   "use cpu, cuda or cuda:N\n")


@pytest.mark.parametrize("option", ["--adapters-dir", "--output-dir"])
def test_an_adapters_or_output_dir_that_is_a_file_fails_before_any_training(option, tiny_model_dir, parity_csv, tmp_path,
                                                                           capsys, monkeypatch):
    monkeypatch.setattr("training_runs.qlora.runner.load_model", _must_not_load)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for place, message in ((afile, "is a file, not a directory"), (afile / "sub", f"cannot be created: {afile} is a file")):
        assert _finetune(tiny_model_dir, parity_csv, "--device", "cpu", option, str(place)) == 2
        err = capsys.readouterr().err
        assert err.startswith("advisor finetune: error: ") and message in err and f"point {option} at" in err
        assert err.count("\n") == 1
    assert afile.read_text() == "x"


def test_target_modules_can_be_chosen_on_the_command_line(tiny_model_dir, parity_csv, tmp_path, capsys):
    import json

    assert _finetune(tiny_model_dir, parity_csv, "--device", "cpu", "--adapters-dir", str(tmp_path / "ad"),
                     "--target-modules", "q_proj,k_proj,v_proj", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["config"]["target_modules"] == ["q_proj", "k_proj", "v_proj"]
    config = json.loads((Path(result["adapter_dir"]) / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["k_proj", "q_proj", "v_proj"]
