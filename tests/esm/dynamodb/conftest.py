"""Fixtures of the DynamoDB Streams reader tests: boto3 clients of the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from roost.esm.aws_clients import AwsClients
from tests.fixtures.moto_server import MOTO_CREDENTIALS, MOTO_REGION, MotoServer


@pytest.fixture
def streams_clients(moto_server: MotoServer) -> Iterator[AwsClients]:
    """Roost's DynamoDB Streams clients on moto."""
    session = boto3.session.Session(region_name=MOTO_REGION, **MOTO_CREDENTIALS)
    clients = AwsClients("dynamodbstreams", moto_server.endpoint, session=session, max_attempts=1)
    yield clients
    clients.close()
