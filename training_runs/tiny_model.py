"""A tiny randomly initialized Llama-architecture model with a locally built tokenizer.

Nothing is downloaded: the tokenizer is a byte-level BPE trained (with the ``tokenizers`` library) on a
small built-in text, and the model is a ``LlamaForCausalLM`` built from a ``LlamaConfig`` with random
weights. The directory it writes loads offline with ``AutoModelForCausalLM.from_pretrained(dir)`` and
``AutoTokenizer.from_pretrained(dir)``, so the whole fine-tune / evaluate / serve loop can be smoke-tested
on a CPU in seconds. Attention has ``q_proj``/``k_proj``/``v_proj``/``o_proj`` like the real models, so
the study's LoRA targets (``q_proj``, ``v_proj``) apply unchanged.

Example:
    >>> from training_runs.tiny_model import write_tiny_model
    >>> path = write_tiny_model("/tmp/tiny-llama")          # doctest: +SKIP
    >>> from transformers import AutoModelForCausalLM       # doctest: +SKIP
    >>> model = AutoModelForCausalLM.from_pretrained(path)  # doctest: +SKIP

Command line: ``python -m training_runs.tiny_model DIR [--hidden-size 64] [--layers 2] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from training_runs.staging import staged_directory

#: Special tokens of the tiny tokenizer; ids 0, 1, 2 in this order.
PAD_TOKEN = "<pad>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"

# A small, varied built-in text: the BPE merges it yields make common English words, digits and the
# punctuation of prompts ("Answer:", JSON braces) cheap to encode. Byte-level BPE still encodes any text.
_TRAINING_TEXT = """
Please answer the following question. Answer with yes or no. Answer: yes. Answer: no.
The answer is true. The answer is false. positive negative neutral entailment contradiction
Question: what is the capital of France? Answer: Paris. Sentence 1: A man is playing a guitar.
Sentence 2: A person plays music. Similarity score: 4.2 0 1 2 3 4 5 6 7 8 9 10 100 1000 12.5
{"name": "Alice", "age": 30, "city": "Berlin"} {'B-Chemical': ['aspirin'], 'B-Disease': []}
Input: the quick brown fox jumps over the lazy dog. Output: a fast fox leaps over a sleepy dog.
Summarize the article in one sentence. Translate the representation into plain English.
def add(a, b):\n    return a + b\nSELECT name FROM table WHERE age > 30;
Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.
How many clips did Natalia sell altogether in April and May? 48 / 2 = 24. 48 + 24 = 72. #### 72
Review: this movie was wonderful and moving. Label: positive. Review: dull and too long. Label: negative.
"""


def _build_tokenizer(vocab_size: int, model_max_length: int):
    """Train a byte-level BPE on the built-in text and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = [line for line in _TRAINING_TEXT.splitlines() if line.strip()]
    tokenizer.train_from_iterator(lines * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        padding_side="left",
        model_max_length=model_max_length,
    )


def write_tiny_model(
    directory: str | os.PathLike[str],
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Write a tiny random ``LlamaForCausalLM`` and its tokenizer to ``directory``; return the path.

    ``vocab_size`` bounds the BPE vocabulary (at least the 256 byte symbols plus 3 specials); the model's
    embedding matrix has exactly as many rows as the tokenizer has tokens. The same arguments and seed
    give the same weights. The directory is written atomically (a temporary sibling renamed into place);
    an existing directory is replaced.

    Example:
        >>> write_tiny_model("/tmp/tiny", hidden_size=32, layers=1)  # doctest: +SKIP
        PosixPath('/tmp/tiny')
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    minimum_vocab = 256 + 3
    if vocab_size < minimum_vocab:
        raise ValueError(f"vocab_size must be at least {minimum_vocab} (256 bytes + 3 special tokens), got {vocab_size}")
    if hidden_size % heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of heads ({heads})")
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")

    target = Path(directory)
    tokenizer = _build_tokenizer(vocab_size, max_position_embeddings)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    with staged_directory(target, mode=0o755) as staging:  # a model directory is meant to be shared
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m training_runs.tiny_model DIR``: write the tiny model and print its path."""
    parser = argparse.ArgumentParser(prog="python -m training_runs.tiny_model", description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where to write the model (replaced if it exists)")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = write_tiny_model(
        args.directory, vocab_size=args.vocab_size, hidden_size=args.hidden_size, layers=args.layers, seed=args.seed
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
