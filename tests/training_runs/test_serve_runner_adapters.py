"""The server reads what the QLoRA runner writes, and scores it as the runner did."""
from __future__ import annotations

import random

import pytest
import torch
from fastapi.testclient import TestClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.qlora import QLoRAConfig, run_qlora
from training_runs.qlora.data import split_examples
from training_runs.serve.adapters import AdapterDirectory
from training_runs.serve.app import ServerSettings, create_app
from training_runs.serve.client import evaluate_adapters
from training_runs.serve.engine import EngineConfig, ServeEngine
from training_runs.tiny_model import write_tiny_model


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The tiny model's matmuls only lose from more threads (a loaded 2-core CI box makes OpenMP spin)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def parity_pairs(n: int) -> list[tuple[str, str]]:
    rng = random.Random(0)
    return [(f"Is {a} even? Answer:", " yes" if a % 2 == 0 else " no") for a in (rng.randint(0, 99) for _ in range(n))]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-runner")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    config = QLoRAConfig.plain_lora(
        max_steps=4, eval_size=8, per_device_batch_size=4, gradient_accumulation_steps=2, learning_rate=2e-2,
        lora_dropout=0.0, max_new_tokens=4, device="cpu", output_dir=str(root / "run"),
        adapters_dir=str(root / "adapters"),
    )
    pairs = parity_pairs(40)
    result = run_qlora(pairs, model_dir, config, task="parity")
    _, held_out = split_examples(pairs, config.eval_size, config.seed)
    return root, model_dir, config, result, held_out


def test_scores_through_the_server_equal_the_runner_own_evaluation_for_adapter_and_base(finetuned):
    root, model_dir, _, result, held_out = finetuned
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    engine = ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(root / "adapters"),
                         EngineConfig(max_batch_size=8, max_seq_len=128), eos_token_ids=[tokenizer.eos_token_id])
    app = create_app(engine, tokenizer, ServerSettings(base_model_name="tiny"))
    adapter = result.adapter_dir.name
    with TestClient(app) as client:
        scores = evaluate_adapters("http://testserver", held_out, [adapter, "tiny", result.run_id], metric=result.metric,
                                   max_tokens=result.config["max_new_tokens_used"], http_client=client)
    tuned, base, by_run_id = scores
    assert tuned.predictions == result.finetuned_predictions
    assert tuned.score == pytest.approx(result.finetuned_score)
    assert base.predictions == result.base_predictions
    assert base.score == pytest.approx(result.base_score)
    assert by_run_id.predictions == tuned.predictions  # an adapter is also reachable by its run id
