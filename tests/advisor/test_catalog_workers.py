"""advisor.catalog_workers: supervised worker processes that contain crashes and never outlive their parent."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from advisor.catalog_workers import CallFailure, WorkerPool, describe_exit
from catalog_hooks import TAG_VARIABLE, kill_tagged_processes, misbehave, tagged_processes, wait_for
from testsupport import REPO_ROOT

HERE = Path(__file__).resolve().parent


def test_calls_run_in_workers_and_results_come_back_under_their_keys() -> None:
    with WorkerPool(2) as pool:
        for n in range(6):
            pool.submit(n, math.factorial, n)
        results = dict(pool.completed())
    assert results == {n: math.factorial(n) for n in range(6)}


@pytest.mark.parametrize("how, signame", [("segfault", "SIGSEGV"), ("abort", "SIGABRT"), ("exit", None)])
def test_a_call_that_kills_its_worker_fails_alone_and_the_others_still_run(how: str, signame: str | None) -> None:
    with WorkerPool(1) as pool:  # one worker: the calls after the crash need its replacement
        pool.submit("before", math.sqrt, 4.0)
        pool.submit("crash", misbehave, how)
        pool.submit("after", math.sqrt, 9.0)
        results = dict(pool.completed())
    assert results["before"] == 2.0 and results["after"] == 3.0
    failure = results["crash"]
    assert isinstance(failure, CallFailure) and failure.crashed
    if signame:
        assert failure.exitcode == -getattr(signal, signame)
        assert failure.message.startswith(f"the worker process was killed by signal {signame} (")
    else:
        assert failure.message == "the worker process exited with status 3"


def test_a_call_that_raises_is_a_failure_naming_the_exception() -> None:
    with WorkerPool(1) as pool:
        pool.submit("bad", math.sqrt, -1.0)
        pool.submit("good", math.sqrt, 1.0)
        results = dict(pool.completed())
    assert results["bad"] == CallFailure("ValueError: math domain error") and results["good"] == 1.0


def test_calls_submitted_while_collecting_run_too_and_first_ones_go_ahead() -> None:
    order = []
    with WorkerPool(1) as pool:
        pool.submit(("a", 1), math.sqrt, 1.0)
        pool.submit(("a", 2), math.sqrt, 4.0)
        for key, _ in pool.completed():
            order.append(key)
            if key == ("a", 1):
                pool.submit(("b", 1), math.sqrt, 9.0, first=True)
    assert order == [("a", 1), ("b", 1), ("a", 2)]


def test_exit_statuses_are_described_in_words() -> None:
    assert describe_exit(-signal.SIGSEGV) == "was killed by signal SIGSEGV (Segmentation fault)"
    assert describe_exit(-signal.SIGKILL).startswith("was killed by signal SIGKILL (Killed); the kernel's out-of-memory")
    assert describe_exit(0) == "exited with status 0"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the descendants")
@pytest.mark.parametrize("busy", [True, False], ids=["busy-workers", "idle-workers"])
def test_no_worker_fork_server_or_helper_survives_a_kill_9_of_the_parent(tmp_path: Path, busy: bool) -> None:
    tag = uuid.uuid4().hex
    script = textwrap.dedent(f"""
        import time, catalog_hooks
        from advisor.catalog_workers import WorkerPool
        with WorkerPool(2) as pool:
            for n in range(2):
                pool.submit(n, catalog_hooks.misbehave if {busy} else time.sleep, "hang" if {busy} else 0)
            print("submitted", flush=True)
            for _ in pool.completed():
                if not {busy}:
                    print("idle", flush=True)
                    time.sleep(3600)
    """)
    env = {**os.environ, TAG_VARIABLE: tag, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(HERE)])}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "submitted"
        # the parent, the fork server, two workers and the resource tracker
        wait_for(lambda: len(tagged_processes(tag)) >= 4, 120, "the workers to start")
        if not busy:
            assert parent.stdout.readline().strip() == "idle"
        parent.kill()
        parent.wait(30)
        wait_for(lambda: not tagged_processes(tag), 30, "every descendant to exit")
    finally:
        kill_tagged_processes(tag)
        if parent.poll() is None:
            parent.kill()


def test_the_modules_docstring_examples_hold() -> None:
    import doctest

    import advisor.catalog_workers

    result = doctest.testmod(advisor.catalog_workers)
    assert result.attempted > 0 and result.failed == 0
