"""What every handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """The authenticated caller and the request's identity."""

    account_id: str
    access_key_id: str
    request_id: str
    region: str
    operation: str
    endpoint: str = ""
