"""run_qlora on the tiny model: fine-tune, evaluate base and fine-tuned, save the adapter, record the run."""
from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from qlora_helpers import fast_config, parity_pairs, tiny_model_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from tasks.metrics import UnsupportedMetricError
from training_runs.qlora import (
    CheckpointMismatchError,
    DatasetTooSmallError,
    ModelNotFoundError,
    PromptTooLongError,
    QLoRAConfig,
    QLoRAError,
    QuantizationUnavailableError,
    TrainingOutOfMemoryError,
    list_adapters,
    run_qlora,
)
from training_runs.qlora.checkpoint import load_checkpoint
from training_runs.qlora.data import tokenize_for_training, tokenize_prompts
from training_runs.qlora.evaluation import generate
from training_runs.qlora.modeling import check_quantization, prepare_for_training
from training_runs.qlora.training import train_adapter
from training_runs.store import Store


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path / 'runs.db'}") as opened:
        yield opened


def _rows(store):
    return store.runs_frame().sort_values("kind").to_dict("records")


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")
def test_a_full_cycle_trains_evaluates_saves_the_adapter_and_records_both_scores(tiny_model_dir, tmp_path, store):
    pairs = parity_pairs(60)
    losses = []
    result = run_qlora(pairs, tiny_model_dir, fast_config(tmp_path, max_steps=6), task="parity", store=store,
                       on_step=lambda info: losses.append(info.loss))

    assert result.metric == "binary_flex" and result.n_eval == 8 and result.n_train == 52
    assert 0 <= result.base_score <= 1 and 0 <= result.finetuned_score <= 1
    assert result.lift == pytest.approx(result.finetuned_score - result.base_score)
    assert result.steps == 6 and len(losses) == 6 and losses[-1] < losses[0]
    assert result.train_tokens > 0 and result.train_tokens_per_s > 0 and result.peak_gpu_memory_gb is None

    finetuned, zero_shot = _rows(store)[0], _rows(store)[1]
    assert (finetuned["kind"], zero_shot["kind"]) == ("qlora", "zero-shot")
    assert finetuned["provenance"] == zero_shot["provenance"] == result.run_id
    assert finetuned["score"] == pytest.approx(result.finetuned_score)
    assert zero_shot["score"] == pytest.approx(result.base_score)
    assert finetuned["task"] == "parity" and finetuned["category"] == "local"
    assert finetuned["hyperparameters"]["lora_r"] == 8
    assert finetuned["metrics"]["lift"] == pytest.approx(result.lift)
    assert finetuned["tokens_per_s"] == pytest.approx(result.train_tokens_per_s)

    [adapter] = list_adapters(tmp_path / "adapters")
    assert adapter.path == result.adapter_dir and adapter.run_id == result.run_id
    assert {p.name for p in adapter.path.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors", "run.json"}
    assert adapter.finetuned_score == pytest.approx(result.finetuned_score)
    assert json.loads((adapter.path / "adapter_config.json").read_text())["r"] == 8
    assert load_checkpoint(result.output_dir) is None  # a finished run leaves no checkpoint to resume

    # the saved adapter reproduces the fine-tuned predictions the run scored
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter.path)
    held_out = [p for p, _ in _held_out(pairs)]
    prompts, _ = tokenize_prompts(held_out, tokenizer, 500, "truncate")
    again = generate(model, tokenizer, prompts, batch_size=8, max_new_tokens=result.config["max_new_tokens_used"])
    assert tuple(again) == result.finetuned_predictions


def _held_out(pairs, eval_size=8, seed=0):
    from training_runs.qlora.data import split_examples

    return split_examples(pairs, eval_size, seed)[1]


def test_an_interrupted_run_records_nothing_and_the_rerun_resumes_to_the_same_weights(tiny_model_dir, tmp_path, store):
    pairs = parity_pairs(40)
    reference = run_qlora(pairs, tiny_model_dir, fast_config(tmp_path / "a", save_steps=2), task="parity")

    def interrupt_at_step_3(info):
        if info.step == 3:
            raise KeyboardInterrupt

    config = fast_config(tmp_path / "b", save_steps=2)
    with pytest.raises(KeyboardInterrupt):
        run_qlora(pairs, tiny_model_dir, config, task="parity", store=store, on_step=interrupt_at_step_3)
    assert store.runs_frame().empty
    assert list_adapters(tmp_path / "b" / "adapters") == []
    assert load_checkpoint(config.output_dir).step == 2

    resumed = run_qlora(pairs, tiny_model_dir, config, task="parity", store=store)
    assert resumed.resumed_from_step == 2 and len(store.runs_frame()) == 2
    weights = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    expected = load_file(str(reference.adapter_dir / "adapter_model.safetensors"))
    assert weights.keys() == expected.keys()
    for key in weights:
        assert torch.allclose(weights[key], expected[key], atol=1e-6), key
    assert resumed.finetuned_predictions == reference.finetuned_predictions


def test_a_checkpoint_of_other_data_is_not_resumed(tiny_model_dir, tmp_path):
    config = fast_config(tmp_path, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        run_qlora(parity_pairs(30), tiny_model_dir, config, on_step=_raise(KeyboardInterrupt))
    with pytest.raises(CheckpointMismatchError, match="checkpoint of another run"):
        run_qlora(parity_pairs(30, seed=1), tiny_model_dir, config)


def _raise(exc):
    def callback(info):
        raise exc

    return callback


def test_gpu_out_of_memory_names_the_settings_to_lower_and_records_nothing(tiny_model_dir, tmp_path, store):
    with pytest.raises(TrainingOutOfMemoryError, match="per_device_batch_size=4 .*max_seq_length=.*gradient checkpointing"):
        run_qlora(parity_pairs(30), tiny_model_dir, fast_config(tmp_path), store=store,
                  on_step=_raise(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")))
    assert store.runs_frame().empty


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA refusal")
def test_4bit_is_refused_without_cuda_pointing_to_plain_lora(tiny_model_dir, tmp_path):
    with pytest.raises(QuantizationUnavailableError, match="needs a CUDA GPU.*--no-quantize"):
        run_qlora(parity_pairs(30), tiny_model_dir, QLoRAConfig(max_steps=1, eval_size=4))


def test_unknown_model_paths_and_ids_are_refused_clearly(tmp_path):
    config = fast_config(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        run_qlora(parity_pairs(30), tmp_path / "missing" / "model", config)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        run_qlora(parity_pairs(30), tmp_path / "empty", config)
    with pytest.raises(ModelNotFoundError, match="cannot load base model 'nobody/no-such-model-xyz'"):
        run_qlora(parity_pairs(30), "nobody/no-such-model-xyz", config)


def test_a_dataset_too_small_for_the_eval_split_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(DatasetTooSmallError, match="lower the evaluation size"):
        run_qlora(parity_pairs(8), tiny_model_dir, fast_config(tmp_path, eval_size=8))


def test_over_long_prompts_are_truncated_and_counted_or_refused(tiny_model_dir, tmp_path):
    pairs = parity_pairs(30) + [("word " * 300 + "Answer:", " yes")] * 10
    result = run_qlora(pairs, tiny_model_dir, fast_config(tmp_path, max_seq_length=48, max_steps=1))
    assert result.n_truncated >= 10 and result.n_truncated == result.n_truncated_train + result.n_truncated_eval
    with pytest.raises(PromptTooLongError, match="tokens, more than the"):
        run_qlora(pairs, tiny_model_dir, fast_config(tmp_path / "r", max_seq_length=48, truncation="refuse"))


def test_humaneval_is_refused_before_any_model_is_loaded(tmp_path):
    with pytest.raises(UnsupportedMetricError):
        run_qlora(parity_pairs(30), tmp_path / "not-even-loaded", fast_config(tmp_path), metric="humaneval")


def test_gradient_checkpointing_trades_compute_for_memory_without_changing_the_math(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples, _ = tokenize_for_training(parity_pairs(32), tokenizer, 64, "truncate")

    def losses(checkpointing):
        config = fast_config(tmp_path, max_steps=3, gradient_checkpointing=checkpointing, lora_dropout=0.0)
        model = prepare_for_training(AutoModelForCausalLM.from_pretrained(tiny_model_dir), config, quantized=False)
        base = model.get_base_model()
        assert getattr(base, "is_activation_checkpointing", None) in (checkpointing, None)
        assert any(getattr(m, "gradient_checkpointing", False) for m in base.modules()) == checkpointing
        stats = train_adapter(model, examples, config, pad_id=tokenizer.pad_token_id, output_dir=None,
                              run_id="r", fingerprint="f")
        return stats.losses

    assert losses(True) == pytest.approx(losses(False), rel=1e-5)


def test_4bit_without_bitsandbytes_says_which_package_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)  # makes the import fail
    with pytest.raises(QuantizationUnavailableError, match=r"bitsandbytes package .*finetune-advisor\[gpu\]"):
        check_quantization(QLoRAConfig(), torch.device("cuda"))
    check_quantization(QLoRAConfig.plain_lora(), torch.device("cuda"))  # no 4-bit, nothing to check


def test_without_chosen_targets_the_registrys_for_the_base_model_are_used(tiny_model_dir, tmp_path):
    result = run_qlora(parity_pairs(30), tiny_model_dir, fast_config(tmp_path, max_steps=1))
    assert result.config["target_modules"] == ["q_proj", "v_proj"]  # a Llama-architecture model
    # recorded as Phi-3.5, the run targets Phi-3's fused qkv_proj, which the tiny Llama does not have
    with pytest.raises(QLoRAError, match="LoRA target module.s. qkv_proj do not exist in this model"):
        run_qlora(parity_pairs(30), tiny_model_dir, fast_config(tmp_path / "b", max_steps=1),
                  base_model_name="phi-3.5-mini-instruct")
