"""A catalog entry never takes down the batch; an interrupted or killed batch stops at once and leaves nothing behind."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from advisor.catalog import score_catalog
from advisor.examples import list_examples
from catalog_hooks import TAG_VARIABLE, MisbehavingAdvisor, kill_tagged_processes, tagged_processes, wait_for
from testsupport import REPO_ROOT
from training_runs.store import Store

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def advisor():
    from advisor.api import Advisor

    return Advisor.load(os.environ.get("ADVISOR_MODEL_DIR") or None)


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path / 'advisor.db'}") as opened:
        yield opened


def entries_with(tmp_path: Path, marked: set[int], n: int = 3) -> list[dict[str, object]]:
    """``n`` entries on copies of one bundled example; those in ``marked`` get a file named ``crash-me``."""
    example = list_examples()[0]
    entries = []
    for i in range(n):
        path = tmp_path / f"{'crash-me' if i in marked else 'fine'}-{i}{example.path.suffix}"
        shutil.copy(example.path, path)
        entries.append({"name": f"entry{i}", "dataset": str(path), **example.load_options()})
    return entries


@pytest.mark.parametrize("how, signame", [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
@pytest.mark.parametrize("workers", [1, 2])
def test_an_entry_that_crashes_its_worker_is_recorded_with_the_signal_and_the_others_are_scored(
        tmp_path: Path, store: Store, advisor, how: str, signame: str, workers: int) -> None:
    crashing = MisbehavingAdvisor(advisor, "crash-me", how)
    out = tmp_path / "scores.csv"
    report = score_catalog(entries_with(tmp_path, {1}), out=out, store=store, advisor=crashing, workers=workers)
    rows = pd.read_csv(out)
    assert rows["status"].tolist() == ["ok", "error", "ok"]
    assert (report.n_scored, report.n_failed) == (2, 1)
    error = rows.loc[1, "error"]
    assert error.startswith(f"crashed while profiling and ranking it: the worker process was killed by signal {signame}")
    found = store.find_catalog_result("entry1", rows.loc[1, "fingerprint"], advisor.featurizer_version,
                                      advisor.predictor_version)
    assert found["status"] == "error" and found["error"] == error

    # A re-run tries the crashed entry again (and contains its crash again); the good ones are reused.
    again = score_catalog(entries_with(tmp_path, {1}), out=out, store=store, advisor=crashing, workers=workers)
    assert (again.n_scored, again.n_reused, again.n_failed) == (0, 2, 1)
    assert pd.read_csv(out)["status"].tolist() == ["ok", "error", "ok"]


def test_every_entry_crashing_still_gives_a_row_each(tmp_path: Path, store: Store, advisor) -> None:
    report = score_catalog(entries_with(tmp_path, {0, 1, 2}), store=store,
                           advisor=MisbehavingAdvisor(advisor, "crash-me", "segfault"))
    assert [row["status"] for row in report.rows] == ["error"] * 3 and report.n_failed == 3


def test_a_json_file_nested_20000_deep_does_not_take_down_the_batch(tmp_path: Path, store: Store, advisor) -> None:
    # Once a segfault of the JSON reader in the parent process, so every re-run crashed again.
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"prompt": ' + "[" * 20000 + "]" * 20000 + ', "completion": "x"}\n')
    entries = [{"name": "deep", "dataset": str(deep)}, *entries_with(tmp_path, set(), n=1)]
    for _ in range(2):
        report = score_catalog(entries, store=store, advisor=advisor)
        assert [row["status"] for row in report.rows] == ["error", "ok"]
        assert report.rows[0]["error"]


def _start_hanging_batch(tmp_path: Path, tag: str) -> subprocess.Popen[str]:
    """A batch (2 workers) of two quick entries, then two that hang; returns once the quick rows are written."""
    data = []
    example = list_examples()[0]
    for i, name in enumerate(["fine", "fine", "hang", "hang"]):
        path = tmp_path / f"{name}-{i}{example.path.suffix}"
        shutil.copy(example.path, path)
        data.append(str(path))
    env = {**os.environ, TAG_VARIABLE: tag, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(HERE)])}
    args = [str(tmp_path / "batch.db"), str(tmp_path / "scores.csv"), "hang", "hang", "2", *data]
    batch = subprocess.Popen([sys.executable, "-c", "import catalog_hooks; catalog_hooks.main()", *args],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def quick_rows_written() -> bool:
        out = tmp_path / "scores.csv"
        if batch.poll() is not None:
            raise AssertionError(f"the batch exited early: {batch.stderr.read()[-2000:]}")
        return out.exists() and len(pd.read_csv(out)) == 2

    wait_for(quick_rows_written, 240, "the two quick rows")
    wait_for(lambda: len(tagged_processes(tag)) >= 4, 60, "the workers")  # parent, fork server, 2 workers, ...
    time.sleep(1)  # the hanging entries are now being profiled and ranked
    return batch


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the descendants")
def test_sigint_stops_the_batch_at_once_keeping_the_finished_rows_and_leaving_no_process(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    batch = _start_hanging_batch(tmp_path, tag)
    try:
        sent = time.monotonic()
        batch.send_signal(signal.SIGINT)
        batch.wait(60)
        # A few seconds at most, on a loaded machine; it used to wait for the running entries (here: an hour).
        assert time.monotonic() - sent < 10
        assert batch.returncode != 0 and "finished" not in batch.stdout.read()
        rows = pd.read_csv(tmp_path / "scores.csv")
        assert rows["status"].tolist() == ["ok", "ok"]  # the finished rows, and no partial one
        with Store.open(f"sqlite:///{tmp_path / 'batch.db'}", create=False) as store:
            assert store.stats()["catalog_results"] == 2
        wait_for(lambda: not tagged_processes(tag), 30, "every descendant to exit")
    finally:
        kill_tagged_processes(tag)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the descendants")
def test_kill_9_of_a_batch_leaves_no_worker_fork_server_or_resource_tracker(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    batch = _start_hanging_batch(tmp_path, tag)
    try:
        batch.kill()
        batch.wait(60)
        wait_for(lambda: not tagged_processes(tag), 30, "every descendant to exit")
    finally:
        kill_tagged_processes(tag)
