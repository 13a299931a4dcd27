"""Fixtures of the SQS end-to-end tests: one Roost reaching the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.esm.sqs.support import esm_env
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess


@pytest.fixture(scope="module")
def esm_roost(
    tmp_path_factory: pytest.TempPathFactory, moto_server: MotoServer
) -> Iterator[RoostProcess]:
    """A Roost whose event source mapping pollers read moto's queues."""
    process = RoostProcess(tmp_path_factory.mktemp("esm") / "data", env=esm_env(moto_server))
    process.start()
    yield process
    process.stop()
