"""Parsing a request's SigV4 authorization into ``AuthParams``.

Two forms are accepted: the ``Authorization: AWS4-HMAC-SHA256 ...`` header that
every AWS SDK and the AWS CLI send, and presigned URLs (``X-Amz-Algorithm``,
``X-Amz-Credential``, ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
``X-Amz-Signature`` in the query string). Parsing checks only the form of what
the client sent; the verifier checks scope, time and signature.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_plus

from roost.auth.canonical import ALGORITHM, SCOPE_TERMINATOR, CredentialScope
from roost.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
)

MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"

_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuthParams:
    """What a request claims about its signature, before any of it is checked.

    ``expires_s`` is set only for presigned URLs; ``query_exclude`` names the
    query parameter left out of the canonical query (the signature itself).
    """

    access_key_id: str
    scope: CredentialScope
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    signed_at: datetime
    expires_s: int | None
    query_exclude: str | None


def parse_authorization(headers: Mapping[str, str], query: str) -> AuthParams:
    """The authorization of a request, from its folded headers or its raw query string."""
    authorization = headers.get("authorization")
    if authorization is not None:
        return _parse_header_auth(authorization, headers)
    if "X-Amz-Algorithm=" in query:
        return _parse_query_auth(query)
    raise MissingAuthenticationTokenException()


def format_timestamp(moment: datetime) -> str:
    """``moment`` in the ISO 8601 basic format SigV4 signs (``YYYYMMDD'T'HHMMSS'Z'``)."""
    return moment.strftime(TIMESTAMP_FORMAT)


def _parse_header_auth(value: str, headers: Mapping[str, str]) -> AuthParams:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    # Everything but the signature repeats from request to request: the fields
    # are parsed once per distinct rest-of-header, with the signature blanked.
    start = rest.find(_SIGNATURE_FIELD)
    signature = ""
    if start >= 0:
        start += len(_SIGNATURE_FIELD)
        end = rest.find(",", start)
        end = len(rest) if end < 0 else end
        signature = rest[start:end].strip()
        rest = rest[:start] + rest[end:]
    credential, signed_headers = _header_fields(rest)
    timestamp, signed_at = _header_timestamp(headers)
    access_key_id, scope = _parse_credential(credential)
    return AuthParams(
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=_parse_signed_headers(signed_headers),
        signature=_check_signature_format(signature),
        timestamp=timestamp,
        signed_at=signed_at,
        expires_s=None,
        query_exclude=None,
    )


_SIGNATURE_FIELD = "Signature="


@functools.lru_cache(maxsize=1024)
def _header_fields(rest: str) -> tuple[str, str]:
    """``Credential`` and ``SignedHeaders`` of an Authorization header's fields."""
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
    return fields["Credential"], fields["SignedHeaders"]


def _parse_query_auth(query: str) -> AuthParams:
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
    return AuthParams(
        access_key_id=access_key_id,
        scope=scope,
        signed_headers=_parse_signed_headers(one("X-Amz-SignedHeaders")),
        signature=_check_signature_format(one("X-Amz-Signature")),
        timestamp=timestamp,
        signed_at=_parse_amz_date(timestamp),
        expires_s=int(expires),
        query_exclude="X-Amz-Signature",
    )


# A client sends the same credential and signed headers on every request of a
# day; parsing them is pure, so results are cached (errors are not).
@functools.lru_cache(maxsize=1024)
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


@functools.lru_cache(maxsize=1024)
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


def _header_timestamp(headers: Mapping[str, str]) -> tuple[str, datetime]:
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        return amz_date, _parse_amz_date(amz_date)
    date = headers.get("date")
    if date is not None:
        try:
            parsed = parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            raise IncompleteSignatureException(f"Unparsable Date header: '{date}'.") from None
        return format_timestamp(parsed), parsed
    raise IncompleteSignatureException(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


# Requests signed in the same second share a timestamp; strptime is slow enough
# to show on the invoke path, and datetimes are immutable, so results are cached.
@functools.lru_cache(maxsize=4096)
def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"X-Amz-Date must be in ISO 8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got '{value}'."
        ) from None
