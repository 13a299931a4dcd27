"""Parsing destination ARNs."""

from __future__ import annotations

import pytest

from roost.destinations.targets import InvalidTargetError, TargetKind, parse_target


@pytest.mark.parametrize(
    ("arn", "kind", "region", "account", "name"),
    [
        (
            "arn:aws:sqs:eu-west-1:123456789012:jobs",
            TargetKind.SQS,
            "eu-west-1",
            "123456789012",
            "jobs",
        ),
        (
            "arn:aws:sns:us-east-1:123456789012:alerts",
            TargetKind.SNS,
            "us-east-1",
            "123456789012",
            "alerts",
        ),
        (
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            TargetKind.EVENTS,
            "us-east-1",
            "123456789012",
            "default",
        ),
        (
            "arn:aws:lambda:us-east-1:000000000000:function:next:prod",
            TargetKind.LAMBDA,
            "us-east-1",
            "000000000000",
            "next",
        ),
        (
            "arn:aws:lambda:us-east-1:000000000000:function:next",
            TargetKind.LAMBDA,
            "us-east-1",
            "000000000000",
            "next",
        ),
        ("arn:aws:s3:::failures", TargetKind.S3, "", "", "failures"),
    ],
)
def test_parse_target(arn: str, kind: TargetKind, region: str, account: str, name: str) -> None:
    target = parse_target(arn)

    assert (target.kind, target.region, target.account_id, target.name) == (
        kind,
        region,
        account,
        name,
    )


@pytest.mark.parametrize(
    "arn",
    [
        "jobs",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t",
        "arn:aws:sqs:::jobs",
        "arn:aws:events:us-east-1:123456789012:rule/r",
        "arn:aws:lambda:us-east-1:123456789012:layer:l:1",
    ],
)
def test_parse_target_refuses(arn: str) -> None:
    with pytest.raises(InvalidTargetError):
        parse_target(arn)
