"""The pieces of a SigV4 canonical request, and the signing key.

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

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_plus

from roost.auth.errors import IncompleteSignatureException, InvalidSignatureException

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SCOPE_TERMINATOR = "aws4_request"

_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")

HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class CredentialScope:
    """The ``date/region/service/aws4_request`` part of a credential."""

    date: str
    region: str
    service: str

    def __str__(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{SCOPE_TERMINATOR}"


# Paths repeat (one per function and operation), and quoting is slow in Python.
@functools.lru_cache(maxsize=4096)
def canonical_uri(path: str) -> str:
    """The canonical URI of a raw request path, as botocore signs it for non-S3 services."""
    return quote(_remove_dot_segments(path) if path else "/", safe="/~")


def canonical_query_string(query: str, *, exclude: str | None = None) -> str:
    """The canonical query string of a raw query; pairs whose key is ``exclude`` are left out."""
    if not query:
        return ""
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


def canonical_headers(headers: Mapping[str, str], signed: Sequence[str]) -> str:
    """The canonical header lines of the ``signed`` names, from folded headers.

    Collapsing whitespace again is harmless for ``fold_headers`` output and makes
    a server's own folding (values trimmed, repeats joined with ``,``) enough.
    """
    lines = []
    for name in signed:
        key = name.lower()
        value = headers.get(key)
        if value is None:
            raise InvalidSignatureException(f"Signed header '{name}' is missing from the request.")
        lines.append(f"{key}:{' '.join(value.split())}")
    return "\n".join(lines)


def fold_headers(headers: HeaderInput) -> dict[str, str]:
    """Headers keyed by lower-cased name; a repeated header's values, each trimmed and
    its inner whitespace collapsed, joined with ``,`` in order."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    folded: dict[str, list[str]] = {}
    for name, value in pairs:
        folded.setdefault(name.lower(), []).append(value)
    return {name: canonical_header_value(values) for name, values in folded.items()}


def declared_payload_hash(headers: Mapping[str, str]) -> str | None:
    """The ``x-amz-content-sha256`` header's value, or None; unsupported values are refused."""
    value = headers.get("x-amz-content-sha256")
    if value is None:
        return None
    if value == UNSIGNED_PAYLOAD or _SHA256_HEX_RE.fullmatch(value):
        return value
    # Chunked (aws-chunked, STREAMING-*) payloads are an S3 feature Lambda lacks.
    raise IncompleteSignatureException(f"Unsupported x-amz-content-sha256 value: '{value}'.")


def signing_key(secret_access_key: str, scope: CredentialScope) -> bytes:
    """The SigV4 signing key for a secret and a credential scope."""
    k_date = _hmac(f"AWS4{secret_access_key}".encode(), scope.date)
    k_region = _hmac(k_date, scope.region)
    k_service = _hmac(k_region, scope.service)
    return _hmac(k_service, SCOPE_TERMINATOR)


def sha256_hex(data: bytes) -> str:
    """The lower-case hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


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
