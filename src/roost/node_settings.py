"""How a node's ``RoostConfig`` becomes each component's settings.

``RoostConfig`` is flat (one field per ``ROOST_*`` variable); the planes take
small settings objects of their own. These functions are the only place the
two meet, so a new knob is wired here once.
"""

from __future__ import annotations

import dataclasses

from roost.async_invoke.backlog import BacklogSettings
from roost.async_invoke.backlog_shards import ShardSettings
from roost.async_invoke.express import ExpressSettings
from roost.async_invoke.plane import AsyncSettings
from roost.cluster.settings import Role
from roost.config import RoostConfig
from roost.flow.admission import AdmissionSettings
from roost.flow.drain_governor import DrainSettings
from roost.flow.sync_first import SyncFirstSettings
from roost.flow.tenant_buckets import TenantSizing
from roost.frontend.invoke.plane import InvokeSettings


def invoke_settings(config: RoostConfig) -> InvokeSettings:
    """The sync invoke plane's settings: counting, pools, sandbox, host cap."""
    return InvokeSettings(
        account_concurrency=config.account_concurrency,
        keep_alive_s=config.keep_alive_s,
        prewarm_per_size=config.prewarm_per_size,
        memory_budget_mb=config.memory_budget_mb,
        sandbox=config.sandbox,
        zygote=config.zygote,
        network=config.function_network,
        region=config.region,
        max_environments=config.worker_max_environments,
    )


def invoke_admission(config: RoostConfig) -> AdmissionSettings:
    """The sync plane never queues without bound: a short line, then 429s."""
    return AdmissionSettings(
        config.invoke_max_in_flight, config.invoke_max_waiting, config.invoke_max_wait_s
    )


def sync_first_settings(config: RoostConfig) -> SyncFirstSettings:
    """How far the async plane narrows while sync invokes run."""
    if config.async_share_while_sync is None:
        return SyncFirstSettings(quiet_s=config.sync_quiet_s)
    return SyncFirstSettings(config.async_share_while_sync, config.sync_quiet_s)


def async_settings(config: RoostConfig) -> AsyncSettings:
    """The async plane's settings: queues, pollers, express lanes, flow control."""
    return AsyncSettings(
        shared_queues=config.async_shared_queues,
        pollers=config.async_pollers,
        poller_concurrency=config.async_poller_concurrency,
        retry_scale=config.async_retry_scale,
        visibility_timeout_s=config.async_visibility_timeout_s,
        lease_ttl_s=config.async_lease_ttl_s,
        stall_after_s=config.async_stall_after_s,
        express=ExpressSettings(
            rate_per_s=config.async_express_rate_per_s,
            window_s=config.async_express_window_s,
            quiet_s=config.async_express_quiet_s,
        ),
        tenants=tenant_sizing(config),
        drain=drain_settings(config),
        backlog=BacklogSettings(
            lifo=config.async_backlog_lifo,
            age_threshold_s=config.async_backlog_age_s,
            min_depth=config.async_backlog_min_depth,
            newest_share=config.async_backlog_newest_share,
        ),
        shards=ShardSettings(
            depth=config.async_backlog_shard_depth, max_open=config.async_backlog_shard_max
        ),
    )


def tenant_sizing(config: RoostConfig) -> TenantSizing | None:
    """Per-function token buckets (None: off)."""
    if not config.async_tenant_buckets:
        return None
    return TenantSizing(
        share=config.async_tenant_share,
        default_duration_s=config.async_tenant_default_duration_s,
        refresh_s=config.async_tenant_refresh_s,
        max_defer_s=config.async_tenant_max_defer_s,
    )


def drain_settings(config: RoostConfig) -> DrainSettings:
    """The async drain governor's knobs."""
    return DrainSettings(
        enabled=config.async_drain_governor,
        initial_rate_per_s=config.async_drain_initial_rate_per_s,
        min_rate_per_s=config.async_drain_min_rate_per_s,
        max_rate_per_s=config.async_drain_max_rate_per_s,
        increase_per_s=config.async_drain_increase_per_s,
        decrease_factor=config.async_drain_decrease_factor,
        interval_s=config.async_drain_interval_s,
        burst_s=config.async_drain_burst_s,
        max_error_rate=config.async_drain_max_error_rate,
        latency_factor=config.async_drain_latency_factor,
    )


def with_roles(config: RoostConfig) -> RoostConfig:
    """``config`` narrowed to the node's cluster roles.

    Without the ``pollers`` role the node runs no async queue pollers and no
    event source mapping pollers; without ``worker`` it keeps no pre-warmed
    environments (invokes go to the cluster's worker hosts). A single node
    runs every role.
    """
    cluster = config.cluster
    changes: dict[str, object] = {}
    if not cluster.runs(Role.POLLERS):
        changes.update(async_pollers=0, esm_pollers=0)
    if not cluster.runs(Role.WORKER):
        changes["prewarm_per_size"] = 0
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]
