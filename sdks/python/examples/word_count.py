"""An Inloop worker doing real work: count the words of a text (given, or fetched from a URL).

Run it next to a node (the job types must be declared there, `jobTypes: ["word-count"]`)::

    INLOOP_URL=http://localhost:8080 INLOOP_API_KEY=... PYTHONPATH=src python3 examples/word_count.py

and start a job from a backend::

    curl -H "authorization: Bearer $INLOOP_API_KEY" -H 'content-type: application/json' \
      -d '{"type":"word-count","input":{"url":"https://www.gutenberg.org/cache/epub/11/pg11.txt"}}' \
      http://localhost:8080/v1/jobs

Watchers see the stages (fetch, count, rank), the progress of each, the running top word as a
partial result, and the final counts.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
import time
import urllib.request
from typing import Any, Callable, Dict

from inloop_worker import JobContext, LeasedJob, PermanentError, Worker

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def fetch(url: str, ctx: JobContext) -> str:
    if not url.startswith(("http://", "https://")):
        raise PermanentError("input.url must be an http(s) URL", "bad_input")
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("content-length") or 0)
        chunks = []
        read = 0
        while True:
            chunk = response.read(64 * 1024)
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
            if total:
                ctx.progress(read / total)
            ctx.check()
    return b"".join(chunks).decode("utf-8", "replace")


def word_count(job: LeasedJob, ctx: JobContext) -> Dict[str, Any]:
    data = job.input if isinstance(job.input, dict) else {}
    delay_s = float(data.get("chunkDelayMs", 0)) / 1000
    # To try out leases: the first attempt sleeps this long before reporting anything. The SDK's
    # heartbeat thread keeps renewing the lease meanwhile (a hung handler keeps its lease), so the
    # lease is only lost when heartbeats are off too (INLOOP_HEARTBEAT_MS longer than the lease),
    # as when a whole worker process freezes.
    if job.attempt == 1 and data.get("stallFirstAttemptMs"):
        time.sleep(float(data["stallFirstAttemptMs"]) / 1000)
    ctx.stage("fetch", weight=1)
    text = fetch(str(data["url"]), ctx) if "url" in data else str(data.get("text", ""))
    ctx.stage("count", weight=3)
    lines = text.splitlines()
    counts: collections.Counter[str] = collections.Counter()
    step = max(1, len(lines) // 20)
    for start in range(0, len(lines), step):
        for line in lines[start : start + step]:
            counts.update(w.lower() for w in WORD.findall(line))
        ctx.progress(min(1.0, (start + step) / max(1, len(lines))))
        if counts:
            word, n = counts.most_common(1)[0]
            ctx.partial({"leader": word, "count": n})
        if delay_s:
            ctx.sleep(delay_s)  # wakes up early, raising Cancelled, when the job is cancelled
        else:
            ctx.check()
    ctx.stage("rank", weight=1)
    top = counts.most_common(10)
    ctx.message(f"{sum(counts.values())} words, {len(counts)} distinct")
    return {"words": sum(counts.values()), "unique": len(counts), "top": top, "attempt": job.attempt}


def tell(job: LeasedJob, ctx: JobContext) -> Dict[str, Any]:
    """Stream the input text word by word into the job's ``answer`` stream, as a model's answer
    reaches watchers. ``append`` does not wait: the words appended while a request is on its way go
    together in the next one."""
    data = job.input if isinstance(job.input, dict) else {}
    delay_s = float(data.get("wordDelayMs", 0)) / 1000
    answer = ctx.stream("answer")
    pieces = re.findall(r"\S+\s*", str(data.get("text", "")))
    for piece in pieces:
        answer.append(piece)
        if delay_s:
            ctx.sleep(delay_s)  # raises Cancelled once someone stops the stream
    return {"pieces": len(pieces)}


def noop(job: LeasedJob, ctx: JobContext) -> Any:
    return job.input


async def noop_async(job: LeasedJob, ctx: JobContext) -> Any:
    """The same as an ``async def`` handler: the SDK runs the coroutine."""
    await asyncio.sleep(0)
    return {"async": job.input}


HANDLERS: Dict[str, Callable[[LeasedJob, JobContext], Any]] = {
    "word-count": word_count,
    "noop": noop,
    "noop-async": noop_async,
    "tell": tell,
}


def handler(job: LeasedJob, ctx: JobContext) -> Any:
    return HANDLERS[job.type](job, ctx)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    env = os.environ
    Worker(
        url=env.get("INLOOP_URL", "http://localhost:8080"),
        api_key=env["INLOOP_API_KEY"],
        types=env.get("INLOOP_TYPES", "word-count").split(","),
        handler=handler,
        concurrency=int(env.get("INLOOP_CONCURRENCY", "1")),
        lease_ms=int(env["INLOOP_LEASE_MS"]) if "INLOOP_LEASE_MS" in env else None,
        heartbeat_ms=int(env["INLOOP_HEARTBEAT_MS"]) if "INLOOP_HEARTBEAT_MS" in env else None,
        wait_ms=int(env.get("INLOOP_WAIT_MS", "20000")),
    ).run()


if __name__ == "__main__":
    main()
