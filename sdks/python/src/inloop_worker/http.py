"""A small JSON-over-HTTP client on urllib, with retries of transient failures."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

from .errors import WorkerError

USER_AGENT = "inloop-worker-python/0.1.0"


class Http:
    """Posts JSON to the node with a bearer API key.

    ``post`` retries what may succeed later (no connection, 5xx, 408, 429) with exponential
    backoff and jitter, for at most ``retry_for_s`` seconds, and raises :class:`WorkerError` for
    the rest (4xx: the request itself is wrong, or the lease is gone).
    """

    def __init__(self, url: str, api_key: str, timeout_s: float = 35.0) -> None:
        self.base = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def post_once(self, path: str, body: Any, timeout_s: Optional[float] = None) -> tuple[int, Any]:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method="POST",
            headers={
                "authorization": f"Bearer {self.api_key}",
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                text = response.read().decode("utf-8")
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            try:
                problem = json.loads(text) if text else {}
            except ValueError:
                problem = {}
            code = str(problem.get("code", "unavailable" if err.code >= 500 else "bad_request"))
            raise WorkerError(code, err.code, str(problem.get("detail") or problem.get("title") or code)) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as err:
            refused = isinstance(getattr(err, "reason", err), ConnectionRefusedError)
            raise WorkerError("unreachable", 0, f"the node did not answer: {err}", unsent=refused) from None

    def post(
        self,
        path: str,
        body: Any,
        retry_for_s: float = 30.0,
        timeout_s: Optional[float] = None,
        stop: Optional[Callable[[], bool]] = None,
    ) -> tuple[int, Any]:
        deadline = time.monotonic() + retry_for_s
        failures = 0
        while True:
            try:
                return self.post_once(path, body, timeout_s)
            except WorkerError as err:
                if not err.transient or time.monotonic() >= deadline or (stop is not None and stop()):
                    raise
                pause = min(5.0, 0.1 * 2**failures) * (0.5 + random.random())
                failures += 1
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
