"""Store.record_runs: several runs (a fine-tuned run and its zero-shot baseline) recorded all or none."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from store_backends import db_url  # noqa: F401  (fixture)
from testsupport import REPO_ROOT
from training_runs.store import DuplicateRunError, RunValidationError, Store


def pair(provenance: str = "run-1", **change: object) -> list[dict[str, object]]:
    """A fine-tuned run and its zero-shot baseline, as the QLoRA runner records them."""
    common = {"task": "tickets", "base_model": "phi-2", "metric": "accuracy", "provenance": provenance}
    return [{**common, "kind": "qlora", "score": 0.8, **change}, {**common, "kind": "zero-shot", "score": 0.4}]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811
    with Store.open(db_url) as opened:
        yield opened


def _counts(store: Store) -> dict[str, int]:
    return {kind: n for kind, n in store.stats()["runs"].items() if n}


def test_record_runs_records_every_run_and_returns_their_ids_in_order(store: Store) -> None:
    ids = store.record_runs(pair())
    runs = store.runs_frame().set_index("run_id")
    assert [runs.loc[i, "kind"] for i in ids] == ["qlora", "zero-shot"]
    assert [runs.loc[i, "score"] for i in ids] == [0.8, 0.4]
    assert store.record_runs([]) == []


def test_an_invalid_run_anywhere_in_the_batch_records_none_and_names_its_position(store: Store) -> None:
    runs = pair()
    runs[1]["score"] = 1.5
    with pytest.raises(RunValidationError, match=r"run #2: score must be a number in \[0, 1\], got 1.5"):
        store.record_runs(runs)
    with pytest.raises(RunValidationError, match="run #1: unknown run field\\(s\\) colour"):
        store.record_runs([{**pair()[0], "colour": "red"}, pair()[1]])
    with pytest.raises(RunValidationError, match="missing run field\\(s\\) score"):
        store.record_runs([{k: v for k, v in pair()[0].items() if k != "score"}])
    stats = store.stats()
    assert (stats["tasks"], stats["base_models"], _counts(store)) == (0, 0, {})


def test_a_duplicate_of_a_recorded_run_fails_the_whole_batch(store: Store) -> None:
    store.record_run(**pair()[1])  # the zero-shot baseline alone, e.g. from an earlier attempt
    with pytest.raises(DuplicateRunError, match="a zero-shot run of phi-2 on tickets with provenance 'run-1' is already"):
        store.record_runs(pair())
    assert _counts(store) == {"zero-shot": 1}


def test_the_same_run_twice_in_one_batch_is_refused(store: Store) -> None:
    with pytest.raises(DuplicateRunError, match="run #2 repeats run #1"):
        store.record_runs([pair()[0], pair()[0]])
    assert _counts(store) == {}


def test_a_failure_while_writing_the_second_run_undoes_the_first(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Store._add_run
    calls = []

    def fail_on_second(self: Store, session: object, run: object) -> object:
        calls.append(run)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return original(self, session, run)

    monkeypatch.setattr(Store, "_add_run", fail_on_second)
    with pytest.raises(RuntimeError, match="connection lost"):
        store.record_runs(pair())
    monkeypatch.undo()
    assert _counts(store) == {} and store.stats()["tasks"] == 0


def test_a_process_killed_between_the_two_runs_leaves_neither_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'advisor.db'}"
    script = textwrap.dedent(f"""
        import os, signal
        from training_runs.store import Store

        original = Store._add_run
        def add_then_die(self, session, run):
            record = original(self, session, run)
            if run.kind == "qlora":  # the fine-tuned run is written (flushed); die before its baseline
                os.kill(os.getpid(), signal.SIGKILL)
            return record

        Store._add_run = add_then_die
        with Store.open({url!r}) as store:
            store.record_runs({pair()!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == -9, result.stderr
    with Store.open(url) as store:
        assert _counts(store) == {}
        store.record_runs(pair())  # the re-run records both
        assert _counts(store) == {"qlora": 1, "zero-shot": 1}
