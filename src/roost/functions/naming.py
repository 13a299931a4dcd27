"""Function names, qualifiers and ARNs, in every form the Lambda API accepts.

``FunctionName`` may be a bare name, ``name:qualifier``, a partial ARN
(``123456789012:function:name``) or a full ARN, each optionally qualified.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from roost.api.errors import (
    AwsError,
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)

LATEST = "$LATEST"
MAX_NAME_LENGTH = 64

# The region group follows the model's (standard, GovCloud, ISO and EUSC partitions).
_FUNCTION_REF = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)
_VERSION = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class FunctionRef:
    """A parsed ``FunctionName``: the name and what the caller qualified it with."""

    name: str
    qualifier: str | None = None
    account_id: str | None = None
    region: str | None = None


# Every invoke parses its FunctionName (twice: region check, then lookup); the
# names a node sees repeat, and the parse is pure.
@functools.lru_cache(maxsize=4096)
def _match(value: str) -> dict[str, str | None] | None:
    found = _FUNCTION_REF.fullmatch(value)
    return found.groupdict() if found is not None else None


def parse_function_name(value: str) -> FunctionRef:
    """Parse any accepted form of ``FunctionName``; ``ValidationException`` otherwise."""
    found = _match(value)
    if found is None or len(found["name"] or "") > MAX_NAME_LENGTH:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'functionName' failed to "
            "satisfy constraint: Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
            "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    return FunctionRef(found["name"] or "", found["qualifier"], found["account"], found["region"])


def check_region(value: str, region: str) -> None:
    """Refuse a function ARN of another region, as AWS does (404, not a lookup here)."""
    found = _match(value)
    if found is not None and found["region"] and found["region"] != region:
        raise ResourceNotFoundException(
            f"Functions from '{found['region']}' are not reachable in this region ('{region}')"
        )


def merge_qualifier(ref: FunctionRef, qualifier: str | None) -> str | None:
    """The effective qualifier of a call given both the name's and the parameter's.

    AWS refuses a call whose ARN qualifier and ``Qualifier`` parameter disagree.
    """
    if ref.qualifier and qualifier and ref.qualifier != qualifier:
        raise InvalidParameterValueException(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return qualifier or ref.qualifier


def is_version(qualifier: str) -> bool:
    """Whether ``qualifier`` names a published version number (not an alias)."""
    return bool(_VERSION.match(qualifier))


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    """``arn:aws:lambda:{region}:{account}:function:{name}[:{qualifier}]``."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def access_denied(account_id: str, action: str, resource: str) -> AwsError:
    """The error for touching another account's resource."""
    return AwsError(
        f"User: arn:aws:iam::{account_id}:root is not authorized to perform: "
        f"lambda:{action} on resource: {resource}",
        code="AccessDeniedException",
    )
