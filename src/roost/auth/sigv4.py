"""AWS Signature Version 4 verification of incoming HTTP requests.

The verifier rebuilds the canonical request exactly as botocore's ``SigV4Auth``
builds it for non-S3 services such as ``lambda``, derives the signing key from
the secret of the access key named in the credential scope and compares
signatures in constant time. It knows nothing of any web framework: the HTTP
layer copies what it received into a ``SignedRequest``.

Two forms are accepted: the ``Authorization: AWS4-HMAC-SHA256 ...`` header that
every AWS SDK and the AWS CLI send, and presigned URLs (``X-Amz-Algorithm``,
``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature`` in the query string).

Canonicalisation rules, checked against botocore's signer:

- Path: dot segments and empty segments are removed, then the path *as received*
  (still percent-encoded) is percent-encoded again, keeping only ``/`` and ``~``.
  So ``/functions/arn%3Aaws...`` is signed as ``/functions/arn%253Aaws...``:
  non-S3 services sign a doubly encoded path.
- Query: split on ``&``, split each pair on the first ``=`` (a bare key gets an
  empty value), decode, re-encode with only ``-_.~`` left unencoded, sort by
  encoded key then encoded value (repeated keys keep every value). For the
  queries botocore emits, decoding then re-encoding is the identity; for others
  it makes the signature cover what the application will read (``+`` is read as
  a space, like the form decoders of web frameworks do).
- Headers: the names listed in ``SignedHeaders``, values with runs of whitespace
  collapsed to one space, repeated headers joined with ``,``.
- Payload: the ``x-amz-content-sha256`` header verbatim when present (after
  checking it against the body unless it is ``UNSIGNED-PAYLOAD``), otherwise the
  SHA-256 of the body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import ClassVar
from urllib.parse import quote, unquote_plus

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SCOPE_TERMINATOR = "aws4_request"
MAX_CLOCK_SKEW_S = 15 * 60
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
# Derived signing keys are valid for one day and one scope; caching them saves
# four HMACs per request. Bounded so a flood of scopes cannot grow it forever.
_SIGNING_KEY_CACHE_MAX = 1024


class AuthError(Exception):
    """A request failed authentication; ``code`` is the AWS error code.

    Every subclass maps to HTTP 403 with ``x-amzn-ErrorType: <code>``.
    """

    code: ClassVar[str] = "AccessDeniedException"
    status: ClassVar[int] = 403
    default_message: ClassVar[str] = "Access denied."

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)


class MissingAuthenticationTokenException(AuthError):
    """The request carries neither an Authorization header nor a presigned query."""

    code = "MissingAuthenticationTokenException"
    default_message = "Missing Authentication Token"


class IncompleteSignatureException(AuthError):
    """The signature is malformed: a required part is missing or unparsable."""

    code = "IncompleteSignatureException"
    default_message = "The request signature does not conform to AWS standards."


class InvalidSignatureException(AuthError):
    """The signature does not match, is out of its time window or wrongly scoped."""

    code = "InvalidSignatureException"
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class UnrecognizedClientException(AuthError):
    """The access key id is not known."""

    code = "UnrecognizedClientException"
    default_message = "The security token included in the request is invalid."


@dataclass(frozen=True)
class Credential:
    """An access key pair and the account it belongs to."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account_id: str


CredentialLookup = Callable[[str], Awaitable[Credential | None]]
"""Returns the credential of an access key id, or None if it is unknown."""

HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as received, before any decoding by a framework.

    ``path`` is the raw request path (percent-encoding intact, no query);
    ``query_string`` the raw query without ``?``. ``headers`` is a mapping or a
    list of (name, value) pairs; names are matched case-insensitively, and
    repeated headers are honoured when given as pairs or by a mapping whose
    ``items()`` yields every pair (Starlette's ``Headers`` does).
    """

    method: str
    path: str
    query_string: bytes | str = b""
    headers: HeaderInput = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class CredentialScope:
    """The ``date/region/service/aws4_request`` part of a credential."""

    date: str
    region: str
    service: str

    def __str__(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{SCOPE_TERMINATOR}"


@dataclass(frozen=True)
class VerifiedRequest:
    """Who signed a request that passed verification, and how."""

    access_key_id: str
    account_id: str
    scope: CredentialScope
    signed_at: datetime
    presigned: bool


@dataclass(frozen=True)
class _AuthParams:
    access_key_id: str
    scope: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    signed_at: datetime
    expires_s: int | None
    query_exclude: str | None


def canonical_uri(path: str) -> str:
    """The canonical URI of a raw request path, as botocore signs it for non-S3 services."""
    return quote(_remove_dot_segments(path) if path else "/", safe="/~")


def canonical_query_string(query: str, *, exclude: str | None = None) -> str:
    """The canonical query string of a raw query; pairs whose key is ``exclude`` are left out."""
    pairs: list[tuple[str, str]] = []
    for piece in query.split("&"):
        # Empty pieces ("a=1&&b=2") carry no parameter; framework parsers drop
        # them too, and no SDK emits them.
        if not piece:
            continue
        raw_key, _, raw_value = piece.partition("=")
        key = unquote_plus(raw_key, errors="strict")
        if exclude is not None and key == exclude:
            continue
        pairs.append((_uri_encode(key), _uri_encode(unquote_plus(raw_value, errors="strict"))))
    pairs.sort()
    return "&".join(f"{key}={value}" for key, value in pairs)


def canonical_header_value(values: Sequence[str]) -> str:
    """Values of one header, trimmed, inner whitespace collapsed, joined with commas."""
    return ",".join(" ".join(value.split()) for value in values)


def signing_key(secret_access_key: str, scope: CredentialScope) -> bytes:
    """The SigV4 signing key for a secret and a credential scope."""
    k_date = _hmac(f"AWS4{secret_access_key}".encode(), scope.date)
    k_region = _hmac(k_date, scope.region)
    k_service = _hmac(k_region, scope.service)
    return _hmac(k_service, SCOPE_TERMINATOR)


class SigV4Verifier:
    """Verifies SigV4-signed requests against credentials from ``lookup``.

    ``service``, when set, is the only service name accepted in credential
    scopes. ``clock`` returns the current Unix time in seconds; requests signed
    more than ``max_skew_s`` away from it are refused.
    """

    def __init__(
        self,
        lookup: CredentialLookup,
        *,
        service: str | None = None,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lookup = lookup
        self._service = service
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._signing_keys: dict[tuple[str, str, CredentialScope], bytes] = {}

    async def verify(self, request: SignedRequest) -> VerifiedRequest:
        """Check the request's signature; raise an ``AuthError`` subclass if it fails."""
        headers = _fold_headers(request.headers)
        query = _text(request.query_string)
        params = self._parse(headers, query)
        self._check_scope(params)
        self._check_time(params)

        credential = await self._lookup(params.access_key_id)
        if credential is None:
            raise UnrecognizedClientException()

        declared_hash = _declared_payload_hash(headers)
        body_hash = None if declared_hash == UNSIGNED_PAYLOAD else _sha256_hex(request.body)
        payload_hash = declared_hash or body_hash or ""
        try:
            uri = canonical_uri(request.path)
            canonical_query = canonical_query_string(query, exclude=params.query_exclude)
        except UnicodeError:
            # Bytes that are not UTF-8 cannot have been signed by an SDK; refusing
            # them keeps two different requests from sharing one canonical form.
            raise InvalidSignatureException("The request target is not valid UTF-8.") from None
        canonical = "\n".join(
            [
                request.method.upper(),
                uri,
                canonical_query,
                _canonical_headers(headers, params.signed_headers) + "\n",
                ";".join(params.signed_headers),
                payload_hash,
            ]
        )
        string_to_sign = "\n".join(
            [
                ALGORITHM,
                params.timestamp,
                str(params.scope),
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = self._signing_key(credential, params.scope)
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), params.signature.encode()):
            raise InvalidSignatureException()
        # Checked only after the signature so that a caller without the secret
        # learns nothing from which check failed.
        if (
            declared_hash is not None
            and body_hash is not None
            and not hmac.compare_digest(declared_hash.lower().encode(), body_hash.encode())
        ):
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        return VerifiedRequest(
            access_key_id=credential.access_key_id,
            account_id=credential.account_id,
            scope=params.scope,
            signed_at=params.signed_at,
            presigned=params.expires_s is not None,
        )

    def _signing_key(self, credential: Credential, scope: CredentialScope) -> bytes:
        cache_key = (credential.access_key_id, credential.secret_access_key, scope)
        key = self._signing_keys.get(cache_key)
        if key is None:
            if len(self._signing_keys) >= _SIGNING_KEY_CACHE_MAX:
                self._signing_keys.clear()
            key = self._signing_keys[cache_key] = signing_key(credential.secret_access_key, scope)
        return key

    def _parse(self, headers: Mapping[str, list[str]], query: str) -> _AuthParams:
        authorization = headers.get("authorization")
        if authorization is not None:
            return _parse_header_auth(",".join(authorization), headers)
        if "X-Amz-Algorithm=" in query:
            return _parse_query_auth(query)
        raise MissingAuthenticationTokenException()

    def _check_scope(self, params: _AuthParams) -> None:
        scope = params.scope
        if scope.date != params.timestamp[:8]:
            raise InvalidSignatureException(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope.date}' != '{params.timestamp[:8]}', "
                f"from '{params.timestamp}'."
            )
        if self._service is not None and scope.service != self._service:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{self._service}'."
            )

    def _check_time(self, params: _AuthParams) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        skew = timedelta(seconds=self._max_skew_s)
        if params.signed_at > now + skew:
            raise InvalidSignatureException(
                f"Signature not yet current: {params.timestamp} is still later than "
                f"{_format(now + skew)} ({_format(now)} + 15 min.)"
            )
        if params.expires_s is not None:
            # Presigned URLs carry their own lifetime instead of the skew window.
            if now > params.signed_at + timedelta(seconds=params.expires_s):
                raise InvalidSignatureException(
                    f"Signature expired: {params.timestamp} is now earlier than "
                    f"{_format(now - timedelta(seconds=params.expires_s))} "
                    f"({_format(now)} - {params.expires_s} sec.)"
                )
        elif params.signed_at < now - skew:
            raise InvalidSignatureException(
                f"Signature expired: {params.timestamp} is now earlier than "
                f"{_format(now - skew)} ({_format(now)} - 15 min.)"
            )


def _parse_header_auth(value: str, headers: Mapping[str, list[str]]) -> _AuthParams:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = field_value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if n not in fields]
    if missing:
        raise IncompleteSignatureException(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
        )
    timestamp, signed_at = _header_timestamp(headers)
    access_key_id, scope = _parse_credential(fields["Credential"])
    return _AuthParams(
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=_parse_signed_headers(fields["SignedHeaders"]),
        signature=_check_signature_format(fields["Signature"]),
        timestamp=timestamp,
        signed_at=signed_at,
        expires_s=None,
        query_exclude=None,
    )


def _parse_query_auth(query: str) -> _AuthParams:
    values: dict[str, list[str]] = {}
    for piece in query.split("&"):
        raw_key, _, raw_value = piece.partition("=")
        try:
            key, value = unquote_plus(raw_key, errors="strict"), unquote_plus(raw_value)
        except UnicodeDecodeError:
            continue
        if key.startswith("X-Amz-"):
            values.setdefault(key, []).append(value)

    def one(name: str) -> str:
        found = values.get(name, [])
        if len(found) != 1:
            raise IncompleteSignatureException(
                f"AWS query-string parameters must include '{name}' exactly once."
            )
        return found[0]

    if one("X-Amz-Algorithm") != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{values['X-Amz-Algorithm'][0]}'."
        )
    timestamp = one("X-Amz-Date")
    expires = one("X-Amz-Expires")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGN_EXPIRES_S:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be a whole number of seconds between 1 and "
            f"{MAX_PRESIGN_EXPIRES_S}."
        )
    access_key_id, scope = _parse_credential(one("X-Amz-Credential"))
    return _AuthParams(
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=_parse_signed_headers(one("X-Amz-SignedHeaders")),
        signature=_check_signature_format(one("X-Amz-Signature")),
        timestamp=timestamp,
        signed_at=_parse_amz_date(timestamp),
        expires_s=int(expires),
        query_exclude="X-Amz-Signature",
    )


def _parse_credential(value: str) -> tuple[str, CredentialScope]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            f"Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{value}'."
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != SCOPE_TERMINATOR:
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', "
            f"not '{terminator}'."
        )
    return access_key_id, CredentialScope(date=date, region=region, service=service)


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(names):
        raise IncompleteSignatureException(f"Malformed SignedHeaders: '{value}'.")
    # Without a signed Host a signature could be replayed against another
    # endpoint; AWS refuses it for the same reason.
    if "host" not in (name.lower() for name in names):
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    return names


def _check_signature_format(value: str) -> str:
    if not _SIGNATURE_RE.fullmatch(value):
        raise InvalidSignatureException()
    return value


def _header_timestamp(headers: Mapping[str, list[str]]) -> tuple[str, datetime]:
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        return amz_date[0], _parse_amz_date(amz_date[0])
    date = headers.get("date")
    if date is not None:
        try:
            parsed = parsedate_to_datetime(date[0]).astimezone(UTC)
        except (TypeError, ValueError):
            raise IncompleteSignatureException(f"Unparsable Date header: '{date[0]}'.") from None
        return _format(parsed), parsed
    raise IncompleteSignatureException(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{value}'."
        ) from None


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _declared_payload_hash(headers: Mapping[str, list[str]]) -> str | None:
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return None
    value = ",".join(declared)
    if value == UNSIGNED_PAYLOAD or _SHA256_HEX_RE.fullmatch(value):
        return value
    # Chunked (aws-chunked, STREAMING-*) payloads are an S3 feature Lambda lacks.
    raise IncompleteSignatureException(f"Unsupported x-amz-content-sha256 value: '{value}'.")


def _canonical_headers(headers: Mapping[str, list[str]], signed: Sequence[str]) -> str:
    lines = []
    for name in signed:
        values = headers.get(name.lower())
        if values is None:
            raise InvalidSignatureException(f"Signed header '{name}' is missing from the request.")
        lines.append(f"{name.lower()}:{canonical_header_value(values)}")
    return "\n".join(lines)


def _fold_headers(headers: HeaderInput) -> dict[str, list[str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    folded: dict[str, list[str]] = {}
    for name, value in pairs:
        folded.setdefault(name.lower(), []).append(value)
    return folded


def _text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise InvalidSignatureException("The request query string is not valid UTF-8.") from None


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, plus removal of empty segments, exactly as
    # botocore.utils.remove_dot_segments does before signing.
    output: list[str] = []
    for segment in path.split("/"):
        if segment and segment != ".":
            if segment == "..":
                if output:
                    output.pop()
            else:
                output.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and output else ""
    return first + "/".join(output) + last


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _format(moment: datetime) -> str:
    return moment.strftime(TIMESTAMP_FORMAT)
