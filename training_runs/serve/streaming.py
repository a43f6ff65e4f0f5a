"""From engine token events to text pieces for the HTTP layer, on a thread of its own.

The engine thread must not spend its time decoding text (it would slow every batch), and the event loop
must not either (a slow decode would hold up every other client and ``/health``). ``Detokenizer`` runs
one worker thread: the engine's sinks only put events on its queue; the worker turns them into text
with each choice's ``TextAssembler`` (incremental decoding, stop strings), cancels a request in the
engine as soon as a stop string completes, and hands each ``TextPiece`` to the choice's ``deliver``
callback (``loop.call_soon_threadsafe`` in the HTTP layer). Events of one request are handled in the
order the engine sent them.

Example:
    >>> detokenizer = Detokenizer(cancel=engine.cancel).start()                      # doctest: +SKIP
    >>> choice = ChoiceText(0, TextAssembler(tokenizer, ["\\n"]), deliver=print)     # doctest: +SKIP
    >>> engine.submit(request, detokenizer.sink(choice))                             # doctest: +SKIP
    TextPiece(choice=0, text='Paris', finish_reason=None, error=None)
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from training_runs.serve.engine import StreamEvent
from training_runs.serve.errors import ServeError
from training_runs.serve.textstream import TextAssembler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextPiece:
    """New text of one choice; ``finish_reason`` ('stop', 'length' or 'error') on the last piece of a choice."""

    choice: int
    text: str
    finish_reason: str | None = None
    error: ServeError | None = None


class ChoiceText:
    """One choice (one prompt) of a request, as the detokenizer sees it. Only the worker thread changes it."""

    def __init__(self, index: int, assembler: TextAssembler, deliver: Callable[[TextPiece], None]) -> None:
        self.index = index
        self.assembler = assembler
        self.deliver = deliver
        self.first_token_time: float | None = None
        self.done = False


class Detokenizer:
    """The worker thread of the module docstring; ``cancel(request_id)`` stops a request in the engine."""

    def __init__(self, *, cancel: Callable[[int], None]) -> None:
        self._cancel = cancel
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "Detokenizer":
        """Start the worker (idempotent); returns self."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="serve-detokenizer", daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Let the worker finish what is queued, then end it."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def sink(self, choice: ChoiceText) -> Callable[[StreamEvent], None]:
        """The engine sink for ``choice`` (cheap: it only queues the event)."""
        self.start()

        def sink(event: StreamEvent) -> None:
            self._queue.put((choice, event))

        return sink

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            choice, event = item
            try:
                self._handle(choice, event)
            except Exception as exc:  # one choice's failure must not stop the others' text
                logger.exception("turning tokens into text failed")
                choice.done = True
                error = ServeError(f"turning tokens into text failed: {type(exc).__name__}: {exc}")
                error.status, error.error_type = 500, "server_error"
                self._cancel(event.request_id)
                choice.deliver(TextPiece(choice.index, "", "error", error))

    def _handle(self, choice: ChoiceText, event: StreamEvent) -> None:
        if choice.done:
            return  # tokens that were on their way when a stop string completed
        if event.token_id is not None:
            if choice.first_token_time is None:
                choice.first_token_time = event.time
            delta, stopped = choice.assembler.add(event.token_id)
            if stopped:
                choice.done = True
                self._cancel(event.request_id)
                choice.deliver(TextPiece(choice.index, delta, "stop"))
            elif delta:
                choice.deliver(TextPiece(choice.index, delta))
        elif event.finish_reason is not None:
            choice.done = True
            if event.error is not None:
                choice.deliver(TextPiece(choice.index, "", "error", event.error))
            else:
                reason = "length" if event.finish_reason == "length" else "stop"
                choice.deliver(TextPiece(choice.index, choice.assembler.finish(), reason))
