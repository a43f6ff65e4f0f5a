"""One tenant's broken adapter cannot change what the other tenants get, in the same batch or later in its rows."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from training_runs.serve.adapters import AdapterDirectory, read_adapter
from training_runs.serve.engine import EngineConfig, GenerationRequest, SamplingParams, ServeEngine
from training_runs.serve.errors import AdapterFormatError, AdapterOutputError
from training_runs.serve.random_adapters import write_random_adapter
from training_runs.serve.runner import ModelRunner
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHORT, LONG = [1, 5, 6], [1, *range(20, 30)]


def poison_with_nan(adapter_dir) -> None:
    """Overwrite every weight of an adapter with NaN."""
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    save_file({key: torch.full_like(t, float("nan")) for key, t in tensors.items()}, str(adapter_dir / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-isolation")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    config = AutoModelForCausalLM.from_pretrained(model_dir).config
    adapters = root / "adapters"
    write_random_adapter(adapters / "good", config, rank=4, seed=1)
    write_random_adapter(adapters / "overflows", config, rank=4, seed=2)
    poison_with_nan(write_random_adapter(adapters / "nan-weights", config, rank=4, seed=3))
    return model_dir, adapters


def overflowing_reader(path, **kwargs):
    """Reads adapter 'overflows' as one whose update comes out NaN inside the model: what finite weights that
    overflow (or NaN that slipped past the load checks) do to a row."""
    weights = read_adapter(path, **kwargs)
    if path.name == "overflows":
        weights.modules = {module: (a, torch.full_like(b, float("nan"))) for module, (a, b) in weights.modules.items()}
    return weights


def make_engine(workspace, **overrides) -> ServeEngine:
    model_dir, adapters = workspace
    config = EngineConfig(**{"max_batch_size": 6, "max_seq_len": 64, "max_adapters": 3, **overrides})
    return ServeEngine(AutoModelForCausalLM.from_pretrained(model_dir), AdapterDirectory(adapters), config,
                       adapter_reader=overflowing_reader).start()


def request(adapter, prompt, max_tokens=8, temperature=0.0, seed=None) -> GenerationRequest:
    return GenerationRequest(prompt_ids=prompt, adapter=adapter,
                             sampling=SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=seed))


def tiny_runner() -> ModelRunner:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=64)
    return ModelRunner(LlamaForCausalLM(config).eval(), max_batch=3, max_seq_len=32)


def decode_logits(runner: ModelRunner, rows_prompts: dict[int, list[int]], steps: int = 3) -> list[torch.Tensor]:
    """Greedy-decode rows 0..n-1 (``rows_prompts`` already prefilled); the logits of every step."""
    lengths = [len(rows_prompts[row]) for row in range(len(rows_prompts))]
    tokens = torch.tensor([7] * len(lengths))
    out = []
    for _ in range(steps):
        logits = runner.decode(tokens, lengths)
        out.append(logits)
        tokens, lengths = logits.argmax(-1), [n + 1 for n in lengths]
    return out


def poison_row(runner: ModelRunner, row: int, length: int) -> None:
    """What an adapter that overflowed leaves in the KV row its prompt was prefilled into: NaN keys and values."""
    for cache in (*runner.keys, *runner.values):
        cache[row, :, :length] = float("nan")


def test_a_kv_row_prefilled_after_a_nan_occupant_decodes_exactly_like_a_fresh_row():
    fresh = tiny_runner()
    fresh.prefill([0, 1], [SHORT, LONG])
    expected = decode_logits(fresh, {0: SHORT, 1: LONG})

    reused = tiny_runner()
    reused.prefill([0], [[1] * 20])
    poison_row(reused, 0, 20)  # positions 3..19 stay past the new prompt's length, inside the decode span
    reused.prefill([0, 1], [SHORT, LONG])
    got = decode_logits(reused, {0: SHORT, 1: LONG})
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_a_row_moved_onto_a_nan_occupant_decodes_exactly_like_it_did_in_its_own_row():
    fresh = tiny_runner()
    fresh.prefill([0, 1], [LONG, SHORT])
    expected = decode_logits(fresh, {0: LONG, 1: SHORT})

    moved = tiny_runner()
    moved.prefill([0, 2], [LONG, SHORT])  # the same batch as the fresh runner's, so the same keys and values
    moved.prefill([1], [[1] * 20])
    poison_row(moved, 1, 20)
    moved.move_row(2, 1, len(SHORT))  # row 1's sequence finished; the last row takes its place
    got = decode_logits(moved, {0: LONG, 1: SHORT})
    assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_an_adapter_that_computes_nan_fails_alone_and_other_clients_get_bit_identical_outputs(workspace):
    """Three batch rows, so requests join as others leave: the failing requests' long prompts leave NaN keys in
    rows that shorter requests take next, while a long-running request keeps the decode span wide."""
    good = [
        request("good", LONG, 30), request(None, SHORT, 4), request(None, [1, 9], 10, temperature=1.0, seed=4),
        request("good", SHORT, 6), request(None, [1, 40, 41], 12, temperature=0.7, seed=9), request(None, [1, 2]),
        request("good", [1, 3], 10), request(None, [1, 60, 61, 62], 8),
    ]
    hostile = [request("overflows", [1, *range(30, 50)], 30), request("overflows", [1, *range(30, 45)], 20),
               request("overflows", LONG, 20, temperature=1.0, seed=1)]
    mixed = [good[0], hostile[0], good[1], good[2], hostile[1], good[3], good[4], hostile[2], *good[5:]]

    engine = make_engine(workspace, max_batch_size=3)
    try:
        alone = [r.token_ids for r in engine.generate(good, timeout=60)]
    finally:
        engine.shutdown()
    engine = make_engine(workspace, max_batch_size=3)
    try:
        results = dict(zip(map(id, mixed), engine.generate(mixed, timeout=60)))
        assert engine.stats().in_flight == 0
    finally:
        engine.shutdown()
    assert [results[id(r)].token_ids for r in good] == alone
    failures = [results[id(r)] for r in hostile]
    assert all(f.finish_reason == "error" and isinstance(f.error, AdapterOutputError) for f in failures)
    assert all(f.error.status == 422 and "NaN or infinite" in f.error.message for f in failures)


def test_an_adapter_whose_weights_hold_nan_is_refused_when_loaded_and_then_remembered(workspace):
    engine = make_engine(workspace)
    try:
        [result] = engine.generate([request("nan-weights", SHORT)], timeout=60)
        assert isinstance(result.error, AdapterFormatError) and result.error.status == 422
        assert "holds NaN or infinite values" in result.error.message
        with pytest.raises(AdapterFormatError, match="NaN or infinite"):
            engine.check_adapter("nan-weights")  # known now: the next request fails before it is queued
        assert "nan-weights" not in engine.servable_adapters() and "good" in engine.servable_adapters()
    finally:
        engine.shutdown()
