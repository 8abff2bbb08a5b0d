"""Errors of the worker SDK."""

from __future__ import annotations


class WorkerError(Exception):
    """An HTTP error from the node, with its stable code (docs/errors.md)."""

    def __init__(self, code: str, status: int, message: str, unsent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        #: The request never reached the node (the connection was refused): safe to send again
        #: even when sending it twice would not be (a stream's append).
        self.unsent = unsent

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed later: 5xx, 408 and 429, or no answer at all."""
        return self.status == 0 or self.status >= 500 or self.status in (408, 429)


class PermanentError(Exception):
    """Raise from a handler for a failure that retrying cannot fix: the job fails for good."""

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


class Cancelled(Exception):
    """Raised by ``ctx.check()`` once the job was cancelled or its lease lost: stop the work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LeaseLost(Cancelled):
    """The lease expired or moved to another worker: this attempt's reports no longer count."""
