"""`advisor models list`: the registry with each model's runs, read from the results database without creating one."""
from __future__ import annotations

import json
import os
from pathlib import Path

from advisor.cli import main
from models.registry import load_registry
from training_runs.store import Store


def _record(store: Store, model: str, task: str = "my-task") -> None:
    for kind, score in (("qlora", 0.8), ("zero-shot", 0.2)):
        store.record_run(task=task, base_model=model, kind=kind, score=score, metric="accuracy", provenance="run-1")


def test_listing_without_a_database_prints_the_registry_and_creates_nothing(tmp_path, capsys, monkeypatch):
    url = f"sqlite:///{tmp_path / 'nowhere' / 'advisor.db'}"
    monkeypatch.setenv("ADVISOR_DB_URL", url)
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "hugging", "face"]
    assert lines[2].split()[:2] == ["phi-2", "microsoft/phi-2"]
    assert len(lines) == 2 + len(load_registry()) + 1
    assert lines[-1] == f"{len(load_registry())} base models, 0 with runs; no results database yet (`advisor db init` creates it)"
    assert not (tmp_path / "nowhere").exists()


def test_listing_counts_each_models_qlora_and_zero_shot_runs(capsys):
    with Store.open(os.environ["ADVISOR_DB_URL"]) as store:
        store.seed_study()
        _record(store, "HuggingFaceTB/SmolLM2-135M-Instruct")  # stored under the registry's short name
        _record(store, "my-local-model")
    assert main(["models", "list", "--json"]) == 0
    rows = {row["model"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == list(load_registry())
    assert rows["phi-2"]["runs"] == {"qlora": 31, "zero-shot": 31}
    assert rows["smollm2-135m-instruct"]["runs"] == {"qlora": 1, "zero-shot": 1}
    assert rows["qwen3-8b"]["runs"] == {"qlora": 0, "zero-shot": 0}
    assert rows["phi-4"]["lora_target_modules"] == ["qkv_proj"] and rows["phi-4"]["license"] == "mit"
    assert set(rows["llama-3.1-8b"]) == {"model", "hf_id", "creator", "family", "params_billion", "instruction_tuned",
                                         "release_date", "context_length", "architecture", "license",
                                         "lora_target_modules", "runs"}

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    smollm2 = next(line for line in out if line.startswith("smollm2-135m-instruct "))
    assert smollm2.split()[-2:] == ["1", "1"]
    assert out[-2].startswith(f"{len(rows)} base models, 11 with runs; runs from sqlite:///")
    assert out[-1] == "also in the database, not in the registry: my-local-model"


def test_a_run_of_a_current_registry_model_takes_its_descriptors_and_leaves_init_and_stats_working(capsys):
    assert main(["db", "init"]) == 0
    with Store.open(os.environ["ADVISOR_DB_URL"]) as store:
        _record(store, "Qwen/Qwen2.5-7B")
        models = store.base_models_frame().set_index("model")
    assert models.loc["qwen2.5-7b", "hf_id"] == "Qwen/Qwen2.5-7B" and models.loc["qwen2.5-7b", "context_length"] == 131072
    assert main(["db", "init"]) == 0 and main(["db", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert stats["base_models"] == 11 and stats["local_runs"] == 2


def test_a_broken_database_url_is_one_line(capsys, tmp_path: Path):
    assert main(["models", "list", "--url", "nonsense://"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("advisor models: error: ") and err.count("\n") == 1
