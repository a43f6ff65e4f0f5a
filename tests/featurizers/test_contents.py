"""The varying content of prompts (the template's fixed text left out) and the content-only heuristics."""
from __future__ import annotations

import zlib

import pandas as pd
import pyarrow as pa
import pytest

from featurizers import load_task, profile
from featurizers.compressibility import BLOCK_BYTES, block_ratios
from featurizers.contents import FixedText, join_fields
from featurizers.text import token_counts


def test_the_shared_start_and_end_of_the_prompts_is_their_fixed_text():
    fixed = FixedText.estimate(["Sentence: a cat\nLabel:", "Sentence: the dog\nLabel:", "Sentence: a bird\nLabel:"])
    assert (fixed.prefix, fixed.suffix) == ("Sentence: ", "\nLabel:")
    assert fixed.strip_all(["Sentence: fish\nLabel:", "other text"]) == ["fish", "other text"]


def test_fixed_text_is_cut_at_word_boundaries_and_needs_two_distinct_texts():
    fixed = FixedText.estimate(["Is a cat happy?", "Is a car fast?"])
    assert (fixed.prefix, fixed.suffix) == ("Is a ", "?")  # "ca" is part of two different words
    assert FixedText.estimate(["same", "same"]) == FixedText() == FixedText.estimate(["only one"])


def test_lines_and_line_labels_that_every_prompt_holds_are_fixed_text_too():
    prompts = [f"Passage: {['a story', 'the tale', 'one myth', 'some fable', 'our poem'][i]} ends well.\nWhich option is right?\nOption 1: cat {i}\nOption 2: dog {i}\nAnswer:"
               for i in range(5)]
    fixed = FixedText.estimate(prompts)
    assert fixed.lines == {"Which option is right?"} and fixed.labels == {"Option 1:", "Option 2:"}
    assert fixed.strip(prompts[3]) == "some fable ends well.\ncat 3\ndog 3"


def test_a_label_or_line_that_some_prompt_lacks_is_content():
    fixed = FixedText.estimate(["Note: a\nrest x", "Note: b\nother y", "c without a note\nrest z"])
    assert fixed.labels == frozenset() and fixed.lines == frozenset()


def test_a_templates_field_values_are_the_content_and_several_are_joined_by_a_newline():
    prompts = pa.array(["P: x Q: y"])
    assert join_fields(prompts, {}).to_pylist() == ["P: x Q: y"]
    assert join_fields(prompts, {"p": pa.array(["x"]), "q": pa.array(["y"])}).to_pylist() == ["x\ny"]


def test_content_token_counts_leave_out_the_instruction():
    frame = pd.DataFrame({"sentence": ["a fine film", "a dull film", "great acting"], "label": ["pos", "neg", "pos"]})
    p = profile(load_task(frame, template="Classify the sentiment of this review.\n\nReview: {sentence}\nSentiment:",
                          target_col="label"))
    contents = ["a fine film", "a dull film", "great acting"]  # no shared start/end at word boundaries
    assert p["content_input_tokens_mean"] == pytest.approx(token_counts(contents).mean())
    assert p["input_tokens_mean"] > p["content_input_tokens_mean"] + 10
    assert p["content_example_tokens_mean"] == pytest.approx(p["content_input_tokens_mean"] + p["output_tokens_mean"])


def test_content_rouge_compares_the_varying_content_with_the_output():
    frame = pd.DataFrame({"q": ["the cat sat", "a b"], "a": ["the cat", "c"]})
    p = profile(load_task(frame, template="Answer in words: {q}\nAnswer:", target_col="a"))
    assert p["content_io_rougeL_mean"] == pytest.approx(0.4)  # (2*2/(3+2) + 0) / 2, as the study's on bare prompts
    assert p["io_rougeL_mean"] < p["content_io_rougeL_mean"]  # the template's words dilute the study's figure


def test_blocks_are_compressed_with_raw_deflate_and_a_partial_last_block_is_dropped():
    data = bytes(range(256)) * 200  # 51,200 bytes: three full blocks and a partial one
    ratios = block_ratios(data)
    assert len(ratios) == 3
    assert ratios[0] == pytest.approx(len(zlib.compress(data[:BLOCK_BYTES], 9, -15)) / BLOCK_BYTES)
    assert len(block_ratios(b"short text")) == 1 and block_ratios(b"") == []


def test_content_compressibility_is_meaningful_for_short_strings():
    """The study's gzip ratio of a short example exceeds 1 and falls as the instruction grows; the content
    figure is below 1, ignores the instruction, and is lower for a repetitive task than for a varied one."""
    repetitive = pd.DataFrame({"s": [f"the game was a {w} win for the home team" for w in ["big", "late", "fair"] * 200],
                               "y": ["plausible", "implausible"] * 300})
    repetitive["s"] = repetitive["s"] + [f" {i}" for i in range(600)]
    varied = pd.DataFrame({"s": [" ".join(f"w{(i * 7919 + j * 104729) % 100003}" for j in range(8)) for i in range(600)],
                           "y": ["plausible", "implausible"] * 300})
    bare, worded, other = (
        profile(load_task(df, template=t, target_col="y"))
        for df, t in ((repetitive, "{s}"), (repetitive, "Is this sentence about sports plausible? {s}\nAnswer:"),
                      (varied, "{s}"))
    )
    assert bare["compressibility_mean"] > 1.0 and worded["compressibility_mean"] < bare["compressibility_mean"]
    assert bare["content_compressibility_mean"] == worded["content_compressibility_mean"] < 0.5
    assert other["content_compressibility_mean"] > bare["content_compressibility_mean"] + 0.1
