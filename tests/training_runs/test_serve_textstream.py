"""Streamed text: incremental decoding adds up to a full decode, stop strings cut where they first complete, and
the work per token does not grow with the text or with the stop strings."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from training_runs.serve.textstream import IncrementalDecoder, StopMatcher, TextAssembler
from training_runs.tiny_model import write_tiny_model


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(write_tiny_model(tmp_path_factory.mktemp("tok") / "tiny", hidden_size=32, layers=1))


class Pieces:
    """A toy tokenizer: token id i is the string ``vocab[i]``; it counts the ids it decodes."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab = vocab
        self.decoded_ids = 0

    def decode(self, ids, skip_special_tokens=True) -> str:
        self.decoded_ids += len(ids)
        return "".join(self.vocab[i] for i in ids)


def first_stop_cut(text: str, stops: list[str]) -> int | None:
    """The reference: where the stop string that completes first (the longest, on a tie) starts, or None."""
    for end in range(1, len(text) + 1):
        starts = [end - len(s) for s in stops if s and text[:end].endswith(s)]
        if starts:
            return min(starts)
    return None


def assemble(tokenizer, ids, stops) -> tuple[str, bool]:
    assembler = TextAssembler(tokenizer, stops)
    text, stopped = "", False
    for token in ids:
        delta, stopped = assembler.add(token)
        text += delta
        if stopped:
            break
    return text + assembler.finish(), stopped


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(st.integers(min_value=0, max_value=511), max_size=40))
def test_incremental_pieces_add_up_to_decoding_all_the_tokens_at_once(tokenizer, ids):
    """Byte-level tokens include lone UTF-8 lead and continuation bytes and special tokens."""
    decoder = IncrementalDecoder(tokenizer)
    text = "".join(decoder.add(t) for t in ids) + decoder.flush()
    assert text == tokenizer.decode(ids, skip_special_tokens=True)


def test_a_character_split_across_tokens_is_held_back_until_it_is_complete(tokenizer):
    ids = tokenizer("é", add_special_tokens=False)["input_ids"]
    assert len(ids) == 2  # the tiny tokenizer has no merge for its two UTF-8 bytes
    decoder = IncrementalDecoder(tokenizer)
    assert decoder.add(ids[0]) == "" and decoder.add(ids[1]) == "é"


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(st.text(alphabet="abc\n", max_size=4), max_size=30),
    stops=st.lists(st.text(alphabet="abc\n", min_size=1, max_size=5), max_size=4),
)
def test_text_ends_before_the_stop_string_that_completes_first(chunks, stops):
    tokenizer = Pieces(chunks)
    text, stopped = assemble(tokenizer, range(len(chunks)), stops)
    whole = "".join(chunks)
    cut = first_stop_cut(whole, stops)
    assert text == (whole if cut is None else whole[:cut])
    assert stopped == (cut is not None)


def test_a_partial_stop_string_is_held_back_and_released_when_it_does_not_complete():
    assembler = TextAssembler(Pieces(["ok", "\nUs", "ed"]), ["\nUser:"])
    assert assembler.add(0) == ("ok", False)
    assert assembler.add(1) == ("", False)  # could be the start of "\nUser:"
    assert assembler.add(2) == ("\nUsed", False)


def test_decoding_work_grows_linearly_with_the_tokens():
    tokenizer = Pieces([chr(c) for c in range(32, 127)])
    assembler = TextAssembler(tokenizer, ["x" * 256] * 4)
    for i in range(2000):
        assembler.add(i % 90)
    assert tokenizer.decoded_ids <= 4 * 2000  # decoding all the text per token would be 2,000,000 ids


def test_a_stop_string_that_overlaps_itself_is_found_and_its_partial_match_measured():
    stop = "ab" * 128
    matcher = StopMatcher([stop])
    assert matcher.feed("ab" * 10_000 + "a") is not None
    fresh = StopMatcher([stop])
    assert fresh.feed("ba" * 127) is None and fresh.pending == 253  # "ab"*126 + "a" may begin the stop string
