"""The async plane's settings, from ``ROOST_ASYNC_*`` variables."""

from __future__ import annotations

import pytest

from roost.async_invoke.backlog_shards import ShardSettings
from roost.config import RoostConfig
from roost.node_settings import async_settings


def test_defaults() -> None:
    config = RoostConfig()

    assert (config.async_shared_queues, config.async_pollers) == (8, 2)
    assert config.async_retry_scale == 1.0
    assert config.async_visibility_timeout_s == 30.0
    assert (config.async_lease_ttl_s, config.async_stall_after_s) == (10.0, 60.0)
    assert config.async_express_rate_per_s == 500.0
    assert (config.async_express_window_s, config.async_express_quiet_s) == (5.0, 60.0)


def test_lease_and_express_lane_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_ASYNC_LEASE_TTL_S", "3")
    monkeypatch.setenv("ROOST_ASYNC_STALL_AFTER_S", "20")
    monkeypatch.setenv("ROOST_ASYNC_EXPRESS_RATE", "50")
    monkeypatch.setenv("ROOST_ASYNC_EXPRESS_WINDOW_S", "2")
    monkeypatch.setenv("ROOST_ASYNC_EXPRESS_QUIET_S", "10")

    config = RoostConfig.from_env()

    assert (config.async_lease_ttl_s, config.async_stall_after_s) == (3.0, 20.0)
    assert config.async_express_rate_per_s == 50.0
    assert (config.async_express_window_s, config.async_express_quiet_s) == (2.0, 10.0)


def test_variables_set_the_async_plane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_ASYNC_QUEUES", "16")
    monkeypatch.setenv("ROOST_ASYNC_POLLERS", "4")
    monkeypatch.setenv("ROOST_ASYNC_POLLER_CONCURRENCY", "8")
    monkeypatch.setenv("ROOST_ASYNC_RETRY_SCALE", "0.001")
    monkeypatch.setenv("ROOST_ASYNC_VISIBILITY_TIMEOUT_S", "5")
    monkeypatch.setenv("ROOST_ASYNC_MAX_IN_FLIGHT", "100")

    config = RoostConfig.from_env()

    assert config.async_shared_queues == 16
    assert config.async_pollers == 4
    assert config.async_poller_concurrency == 8
    assert config.async_retry_scale == 0.001
    assert config.async_visibility_timeout_s == 5.0
    assert config.async_max_in_flight == 100


def test_token_bucket_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_ASYNC_TENANT_BUCKETS", "0")
    monkeypatch.setenv("ROOST_ASYNC_TENANT_SHARE", "0.25")
    monkeypatch.setenv("ROOST_ASYNC_TENANT_MAX_DEFER_S", "2")
    monkeypatch.setenv("ROOST_ASYNC_DRAIN_GOVERNOR", "off")
    monkeypatch.setenv("ROOST_ASYNC_DRAIN_MAX_RATE", "300")
    monkeypatch.setenv("ROOST_ASYNC_DRAIN_DECREASE_FACTOR", "0.7")

    config = RoostConfig.from_env()

    assert config.async_tenant_buckets is False
    assert (config.async_tenant_share, config.async_tenant_max_defer_s) == (0.25, 2.0)
    assert config.async_drain_governor is False
    assert config.async_drain_max_rate_per_s == 300.0
    assert config.async_drain_decrease_factor == 0.7
    assert RoostConfig().async_tenant_buckets and RoostConfig().async_drain_governor


def test_backlog_shard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RoostConfig().async_backlog_shard_depth == 1000
    monkeypatch.setenv("ROOST_ASYNC_BACKLOG_SHARD_DEPTH", "0")
    monkeypatch.setenv("ROOST_ASYNC_BACKLOG_SHARD_MAX", "8")

    settings = async_settings(RoostConfig.from_env())

    assert settings.shards == ShardSettings(depth=0, max_open=8)
    assert not settings.shards.enabled
