"""Presigned download links for deployment packages (GetFunction's ``Code.Location``).

AWS answers GetFunction with a presigned S3 URL valid for 10 minutes; Roost answers
with a URL on itself, signed with an HMAC key that lives as long as the process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

LINK_TTL_S = 600
PATH_PREFIX = "/_roost/code/"


class CodeLinkSigner:
    """Makes and checks expiring download links for code blobs."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self._clock = clock

    def _signature(self, sha256_hex: str, expires: int) -> str:
        message = f"{sha256_hex}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def link(self, endpoint: str, sha256_hex: str) -> str:
        """A URL under ``endpoint`` that downloads the blob for ``LINK_TTL_S`` seconds."""
        expires = int(self._clock()) + LINK_TTL_S
        signature = self._signature(sha256_hex, expires)
        return f"{endpoint}{PATH_PREFIX}{sha256_hex}?expires={expires}&signature={signature}"

    def check(self, sha256_hex: str, expires: str, signature: str) -> bool:
        """Whether a link's signature is ours and it has not expired."""
        if not expires.isdigit() or int(expires) < self._clock():
            return False
        return hmac.compare_digest(self._signature(sha256_hex, int(expires)), signature)
