"""Inloop remote job worker SDK (standard library only).

The same handler shape as ``@inloop/worker``::

    from inloop_worker import Worker

    def handler(job, ctx):
        ctx.stage("download")
        ...
        ctx.progress(0.5)
        return {"ok": True}

    Worker(url="http://localhost:8080", api_key="...", types=["transcribe"], handler=handler).run()
"""

from .errors import Cancelled, LeaseLost, PermanentError, WorkerError
from .streams import Stream
from .worker import Json, JobContext, LeasedJob, Worker

__all__ = [
    "Cancelled",
    "JobContext",
    "Json",
    "LeaseLost",
    "LeasedJob",
    "PermanentError",
    "Stream",
    "Worker",
    "WorkerError",
]
__version__ = "0.1.0"
