"""A job's streams as a remote worker writes them: ``ctx.stream("answer").append(text)``."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import WorkerError

#: Most UTF-16 code units sent in one request (the node's ``maxStreamAppendChars`` is 65,536 by
#: default).
BATCH_UNITS = 60_000

Range = Tuple[int, int]
Post = Callable[[str, Dict[str, Any]], Dict[str, Any]]


def utf16_length(text: str) -> int:
    """The node counts offsets in UTF-16 code units (JavaScript's ``length``), not code points."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Stream:
    """One named stream of the job (``answer``, ``log``): text that watchers see as it grows.

    ``append`` never waits for the node: at most one request per stream is on its way, and
    everything appended meanwhile goes together in the next one, so a fast generator costs one
    request per round trip, not one per token, and the text keeps its order. It returns a
    :class:`concurrent.futures.Future` of the text's range ``(start, end)`` in UTF-16 code units,
    which you may ignore. Once the node refuses an append (``stream_ended`` after someone stopped
    the stream, ``stream_too_long``), that append's future and every later one fail, and the next
    ``append`` raises the :class:`WorkerError`. The worker waits for every append before it
    completes or fails the job, so the text is whole when the job (and the stream) ends.
    """

    def __init__(self, name: str, post: Post, retry_for_s: float) -> None:
        self.name = name
        self._post = post
        self._retry_for_s = retry_for_s
        self._cond = threading.Condition()
        self._pending: List[Tuple[str, Future[Range]]] = []
        self._sending = False
        self._error: Optional[WorkerError] = None

    def append(self, text: str) -> "Future[Range]":
        """Append ``text`` (not empty); raises the error that refused an earlier append."""
        if not text:
            raise ValueError("nothing to append")
        future: Future[Range] = Future()
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending.append((text, future))
            if not self._sending:
                self._sending = True
                threading.Thread(target=self._pump, name=f"inloop-stream-{self.name}", daemon=True).start()
        return future

    def end(self, reason: str = "finished") -> None:
        """End the stream before the job ends (``finished`` or ``failed``), once every append is in."""
        self.flush()
        self._send({"end": reason})

    def flush(self, timeout_s: Optional[float] = None) -> None:
        """Wait until every append so far has been answered; raise the error that refused one."""
        with self._cond:
            self._cond.wait_for(lambda: not self._sending, timeout_s)
            if self._error is not None:
                raise self._error

    def _settle(self) -> None:
        """Wait for the appends on their way, whatever became of them (the job is ending)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._sending)

    def _pump(self) -> None:
        while True:
            with self._cond:
                if self._error is not None or not self._pending:
                    self._sending = False
                    self._cond.notify_all()
                    return
                batch: List[Tuple[str, Future[Range]]] = []
                units = 0
                while self._pending and (not batch or units + utf16_length(self._pending[0][0]) <= BATCH_UNITS):
                    item = self._pending.pop(0)
                    units += utf16_length(item[0])
                    batch.append(item)
            try:
                reply = self._send({"append": "".join(text for text, _ in batch)})
            except WorkerError as err:
                with self._cond:
                    self._error = err
                    refused = batch + self._pending
                    self._pending = []
                for _, future in refused:
                    future.set_exception(err)
                continue
            at = int(reply["from"])
            for text, future in batch:
                n = utf16_length(text)
                future.set_result((at, at + n))
                at += n

    def _send(self, body: Dict[str, Any]) -> Dict[str, Any]:
        # An append sent twice would be appended twice: only a request that surely never reached
        # the node (refused connection, 429) is sent again, for about a third of the lease.
        deadline = time.monotonic() + self._retry_for_s
        pause = 0.1
        while True:
            try:
                return self._post(self.name, body)
            except WorkerError as err:
                if not (err.unsent or err.status == 429) or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(2.0, pause * 2)
