"""Runner data handling: the split, completion-only labels, truncation, length grouping, resumable order."""
from __future__ import annotations

import itertools

import pytest
import torch
from qlora_helpers import parity_pairs, tiny_model_dir  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_runs.qlora import DatasetTooSmallError, PromptTooLongError, QLoRAConfig
from training_runs.qlora.data import (
    IGNORE_INDEX,
    collate_prompts,
    collate_training,
    examples_from,
    micro_batches,
    plan_epoch,
    split_examples,
    tokenize_for_training,
    tokenize_prompts,
)
from training_runs.qlora.modeling import prepare_for_training
from training_runs.qlora.training import completion_loss_sum


@pytest.fixture
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_examples_are_read_from_pairs_dicts_batches_and_objects():
    class Batch:
        prompts, completions = ["c"], ["3"]

    class TaskDataLike:
        def iter_batches(self):
            yield Batch()

    assert examples_from([("a", "1"), {"prompt": "b", "completion": "2"}]) == [("a", "1"), ("b", "2")]
    assert examples_from([(["a", "b"], ["1", "2"])]) == [("a", "1"), ("b", "2")]
    assert examples_from(TaskDataLike()) == [("c", "3")]


def test_the_split_is_seeded_disjoint_and_refuses_too_small_datasets():
    pairs = [(str(i), str(i)) for i in range(10)]
    train, held_out = split_examples(pairs, eval_size=3, seed=1)
    assert len(held_out) == 3 and sorted(train + held_out) == sorted(pairs)
    assert split_examples(pairs, eval_size=3, seed=1) == (train, held_out)
    with pytest.raises(DatasetTooSmallError, match="10 examples, too few .* eval_size=10"):
        split_examples(pairs, eval_size=10, seed=0)


def test_labels_cover_exactly_the_completion_and_the_eos_token(tokenizer):
    [example], cut = tokenize_for_training([("Is 4 even? Answer:", " yes")], tokenizer, 64, "truncate")
    prompt = tokenizer("Is 4 even? Answer:")["input_ids"]
    completion = tokenizer(" yes", add_special_tokens=False)["input_ids"]
    assert cut == 0
    assert list(example.input_ids) == prompt + completion + [tokenizer.eos_token_id]
    assert list(example.labels) == [IGNORE_INDEX] * len(prompt) + completion + [tokenizer.eos_token_id]


def test_the_loss_is_the_cross_entropy_of_the_completion_tokens_only(tiny_model_dir, tokenizer):
    model = prepare_for_training(AutoModelForCausalLM.from_pretrained(tiny_model_dir), QLoRAConfig.plain_lora(),
                                 quantized=False)
    examples, _ = tokenize_for_training(parity_pairs(3) + [("A much longer prompt here:", " no")], tokenizer, 64,
                                        "truncate")
    batch = collate_training(examples, tokenizer.pad_token_id)
    ours = completion_loss_sum(model, batch)
    # reference: full logits, labels shifted by hand, mean over the non-ignored positions
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[mask], labels[mask], reduction="sum")
    assert int(mask.sum()) == sum(ex.n_completion_tokens for ex in examples)
    assert torch.allclose(ours, expected, rtol=1e-5)


def test_an_over_long_example_loses_prompt_tokens_from_the_left_and_is_counted(tokenizer):
    long_prompt = "word " * 200 + "Answer:"
    examples, cut = tokenize_for_training([(long_prompt, " yes"), ("Short:", " no")], tokenizer, 32, "truncate")
    assert cut == 1
    assert len(examples[0]) == 32 and examples[0].truncated and not examples[1].truncated
    tail = tokenizer(" Answer:", add_special_tokens=False)["input_ids"][-2:]
    completion = tokenizer(" yes", add_special_tokens=False)["input_ids"]
    assert list(examples[0].input_ids[-len(completion) - 1 - len(tail) : -len(completion) - 1]) == tail


def test_the_refuse_policy_names_the_example_and_the_fix(tokenizer):
    with pytest.raises(PromptTooLongError, match="example 1: .* raise max_seq_length"):
        tokenize_for_training([("ok", "1"), ("word " * 200, "1")], tokenizer, 32, "refuse")
    with pytest.raises(PromptTooLongError, match="example 0: the evaluation prompt"):
        tokenize_prompts(["word " * 200], tokenizer, 32, "refuse")
    prompts, cut = tokenize_prompts(["word " * 200, "short"], tokenizer, 32, "truncate")
    assert cut == 1 and len(prompts[0]) == 32


def test_length_grouping_cuts_padding_compared_with_random_batches():
    lengths = [5 + (i * 37) % 200 for i in range(512)]

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    grouped = plan_epoch(lengths, 8, seed=0, epoch=0, group_by_length=True)
    shuffled = plan_epoch(lengths, 8, seed=0, epoch=0, group_by_length=False)
    assert sorted(i for b in grouped for i in b) == list(range(512))
    assert padding(grouped) < padding(shuffled) / 10


def test_a_resumed_batch_stream_continues_exactly_where_the_uninterrupted_one_was():
    lengths = list(range(1, 24))
    full = list(itertools.islice(micro_batches(lengths, 4, 7, True), 20))
    resumed = list(itertools.islice(micro_batches(lengths, 4, 7, True, start=9), 11))
    assert resumed == full[9:]


def test_training_batches_pad_right_and_generation_batches_pad_left(tokenizer):
    examples, _ = tokenize_for_training([("a", "1"), ("a longer prompt", "1")], tokenizer, 64, "truncate")
    batch = collate_training(examples, pad_id=0)
    short = len(examples[0])
    assert batch["attention_mask"][0, :short].all() and not batch["attention_mask"][0, short:].any()
    assert (batch["labels"][0, short:] == IGNORE_INDEX).all()
    prompts = collate_prompts([[5, 6], [7, 8, 9]], pad_id=0)
    assert prompts["input_ids"].tolist() == [[0, 5, 6], [7, 8, 9]]
    assert prompts["attention_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
