"""The worker: lease loops, the job context, heartbeats, completion."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .errors import Cancelled, LeaseLost, PermanentError, WorkerError
from .http import Http
from .streams import Stream

Json = Any
"""A JSON value: what ``json.dumps`` accepts."""

log = logging.getLogger("inloop_worker")

# Codes that mean this attempt is over: nothing it reports counts any more.
_GONE = ("lease_lost", "not_found", "job_finished")


@dataclass(frozen=True)
class LeasedJob:
    """What a handler sees of its job."""

    id: str
    type: str
    input: Json
    size: Optional[Dict[str, Any]]
    attempt: int
    #: Fencing token: larger for every later lease of this job. Pass it to your own storage to
    #: reject writes from a stale attempt.
    fence: int


class JobContext:
    """The handler's way to keep watchers in the loop; every report also renews the lease.

    ``cancelled`` is set when the job is cancelled or the lease is lost; ``check()`` raises
    :class:`Cancelled` (or :class:`LeaseLost`) then, and ``sleep()`` wakes up early.
    """

    def __init__(self, http: Http, job: LeasedJob, lease: str, lease_ms: int) -> None:
        self.job = job
        self.cancelled = threading.Event()
        self.reason: Optional[str] = None
        self._http = http
        self._lease = lease
        self._lease_ms = lease_ms
        self._path = f"/v1/jobs/{job.id}"
        self._streams: Dict[str, Stream] = {}
        self._streams_lock = threading.Lock()

    # -- reports ------------------------------------------------------------------------------

    def stage(self, name: str, weight: Optional[float] = None) -> None:
        """Enter a named stage (``weight``: its share of the whole job, relative to the others)."""
        stage: Dict[str, Any] = {"name": name}
        if weight is not None:
            stage["weight"] = weight
        self._report("progress", {"stage": stage})

    def progress(self, fraction: float) -> None:
        """Progress of the current stage (or of the job without stages), from 0 to 1."""
        self._report("progress", {"progress": min(1.0, max(0.0, float(fraction)))})

    def partial(self, chunk: Json) -> None:
        """A partial result, shown to watchers as it arrives (a transcript line, a thumbnail URL)."""
        self._report("progress", {"partial": chunk})

    def message(self, text: str) -> None:
        """A short human-readable status line."""
        self._report("progress", {"message": text[:500]})

    def heartbeat(self) -> None:
        """Renew the lease without reporting anything (the SDK also does this on its own)."""
        self._report("heartbeat", {})

    def stream(self, name: str) -> Stream:
        """The job's stream ``name`` (1 to 64 of ``A-Z a-z 0-9 _ . -``): ``ctx.stream("answer").append(token)``.

        Watchers get the text as it grows and resume by offset (docs/streams.md); it ends with
        the job (``finished`` when the job succeeds), or earlier with ``end()``. Someone who stops
        it cancels the job: ``cancelled`` is set and later appends raise ``stream_ended``.
        """
        with self._streams_lock:
            stream = self._streams.get(name)
            if stream is None:
                stream = Stream(name, self._stream_post, retry_for_s=max(1.0, self._lease_ms / 3000))
                self._streams[name] = stream
            return stream

    def _stream_post(self, name: str, body: Dict[str, Any]) -> Dict[str, Any]:
        quoted = urllib.parse.quote(name, safe="")
        try:
            _, reply = self._http.post_once(f"{self._path}/streams/{quoted}", {"lease": self._lease, **body})
        except WorkerError as err:
            if err.code in _GONE:
                self._cancel(err.code)
            elif err.code == "stream_ended":
                # Stopped by a watcher: the job is being cancelled, and a heartbeat's reply says so.
                try:
                    self.heartbeat()
                except WorkerError:
                    pass
            raise
        if isinstance(reply, dict) and reply.get("cancelRequested"):
            self._cancel("cancelled")
        return reply if isinstance(reply, dict) else {}

    def _settle_streams(self) -> None:
        """Every append on its way has been answered (before the job completes or fails)."""
        with self._streams_lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream._settle()

    # -- cancellation -------------------------------------------------------------------------

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` (or :class:`LeaseLost`) if the work should stop."""
        if self.cancelled.is_set():
            raise LeaseLost(self.reason or "lease_lost") if self.reason in _GONE else Cancelled(self.reason or "cancelled")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking up (with :class:`Cancelled`) as soon as the job is cancelled."""
        self.cancelled.wait(seconds)
        self.check()

    def _cancel(self, reason: str) -> None:
        if not self.cancelled.is_set():
            self.reason = reason
            self.cancelled.set()
            log.info("job %s: stopping (%s)", self.job.id, reason)

    def _report(self, endpoint: str, body: Dict[str, Any]) -> None:
        if self.cancelled.is_set():
            return
        try:
            # A transient failure is retried for about a third of the lease: past it, the
            # heartbeat (or the next report) carries the news instead.
            _, reply = self._http.post(
                f"{self._path}/{endpoint}",
                {"lease": self._lease, **body},
                retry_for_s=max(1.0, self._lease_ms / 3000),
                stop=self.cancelled.is_set,
            )
        except WorkerError as err:
            if err.code in _GONE:
                self._cancel(err.code)
                return
            if err.transient:
                log.warning("job %s: %s report not delivered: %s", self.job.id, endpoint, err)
                return
            raise
        if isinstance(reply, dict) and reply.get("cancelRequested"):
            self._cancel("cancelled")


Handler = Callable[[LeasedJob, JobContext], Json]
"""``handler(job, ctx)``, plain or ``async def``; it returns the job's result (JSON).

The ``ctx`` calls block while they reach the node (a few milliseconds); an async handler that
cannot afford that can call them through ``asyncio.to_thread``."""


class Worker:
    """A remote worker: long-polls ``POST /v1/workers/lease`` for jobs of its types, runs the
    handler (in a thread per ``concurrency``), heartbeats while it works, and completes or fails
    the job. Transient HTTP failures (no connection, 5xx, 429) are retried with backoff, so a
    node restart only pauses the worker.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        types: List[str],
        handler: Handler,
        concurrency: int = 1,
        name: Optional[str] = None,
        lease_ms: Optional[int] = None,
        heartbeat_ms: Optional[int] = None,
        wait_ms: int = 20_000,
    ) -> None:
        if not types:
            raise ValueError("types must name at least one job type")
        self.types = list(types)
        self.handler = handler
        self.concurrency = concurrency
        self.name = name or f"python-{os.getpid()}"
        self.lease_ms = lease_ms
        self.heartbeat_ms = heartbeat_ms
        self.wait_ms = wait_ms
        self._http = Http(url, api_key, timeout_s=wait_ms / 1000 + 15)
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self.error: Optional[BaseException] = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start ``concurrency`` lease loops in background threads."""
        self._stop.clear()
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"inloop-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: Optional[float] = None) -> None:
        """Stop leasing; jobs in progress finish first (a pending long-poll ends within wait_ms)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []

    def run(self) -> None:
        """Start, and block until SIGINT or SIGTERM; then stop gracefully."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        self.start()
        try:
            while not self._stop.wait(0.5):
                if not any(t.is_alive() for t in self._threads):
                    break
        except KeyboardInterrupt:
            pass
        self.stop()
        if self.error is not None:
            raise self.error

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            body: Dict[str, Any] = {"types": self.types, "worker": self.name, "waitMs": self.wait_ms}
            if self.lease_ms:
                body["leaseMs"] = self.lease_ms
            try:
                status, reply = self._http.post_once("/v1/workers/lease", body)
                failures = 0
            except WorkerError as err:
                if not err.transient:
                    log.error("leasing refused, worker stops: %s (%s)", err, err.code)
                    self.error = err
                    self._stop.set()
                    return
                pause = min(10.0, 0.25 * 2**failures)
                failures += 1
                log.warning("leasing failed (%s), again in %.1f s", err, pause)
                self._stop.wait(pause)
                continue
            if status == 204 or not reply:
                continue
            self._run(reply)

    def _run(self, reply: Dict[str, Any]) -> None:
        raw, lease = reply["job"], reply["lease"]
        job = LeasedJob(
            id=raw["id"],
            type=raw["type"],
            input=raw.get("input"),
            size=raw.get("size"),
            attempt=int(raw.get("attempt", 1)),
            fence=int(lease["fence"]),
        )
        lease_ms = max(1000, int(lease["expiresAt"] - time.time() * 1000))
        ctx = JobContext(self._http, job, lease["token"], lease_ms)
        every = (self.heartbeat_ms or max(250, lease_ms // 3)) / 1000
        done = threading.Event()

        def beat() -> None:
            while not done.wait(every):
                try:
                    ctx.heartbeat()
                except WorkerError as err:
                    log.warning("job %s: heartbeat failed: %s", job.id, err)

        heartbeat = threading.Thread(target=beat, name=f"inloop-heartbeat-{job.id}", daemon=True)
        heartbeat.start()
        path = f"/v1/jobs/{job.id}"
        try:
            try:
                result = self.handler(job, ctx)
                # An `async def` handler runs on its own event loop in this worker thread.
                if asyncio.iscoroutine(result):
                    result = asyncio.run(result)
            finally:
                # Appends still on their way land before the job (and so its streams) ends.
                ctx._settle_streams()
                done.set()
            if ctx.reason in _GONE:
                return  # Another attempt owns the job now: this result does not count.
            self._finish(f"{path}/complete", {"lease": lease["token"], "result": result}, job)
        except Cancelled as err:
            if err.reason not in _GONE and ctx.reason not in _GONE:
                self._finish(
                    f"{path}/fail",
                    {"lease": lease["token"], "error": {"message": "cancelled", "code": "cancelled"}, "retryable": False},
                    job,
                )
        except Exception as err:  # noqa: BLE001 - a handler's failure is reported, never fatal
            permanent = isinstance(err, PermanentError)
            log.info("job %s: handler failed: %r", job.id, err)
            self._finish(
                f"{path}/fail",
                {
                    "lease": lease["token"],
                    "error": {
                        "message": str(err)[:2000] or type(err).__name__,
                        "code": err.code if isinstance(err, PermanentError) else "worker_error",
                    },
                    "retryable": not permanent,
                },
                job,
            )
        finally:
            done.set()

    def _finish(self, path: str, body: Dict[str, Any], job: LeasedJob) -> None:
        try:
            # The outcome matters most: retried through a node restart, for up to two minutes.
            self._http.post(path, body, retry_for_s=120.0)
        except WorkerError as err:
            # The lease is gone (cancelled, expired, taken over): the node already decided.
            log.info("job %s: outcome not accepted: %s (%s)", job.id, err, err.code)


