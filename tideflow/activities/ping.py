"""The activity half of the ping round trip."""

from __future__ import annotations

import os
import socket

from pydantic import BaseModel
from temporalio import activity


class PingInput(BaseModel):
    """What to echo."""

    message: str = "ping"


class PingResult(BaseModel):
    """The echo and which worker process answered."""

    message: str
    worker: str


@activity.defn(name="ping")
async def ping(request: PingInput) -> PingResult:
    """Answer with the message and this worker's identity."""
    return PingResult(message=request.message, worker=f"{socket.gethostname()}:{os.getpid()}")
