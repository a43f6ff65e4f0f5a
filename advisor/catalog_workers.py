"""Supervised worker processes for batch work where one item may crash its process.

The parent hands each worker one call at a time over the worker's own pipe and watches the process
itself, so a worker that dies (a segfault in a native library, an abort, the kernel's OOM killer)
fails only the call it was running; a fresh worker takes over the rest. Workers never outlive the
parent, even after ``kill -9``: each holds a *lifeline* pipe whose only writer is the parent and exits
the moment it closes, and on Linux also has the kernel kill it (``PR_SET_PDEATHSIG``) when the process
that forked it goes. When the parent stops early (an exception, Ctrl-C), the workers are killed at
once instead of finishing their calls; workers ignore SIGINT themselves, so Ctrl-C in a terminal
reaches the parent only in effect.

Example:
    >>> import math
    >>> with WorkerPool(2) as pool:
    ...     for n in (4.0, 9.0):
    ...         pool.submit(n, math.sqrt, n)
    ...     sorted(pool.completed())
    [(4.0, 2.0), (9.0, 3.0)]
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

#: Seconds a worker gets to exit after being asked to stop, before it is killed.
STOP_GRACE_S = 5.0
#: Exit status of a worker that noticed its parent is gone.
EXIT_PARENT_GONE = 70
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass(frozen=True)
class CallFailure:
    """Why a call gave no result: its worker process died (``exitcode`` set) or the call raised.

    ``exitcode`` follows :attr:`multiprocessing.Process.exitcode`: negative for the signal that killed it.
    """

    message: str
    exitcode: int | None = None

    @property
    def crashed(self) -> bool:
        return self.exitcode is not None


def describe_exit(exitcode: int) -> str:
    """How a process ended, as a predicate for messages ("the worker process ..."), from its exit code.

    Example:
        >>> describe_exit(-11)
        'was killed by signal SIGSEGV (Segmentation fault)'
        >>> describe_exit(3)
        'exited with status 3'
    """
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"{-exitcode}"
    text = f"was killed by signal {name} ({signal.strsignal(-exitcode) or 'unknown signal'})"
    if exitcode == -signal.SIGKILL:
        text += "; the kernel's out-of-memory killer sends this signal"
    return text


class _Worker:
    """One worker process, its call pipe, and the lifeline whose closing tells it the parent is gone."""

    def __init__(self, context: multiprocessing.context.BaseContext, initializer: Callable[..., None] | None,
                 initargs: tuple[Any, ...], number: int) -> None:
        self.calls, child_calls = context.Pipe(duplex=True)
        lifeline_reader, self._lifeline = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_worker_main, args=(child_calls, lifeline_reader, initializer, initargs),
            name=f"advisor-worker-{number}", daemon=True,
        )
        try:
            self.process.start()
        finally:
            child_calls.close()  # the child's ends live in the child only, so its death reads as EOF here
            lifeline_reader.close()
        self.key: Hashable | None = None  # the call it is running
        self.busy = False

    def send(self, key: Hashable, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.key, self.busy = key, True
        self.calls.send((key, fn, args))

    def stop(self, *, kill: bool) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.calls.send(None)
            except OSError:  # already gone
                pass
        self.process.join(STOP_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(STOP_GRACE_S)
        self.close()

    def close(self) -> None:
        self.calls.close()
        self._lifeline.close()


class WorkerPool:
    """Up to ``size`` supervised worker processes running submitted calls; see the module docstring.

    ``fn`` and its arguments must be picklable (module-level functions). ``initializer(*initargs)``
    runs once in each worker before its first call. ``context`` is a multiprocessing context
    (default: a fork server where available, else spawn). Use it as a context manager: leaving the
    block normally stops the workers; leaving it by an exception kills them at once.
    """

    def __init__(self, size: int, *, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = (), context: multiprocessing.context.BaseContext | None = None) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {size}")
        self._size = size
        self._initializer = initializer
        self._initargs = initargs
        self._context = context or default_context()
        self._queue: deque[tuple[Hashable, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._workers: list[_Worker] = []
        self._started = 0

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any, first: bool = False) -> None:
        """Queue ``fn(*args)``; its result comes out of :meth:`completed` under ``key``.

        ``first`` puts the call ahead of those already queued (e.g. to finish items before starting others).
        """
        (self._queue.appendleft if first else self._queue.append)((key, fn, args))

    def completed(self) -> Iterator[tuple[Hashable, Any]]:
        """Yield ``(key, result)`` as calls finish, until none is queued or running.

        ``result`` is what the call returned, or a :class:`CallFailure` when it raised or its worker
        died. Calls may be submitted while iterating.
        """
        while self._queue or any(w.busy for w in self._workers):
            self._dispatch()
            busy = [w for w in self._workers if w.busy]
            ready = set(wait([w.calls for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.calls in ready or worker.process.sentinel in ready:
                    yield self._collect(worker)

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker (``kill``: at once, without letting it finish its call)."""
        workers, self._workers = self._workers, []
        if kill:
            for worker in workers:  # signal them all first, so they die together rather than one by one
                worker.process.kill()
        for worker in workers:
            worker.stop(kill=kill)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(kill=exc_type is not None)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if not worker.busy:
                worker.send(*self._queue.popleft())
        while self._queue and len(self._workers) < self._size:
            self._started += 1
            worker = _Worker(self._context, self._initializer, self._initargs, self._started)
            self._workers.append(worker)
            worker.send(*self._queue.popleft())

    def _collect(self, worker: _Worker) -> tuple[Hashable, Any]:
        """The result of ``worker``'s call; a dead worker is replaced (lazily, by the next dispatch)."""
        key = worker.key
        worker.busy, worker.key = False, None
        try:
            if worker.calls.poll():  # a result sent just before dying still counts
                sent_key, result = worker.calls.recv()
                if sent_key == key:
                    return key, result
        except (EOFError, OSError):
            pass
        worker.process.join(STOP_GRACE_S)
        exitcode = worker.process.exitcode
        if exitcode is None:  # closed its pipe but lives on: not a worker we can trust
            worker.process.kill()
            worker.process.join(STOP_GRACE_S)
            exitcode = worker.process.exitcode if worker.process.exitcode is not None else -signal.SIGKILL
        worker.close()
        self._workers.remove(worker)
        return key, CallFailure(f"the worker process {describe_exit(exitcode)}", exitcode=exitcode)


def default_context(preload: list[str] | None = None) -> multiprocessing.context.BaseContext:
    """A fork server where available (workers fork from a clean process that has imported ``preload``
    once, so each starts in milliseconds; forking this process could copy locks held by its threads),
    else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        if preload:
            context.set_forkserver_preload(preload)
        return context
    return multiprocessing.get_context("spawn")


# ----------------------------------------------------------------------------- inside a worker

def _worker_main(calls: Connection, lifeline: Connection, initializer: Callable[..., None] | None,
                 initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    _die_with_parent(lifeline)
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            message = calls.recv()
        except EOFError:
            return
        if message is None:
            return
        key, fn, args = message
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported to the parent as this call's failure
            result = CallFailure(f"{type(exc).__name__}: {exc}")
        calls.send((key, result))


def _die_with_parent(lifeline: Connection) -> None:
    """Make sure this worker cannot outlive the parent that submitted its calls."""
    _release_fork_server()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the lifeline alone does it
            pass
    threading.Thread(target=_exit_when_closed, args=(lifeline,), name="lifeline", daemon=True).start()


def _exit_when_closed(lifeline: Connection) -> None:
    try:
        lifeline.recv_bytes()  # the parent never writes: this returns only when its end closes
    except (EOFError, OSError):
        pass
    os._exit(EXIT_PARENT_GONE)


def _release_fork_server() -> None:
    # A fork-server child inherits the parent's "alive" pipe to the fork server, which therefore lives on
    # while any worker does. Workers never start processes, so they let go of it: the fork server then
    # exits with the parent, and the kernel's parent-death signal takes down even a worker whose
    # lifeline thread cannot run (stuck in native code holding the GIL).
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver  # noqa: SLF001 - no public way to drop the inherited descriptor
        if server._forkserver_alive_fd is not None:  # noqa: SLF001
            os.close(server._forkserver_alive_fd)  # noqa: SLF001
            server._forkserver_alive_fd = None  # noqa: SLF001
    except (ImportError, AttributeError, OSError):
        pass
