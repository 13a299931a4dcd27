"""The front end's authentication step: SigV4 verification as an AWS error."""

from __future__ import annotations

from roost.api.errors import AwsError
from roost.auth.errors import AuthError
from roost.auth.sigv4 import SignedRequest, SigV4Verifier


class SigV4Authenticator:
    """Verifies a request's signature and names the caller's account."""

    def __init__(self, verifier: SigV4Verifier) -> None:
        self._verifier = verifier

    async def authenticate(self, request: SignedRequest) -> tuple[str, str]:
        """``(account_id, access_key_id)`` or an ``AwsError`` with status 403."""
        try:
            verified = await self._verifier.verify(request)
        except AuthError as error:
            raise AwsError(error.message, code=error.code, status=error.status) from None
        return verified.account_id, verified.access_key_id
