"""The ``aws_endpoint_url`` setting: ``--aws-endpoint-url`` and ``ROOST_AWS_ENDPOINT_URL``."""

from __future__ import annotations

import pytest

from roost.cli.main import build_parser
from roost.config import RoostConfig


def test_default_is_aws_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_AWS_ENDPOINT_URL", raising=False)

    assert RoostConfig.from_env().aws_endpoint_url is None


def test_environment_then_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert RoostConfig.from_env().aws_endpoint_url == "http://127.0.0.1:5000"

    flag = RoostConfig.from_env(aws_endpoint_url="http://moto:5001")
    assert flag.aws_endpoint_url == "http://moto:5001"


def test_up_takes_the_flag() -> None:
    args = build_parser().parse_args(["up", "--aws-endpoint-url", "http://127.0.0.1:5000"])

    assert args.aws_endpoint_url == "http://127.0.0.1:5000"
    assert build_parser().parse_args(["up"]).aws_endpoint_url is None
