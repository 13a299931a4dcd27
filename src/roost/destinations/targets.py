"""Destination ARNs: which service, region, account and resource a record goes to."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# arn:partition:service:region:account:resource; an S3 bucket has no region or account.
_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):(?P<service>[a-z0-9-]+):"
    r"(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:(?P<resource>.+)$"
)


class TargetKind(enum.StrEnum):
    """The services a destination or dead-letter target can be."""

    SQS = "sqs"
    SNS = "sns"
    EVENTS = "events"
    LAMBDA = "lambda"
    S3 = "s3"


class InvalidTargetError(ValueError):
    """An ARN that names no supported destination."""


@dataclass(frozen=True)
class Target:
    """A parsed destination ARN."""

    arn: str
    kind: TargetKind
    region: str
    account_id: str
    resource: str
    """The part after the account: a queue or topic name, ``event-bus/NAME``,
    ``function:NAME[:QUALIFIER]``, or a bucket name."""

    @property
    def name(self) -> str:
        """The resource's own name (queue, topic, bus, function or bucket)."""
        if self.kind is TargetKind.EVENTS:
            return self.resource.removeprefix("event-bus/")
        if self.kind is TargetKind.LAMBDA:
            return self.resource.split(":")[1]
        return self.resource


def parse_target(arn: str) -> Target:
    """Parse a destination ARN; ``InvalidTargetError`` for anything else.

    The control plane already validated stored destinations, but dead-letter
    ARNs and older documents reach this point too, so the check is repeated.
    """
    found = _ARN.match(arn)
    if found is None:
        raise InvalidTargetError(f"not an ARN: {arn!r}")
    try:
        kind = TargetKind(found["service"])
    except ValueError:
        raise InvalidTargetError(f"unsupported destination service in {arn!r}") from None
    region, account, resource = found["region"], found["account"] or "", found["resource"]
    if kind is not TargetKind.S3 and not (region and account):
        raise InvalidTargetError(f"destination ARN without region or account: {arn!r}")
    if kind is TargetKind.EVENTS and not resource.startswith("event-bus/"):
        raise InvalidTargetError(f"not an event bus ARN: {arn!r}")
    if kind is TargetKind.LAMBDA and not re.fullmatch(r"function:[^:]+(:[^:]+)?", resource):
        raise InvalidTargetError(f"not a function ARN: {arn!r}")
    return Target(arn=arn, kind=kind, region=region, account_id=account, resource=resource)
