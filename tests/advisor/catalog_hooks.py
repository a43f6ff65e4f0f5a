"""Advisors that misbehave on purpose inside catalog workers: crash their process, or take forever.

They wrap a real advisor and misbehave only for entries whose data file name contains a marker, so
one catalog mixes well-behaved and misbehaving entries. Defined in a module (not a test file) so
worker processes can unpickle them; :func:`main` scores a catalog with one, for tests that run it as a
separate process and signal it.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Environment variable whose value marks a test's process and, by inheritance, all its descendants.
TAG_VARIABLE = "ADVISOR_TEST_TAG"


class MisbehavingAdvisor:
    """Ranks like ``advisor``, except for entries whose source contains ``marker``: then ``how`` happens.

    ``how``: ``"segfault"`` (a real SIGSEGV, as a native library's bug gives), ``"abort"`` (``os.abort``),
    ``"exit"`` (``os._exit(3)``) or ``"hang"`` (sleeps for an hour).
    """

    def __init__(self, advisor: Any, marker: str, how: str) -> None:
        self.advisor, self.marker, self.how = advisor, marker, how

    @property
    def featurizer_version(self) -> str:
        return self.advisor.featurizer_version

    @property
    def predictor_version(self) -> str:
        return self.advisor.predictor_version

    def rank(self, profile: Any, **kwargs: Any) -> Any:
        if self.marker in (profile.source or ""):
            misbehave(self.how)
        return self.advisor.rank(profile, **kwargs)


def misbehave(how: str) -> None:
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: the kernel sends SIGSEGV
        os.kill(os.getpid(), signal.SIGSEGV)  # in case address 0 is mapped here
    elif how == "abort":
        os.abort()
    elif how == "exit":
        os._exit(3)
    elif how == "hang":
        time.sleep(3600)
    raise ValueError(f"unknown misbehaviour {how!r}")


def main() -> None:
    """``python -c 'import catalog_hooks; catalog_hooks.main()' DB OUT HOW MARKER WORKERS DATA...``: score a
    catalog of the DATA files (copies of the first bundled example, one entry each) with the shipped advisor
    misbehaving as ``HOW`` on those whose name holds ``MARKER``."""
    from advisor.api import Advisor
    from advisor.catalog import score_catalog
    from advisor.examples import list_examples
    from training_runs.store import Store

    db, out, how, marker, workers, *data = sys.argv[1:]
    options = list_examples()[0].load_options()
    entries = [{"name": f"entry{i}", "dataset": path, **options} for i, path in enumerate(data)]
    advisor = MisbehavingAdvisor(Advisor.load(os.environ.get("ADVISOR_MODEL_DIR") or None), marker, how)
    with Store.open(f"sqlite:///{db}") as store:
        score_catalog(entries, out=out, store=store, advisor=advisor, workers=int(workers))
    print("finished", flush=True)


def tagged_processes(tag: str) -> list[int]:
    """Processes whose environment has ``TAG_VARIABLE=tag``: a test's process and its descendants, wherever
    they were reparented."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"{TAG_VARIABLE}={tag}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def kill_tagged_processes(tag: str) -> None:
    """SIGKILL every process :func:`tagged_processes` finds (a test's clean-up); one that exits first is skipped."""
    for pid in tagged_processes(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
