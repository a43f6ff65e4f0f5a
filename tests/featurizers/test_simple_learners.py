"""The simple-learner heuristics: what predicting the majority output, or the nearest prompt's output, scores
on the task's own metric."""
from __future__ import annotations

import pandas as pd
import pytest

from featurizers import load_task, load_task_dir, profile
from featurizers.batch_features import SampleView
from featurizers.simple_learners import (
    majority_output,
    majority_score,
    nearest_neighbor_score,
    nearest_neighbors,
    scoring_metric,
    simple_learner_score,
)
from testsupport import REFERENCE_TASKS
from tasks.metrics import UnknownMetricError


def _task(prompts: list[str], completions: list[str], **kw):
    return load_task(pd.DataFrame({"prompt": prompts, "completion": completions}), **kw)


def test_majority_score_is_the_share_of_the_most_frequent_label():
    view = SampleView(["a", "b", "c", "d"], ["yes", "yes", "yes", "no"], metric="exact_match")
    assert majority_output(view.outputs) == "yes"
    assert majority_score(view) == pytest.approx(0.75)


def test_nearest_neighbor_copies_the_output_of_the_most_similar_other_prompt():
    prompts = ["the film was wonderful", "a wonderful film indeed", "the soup was cold", "cold soup again"]
    assert nearest_neighbors(prompts).tolist() == [1, 0, 3, 2]
    view = SampleView(prompts, ["pos", "pos", "neg", "neg"], metric="exact_match")
    assert nearest_neighbor_score(view) == pytest.approx(1.0)
    assert majority_score(view) == pytest.approx(0.5)
    assert simple_learner_score(view) == pytest.approx(1.0)


def test_the_simple_learner_score_is_the_better_of_the_two_learners():
    # Neighbours always carry the other label (as in WNLI's paired sentences): the majority guess wins.
    prompts = ["alpha beta", "alpha beta gamma", "delta epsilon", "delta epsilon zeta", "eta theta"]
    view = SampleView(prompts, ["yes", "no", "yes", "no", "yes"], metric="binary_flex")
    assert nearest_neighbor_score(view) < majority_score(view) == pytest.approx(0.6)
    assert simple_learner_score(view) == majority_score(view)


def test_scores_use_the_tasks_metric_so_free_text_gets_partial_credit():
    prompts = ["describe the red car", "describe the red bus"]
    view = SampleView(prompts, ["a red car", "a red bus"], metric="rouge")
    assert nearest_neighbor_score(view) == pytest.approx(2 / 3)  # "a red bus" vs "a red car": LCS 2 of 3 words
    assert nearest_neighbor_score(SampleView(prompts, ["a red car", "a red bus"], metric="exact_match")) == 0.0


def test_a_single_example_has_no_neighbour():
    view = SampleView(["only prompt"], ["only answer"], metric="exact_match")
    assert nearest_neighbors(["only prompt"]) is None
    assert simple_learner_score(view) == majority_score(view) == 1.0


def test_prompts_without_words_still_get_a_neighbour():
    assert nearest_neighbors(["?", "!", "."]).tolist() == [1, 0, 0]


def test_the_metric_is_inferred_from_the_outputs_when_the_task_does_not_say():
    assert scoring_metric(SampleView(["q1", "q2"], ["yes", "no"])).name == "binary_flex"
    assert scoring_metric(SampleView(["q1", "q2"], ["#### 4", "#### 7"])).name == "first_number"
    assert scoring_metric(SampleView(["q1", "q2"], ["a long answer here", "another one"])).name == "rouge_l"


def test_a_metric_that_cannot_be_computed_here_is_replaced_by_rouge_l():
    assert scoring_metric(SampleView(["q"], ["def f(): pass"], metric="humaneval")).name == "rouge_l"


def test_profile_records_the_metric_that_scored_the_learners():
    prompts = [f"review {i}: {'great' if i % 3 else 'awful'} film" for i in range(30)]
    completions = ["positive" if i % 3 else "negative" for i in range(30)]
    inferred = profile(_task(prompts, completions), embeddings=False)
    assert inferred.metric == "binary_flex"
    assert inferred["simple_learner_score"] == pytest.approx(1.0)
    assert inferred["majority_score"] == pytest.approx(20 / 30)
    given = profile(_task(prompts, completions, metric="rouge"), embeddings=False)
    assert given.metric == "rouge_l"


def test_an_unknown_metric_is_refused_when_the_data_is_opened():
    with pytest.raises(UnknownMetricError, match="no_such_metric"):
        _task(["q"], ["a"], metric="no_such_metric")


@pytest.mark.skipif(not (REFERENCE_TASKS / "glue_sst2" / "train.jsonl").is_file(), reason="needs ../shared")
def test_a_task_folder_brings_its_metric_from_metadata_yaml():
    task = load_task_dir(REFERENCE_TASKS / "glue_sst2")
    assert task.metric == "binary_accuracy_flex"
    assert load_task_dir(REFERENCE_TASKS / "glue_sst2", metric="exact_match").metric == "exact_match"
