"""Fixtures of the stream end-to-end tests: one Roost reaching the session's moto server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.esm.sqs.support import esm_env
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.roost_process import RoostProcess

# Streams are listed often, so a split shows within a second.
STREAM_ENV = {"ROOST_ESM_SHARD_REFRESH_S": "0.5"}


@pytest.fixture(scope="module")
def stream_roost(
    tmp_path_factory: pytest.TempPathFactory, moto_server: MotoServer
) -> Iterator[RoostProcess]:
    """A Roost whose pollers read moto's streams."""
    env = {**esm_env(moto_server), **STREAM_ENV}
    process = RoostProcess(tmp_path_factory.mktemp("streams") / "data", env=env)
    process.start()
    yield process
    process.stop()
