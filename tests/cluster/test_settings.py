"""Cluster settings: roles, the store URL, flags over variables, and the planes each role serves."""

from __future__ import annotations

import argparse

import pytest

from roost.api.model import Plane
from roost.cli.cluster_flags import add_cluster_flags, with_cluster_flags
from roost.cluster.settings import ALL_ROLES, ClusterSettings, Role, parse_roles
from roost.config import RoostConfig


def test_roles_parse_from_a_comma_list() -> None:
    assert parse_roles(" Frontend, worker ") == {Role.FRONTEND, Role.WORKER}
    with pytest.raises(ValueError, match="unknown role"):
        parse_roles("frontend,janitor")
    with pytest.raises(ValueError, match="at least one"):
        parse_roles(" , ")


def test_variables_configure_a_cluster_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_STORE", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("ROOST_ROLES", "pollers,worker")
    monkeypatch.setenv("ROOST_ZONE", "az-2")
    monkeypatch.setenv("ROOST_ZONE_CONFIRM_S", "0.5")

    settings = ClusterSettings.from_env()

    assert settings.enabled
    assert settings.roles == {Role.POLLERS, Role.WORKER}
    assert settings.zone == "az-2"
    assert settings.zones.confirm_s == 0.5
    assert settings.runs(Role.WORKER) and not settings.runs(Role.FRONTEND)
    assert settings.served_planes() == frozenset()


def test_a_single_node_runs_every_role_and_serves_every_plane() -> None:
    settings = ClusterSettings()

    assert not settings.enabled
    assert all(settings.runs(role) for role in Role)
    assert settings.served_planes() is None


def test_roles_without_a_shared_store_or_a_store_that_is_not_redis_are_refused() -> None:
    with pytest.raises(ValueError, match="shared store"):
        ClusterSettings(roles=frozenset({Role.WORKER})).check()
    with pytest.raises(ValueError, match="redis://"):
        ClusterSettings(store_url="postgres://db").check()


def test_a_sentinel_store_url_is_accepted_and_a_malformed_one_refused() -> None:
    ClusterSettings(store_url="redis+sentinel://s1:26379,s2/roost/0?wait_replicas=1").check()
    ClusterSettings(store_url="redis://10.0.0.5/0?wait_replicas=2&wait_timeout_ms=200").check()
    with pytest.raises(ValueError, match="service name"):
        ClusterSettings(store_url="redis+sentinel://s1:26379").check()
    with pytest.raises(ValueError, match="wait_replicas"):
        ClusterSettings(store_url="redis+sentinel://s1/roost?wait_replicas=0").check()
    with pytest.raises(ValueError, match="redis\\+sentinel://"):
        ClusterSettings(counting_store_url="sentinel://s1/roost").check()


def test_flags_override_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_ZONE", "from-env")
    parser = argparse.ArgumentParser()
    add_cluster_flags(parser)
    args = parser.parse_args(
        ["--store", "redis://127.0.0.1:6379/0", "--zone", "z1", "--roles", "frontend,async"]
    )

    config = with_cluster_flags(RoostConfig.from_env(), args)

    assert config.cluster.zone == "z1"
    assert config.cluster.served_planes() == {Plane.CONTROL, Plane.INVOKE, Plane.ASYNC}
    assert config.cluster.roles != ALL_ROLES
