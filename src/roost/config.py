"""Roost's settings for one node, from flags and ``ROOST_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from roost.cluster.settings import ClusterSettings
from roost.flow.backpressure import BackpressureSettings
from roost.flow.circuit_breaker import BreakerSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9009
DEFAULT_DATA_DIR = "./.roost"
DEFAULT_REGION = "us-east-1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) only listens on the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "off", "no", "")


def _async_settings_from_env() -> dict[str, object]:
    """The async plane's ``ROOST_ASYNC_*`` variables (issue 4), where set."""
    names: dict[str, tuple[str, Callable[[str], object]]] = {
        "ROOST_ASYNC_QUEUES": ("async_shared_queues", int),
        "ROOST_ASYNC_POLLERS": ("async_pollers", int),
        "ROOST_ASYNC_POLLER_CONCURRENCY": ("async_poller_concurrency", int),
        "ROOST_ASYNC_RETRY_SCALE": ("async_retry_scale", float),
        "ROOST_ASYNC_VISIBILITY_TIMEOUT_S": ("async_visibility_timeout_s", float),
        "ROOST_ASYNC_MAX_IN_FLIGHT": ("async_max_in_flight", int),
        "ROOST_ASYNC_LEASE_TTL_S": ("async_lease_ttl_s", float),
        "ROOST_ASYNC_STALL_AFTER_S": ("async_stall_after_s", float),
        "ROOST_ASYNC_EXPRESS_RATE": ("async_express_rate_per_s", float),
        "ROOST_ASYNC_EXPRESS_WINDOW_S": ("async_express_window_s", float),
        "ROOST_ASYNC_EXPRESS_QUIET_S": ("async_express_quiet_s", float),
        "ROOST_ASYNC_SHARE_WHILE_SYNC": ("async_share_while_sync", int),
        "ROOST_SYNC_QUIET_S": ("sync_quiet_s", float),
        **_FLOW_VARIABLES,
    }
    return {
        field_name: kind(os.environ[variable])
        for variable, (field_name, kind) in names.items()
        if variable in os.environ
    }


# Token buckets of the async drain (issue 7): flow/tenant_buckets.py, flow/drain_governor.py.
_FLOW_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "ROOST_ASYNC_TENANT_BUCKETS": ("async_tenant_buckets", _flag),
    "ROOST_ASYNC_TENANT_SHARE": ("async_tenant_share", float),
    "ROOST_ASYNC_TENANT_DEFAULT_DURATION_S": ("async_tenant_default_duration_s", float),
    "ROOST_ASYNC_TENANT_REFRESH_S": ("async_tenant_refresh_s", float),
    "ROOST_ASYNC_TENANT_MAX_DEFER_S": ("async_tenant_max_defer_s", float),
    "ROOST_ASYNC_DRAIN_GOVERNOR": ("async_drain_governor", _flag),
    "ROOST_ASYNC_DRAIN_INITIAL_RATE": ("async_drain_initial_rate_per_s", float),
    "ROOST_ASYNC_DRAIN_MIN_RATE": ("async_drain_min_rate_per_s", float),
    "ROOST_ASYNC_DRAIN_MAX_RATE": ("async_drain_max_rate_per_s", float),
    "ROOST_ASYNC_DRAIN_INCREASE_PER_S": ("async_drain_increase_per_s", float),
    "ROOST_ASYNC_DRAIN_DECREASE_FACTOR": ("async_drain_decrease_factor", float),
    "ROOST_ASYNC_DRAIN_INTERVAL_S": ("async_drain_interval_s", float),
    "ROOST_ASYNC_DRAIN_BURST_S": ("async_drain_burst_s", float),
    "ROOST_ASYNC_DRAIN_MAX_ERROR_RATE": ("async_drain_max_error_rate", float),
    "ROOST_ASYNC_DRAIN_LATENCY_FACTOR": ("async_drain_latency_factor", float),
    "ROOST_ASYNC_BACKLOG_LIFO": ("async_backlog_lifo", _flag),
    "ROOST_ASYNC_BACKLOG_AGE_S": ("async_backlog_age_s", float),
    "ROOST_ASYNC_BACKLOG_MIN_DEPTH": ("async_backlog_min_depth", int),
    "ROOST_ASYNC_BACKLOG_NEWEST_SHARE": ("async_backlog_newest_share", float),
    "ROOST_ASYNC_BACKLOG_SHARD_DEPTH": ("async_backlog_shard_depth", int),
    "ROOST_ASYNC_BACKLOG_SHARD_MAX": ("async_backlog_shard_max", int),
}


def _esm_settings_from_env() -> dict[str, object]:
    """The event source mapping pollers' ``ROOST_ESM_*`` variables (issue 5), where set."""
    names: dict[str, tuple[str, type[int] | type[float]]] = {
        "ROOST_ESM_POLLERS": ("esm_pollers", int),
        "ROOST_ESM_LEASE_TTL_S": ("esm_lease_ttl_s", float),
        "ROOST_ESM_STALL_AFTER_S": ("esm_stall_after_s", float),
        "ROOST_ESM_SCALE_INTERVAL_S": ("esm_scale_interval_s", float),
        "ROOST_ESM_MAX_BATCHES": ("esm_max_batches", int),
        "ROOST_ESM_MAX_IN_FLIGHT": ("esm_max_in_flight", int),
        "ROOST_ESM_SQS_THREADS": ("esm_sqs_threads", int),
        "ROOST_ESM_POLL_WAIT_S": ("esm_poll_wait_s", float),
        "ROOST_ESM_SHARD_REFRESH_S": ("esm_shard_refresh_s", float),
        "ROOST_ESM_STREAM_POLL_S": ("esm_stream_poll_s", float),
    }
    return {
        field_name: kind(os.environ[variable])
        for variable, (field_name, kind) in names.items()
        if variable in os.environ
    }


def _capacity_settings_from_env() -> dict[str, object]:
    """Capacity and admission control's variables (issue 7, docs/resilience.md), where set."""
    names: dict[str, tuple[str, type[int] | type[float]]] = {
        "ROOST_ACCOUNT_CONCURRENCY": ("account_concurrency", int),
        "ROOST_CONTROL_MAX_IN_FLIGHT": ("control_max_in_flight", int),
        "ROOST_INVOKE_MAX_IN_FLIGHT": ("invoke_max_in_flight", int),
        "ROOST_INVOKE_MAX_WAITING": ("invoke_max_waiting", int),
        "ROOST_INVOKE_MAX_WAIT_S": ("invoke_max_wait_s", float),
        "ROOST_WORKER_MAX_ENVIRONMENTS": ("worker_max_environments", int),
        "ROOST_QUEUE_MAX_BATCH_OPS": ("queue_max_batch_ops", int),
    }
    return {
        field_name: kind(os.environ[variable])
        for variable, (field_name, kind) in names.items()
        if os.environ.get(variable)
    }


# --- Backpressure (issue 7, flow/backpressure.py, docs/resilience.md). ---
_BACKPRESSURE_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "ROOST_BACKPRESSURE": ("enabled", _flag),
    "ROOST_BACKPRESSURE_INTERVAL_S": ("interval_s", float),
    "ROOST_BACKPRESSURE_ELEVATED_AT": ("elevated_at", float),
    "ROOST_BACKPRESSURE_CRITICAL_AT": ("critical_at", float),
    "ROOST_BACKPRESSURE_HYSTERESIS": ("hysteresis", float),
    "ROOST_BACKPRESSURE_CPU": ("cpu", _flag),
    "ROOST_BACKPRESSURE_CPU_CEILING": ("cpu_ceiling", float),
    "ROOST_BACKPRESSURE_ELEVATED_PAUSE_S": ("elevated_pause_s", float),
    "ROOST_BACKPRESSURE_CRITICAL_PAUSE_S": ("critical_pause_s", float),
    "ROOST_BACKPRESSURE_SHED_DELAY_S": ("shed_delay_s", float),
    "ROOST_BACKPRESSURE_MAX_SHEDS": ("max_sheds", int),
    "ROOST_BACKPRESSURE_BACKLOG_AGE_S": ("backlog_age_s", float),
}


def _backpressure_from_env() -> BackpressureSettings:
    """The backpressure layer's ``ROOST_BACKPRESSURE_*`` variables over its defaults."""
    values = {
        name: kind(os.environ[variable])
        for variable, (name, kind) in _BACKPRESSURE_VARIABLES.items()
        if os.environ.get(variable)
    }
    return BackpressureSettings(**values)  # type: ignore[arg-type]


# --- end of backpressure ---


# --- Circuit breakers (issue 7, flow/circuit_breaker.py, docs/resilience.md). ---
# One set for every board (destinations, worker hosts, event sources).
_BREAKER_VARIABLES: dict[str, tuple[str, Callable[[str], object]]] = {
    "ROOST_BREAKER_WINDOW_S": ("window_s", float),
    "ROOST_BREAKER_MIN_CALLS": ("min_calls", int),
    "ROOST_BREAKER_FAILURE_RATE": ("failure_rate", float),
    "ROOST_BREAKER_CONSECUTIVE_FAILURES": ("consecutive_failures", int),
    "ROOST_BREAKER_COOL_DOWN_S": ("cool_down_s", float),
    "ROOST_BREAKER_MAX_COOL_DOWN_S": ("max_cool_down_s", float),
    "ROOST_BREAKER_FLEET_FRACTION": ("fleet_fraction", float),
    "ROOST_BREAKER_MIN_FLEET_TARGETS": ("min_fleet_targets", int),
    "ROOST_BREAKER_ACTIVE_S": ("active_s", float),
    "ROOST_BREAKER_FLEET_BACKOFF_S": ("fleet_backoff_s", float),
    "ROOST_BREAKER_MAX_FLEET_BACKOFF_S": ("max_fleet_backoff_s", float),
}


def _breakers_from_env() -> BreakerSettings:
    """The circuit breakers' ``ROOST_BREAKER_*`` variables over their defaults."""
    values = {
        name: kind(os.environ[variable])
        for variable, (name, kind) in _BREAKER_VARIABLES.items()
        if os.environ.get(variable)
    }
    return BreakerSettings(**values)  # type: ignore[arg-type]


# --- end of circuit breakers ---


@dataclass(frozen=True)
class RoostConfig:
    """Everything a node needs to start."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    region: str = DEFAULT_REGION
    account_concurrency: int = 1000
    # Variance reduction: queue operations one group-commit transaction may hold.
    queue_max_batch_ops: int = 2048
    control_max_in_flight: int = 256
    invoke_max_in_flight: int = 4096
    keep_alive_s: float = 600.0
    prewarm_per_size: int = 2
    memory_budget_mb: int = 8192
    sandbox: bool = True
    zygote: bool = True
    function_network: bool = True
    # --- Capacity and admission control (issue 7, flow/admission.py). ---
    # Sync invokes beyond invoke_max_in_flight wait in a line of at most
    # invoke_max_waiting for at most invoke_max_wait_s, then get a 429.
    invoke_max_waiting: int = 256
    invoke_max_wait_s: float = 1.0
    # Environments serving functions on this worker host (None: memory budget only).
    worker_max_environments: int | None = None
    # --- end of capacity and admission control ---
    # Where async destinations and dead-letter targets (SQS, SNS, EventBridge)
    # are reached: moto's server in tests, or None for AWS itself.
    aws_endpoint_url: str | None = None
    # --- Async invokes (issue 4): the async plane's queues, pollers and retries. ---
    async_shared_queues: int = 8
    async_pollers: int = 2
    async_poller_concurrency: int = 64
    async_retry_scale: float = 1.0
    async_visibility_timeout_s: float = 30.0
    async_max_in_flight: int = 4096
    async_lease_ttl_s: float = 10.0
    async_stall_after_s: float = 60.0
    async_express_rate_per_s: float = 500.0
    async_express_window_s: float = 5.0
    async_express_quiet_s: float = 60.0
    # Sync first (flow/sync_first.py): while sync invokes run (or ran within
    # sync_quiet_s), the async plane accepts and runs at most this many at once
    # (None: one per core).
    async_share_while_sync: int | None = None
    sync_quiet_s: float = 1.0
    # Tenant buckets (flow/tenant_buckets.py): one per function, concurrency from
    # its reservation or this share of the account's unreserved pool; an event
    # without a token is put back for at most max_defer_s.
    async_tenant_buckets: bool = True
    async_tenant_share: float = 0.5
    async_tenant_default_duration_s: float = 0.1
    async_tenant_refresh_s: float = 5.0
    async_tenant_max_defer_s: float = 5.0
    # The drain governor (flow/drain_governor.py): the async start rate, raised by
    # increase_per_s each interval while healthy and limiting, cut by
    # decrease_factor when errors or latency cross their bounds.
    async_drain_governor: bool = True
    async_drain_initial_rate_per_s: float = 10000.0
    async_drain_min_rate_per_s: float = 10.0
    async_drain_max_rate_per_s: float = 10000.0
    async_drain_increase_per_s: float = 200.0
    async_drain_decrease_factor: float = 0.5
    async_drain_interval_s: float = 1.0
    async_drain_burst_s: float = 1.0
    async_drain_max_error_rate: float = 0.1
    async_drain_latency_factor: float = 3.0
    # Backlog recovery (async_invoke/backlog.py): a queue whose oldest message is
    # older than age_s, or deeper than min_depth and ten intervals' drain, takes
    # newest_share of each receive newest-first (lifo off: always oldest-first).
    async_backlog_lifo: bool = True
    async_backlog_age_s: float = 30.0
    async_backlog_min_depth: int = 100
    async_backlog_newest_share: float = 0.5
    # Backlog shards (async_invoke/backlog_shards.py): a (function, qualifier)
    # with shard_depth queued events gets a queue of its own (0: never), at
    # most shard_max of them opened by this node.
    async_backlog_shard_depth: int = 1000
    async_backlog_shard_max: int = 64
    # --- end of async invokes ---
    # --- Event source mapping pollers (issue 5). ---
    # Pollers of this node (0: none; mappings are then only settled, never run).
    esm_pollers: int = 1
    # A crashed poller's mappings move after the lease ttl; a mapping whose
    # poller reports no progress for stall_after_s is re-assigned.
    esm_lease_ttl_s: float = 10.0
    esm_stall_after_s: float = 120.0
    # AWS adds up to 300 concurrent batches per minute to a backlogged SQS mapping.
    esm_scale_interval_s: float = 60.0
    # Concurrent batches of one mapping without a MaximumConcurrency (AWS: 1,000).
    esm_max_batches: int = 1000
    # Batches in flight at once in one poller (the load shedder's budget).
    esm_max_in_flight: int = 1000
    # Threads for SQS long polls (each waiting receive holds one).
    esm_sqs_threads: int = 64
    # Longest ReceiveMessage wait (SQS allows 0-20 s).
    esm_poll_wait_s: float = 20.0
    # How often stream shards are listed (how soon a split or merge is seen).
    esm_shard_refresh_s: float = 5.0
    # Shortest wait between two reads of an idle shard (it doubles on throttles).
    esm_stream_poll_s: float = 0.05
    # --- end of event source mapping pollers ---
    # Fault injection (issue 7, docs/resilience.md): stores wrapped in fault
    # adapters and ``POST /_roost/faults`` enabled. For tests; off in production.
    fault_injection: bool = False
    # ``ROOST_FAULTS_AT_START``: plans set before the stores open, in the syntax
    # of the endpoint's body (one JSON object or a list); only with fault_injection.
    faults_at_start: str = ""
    # Backpressure (issue 7): the worker host's pressure slows the pollers down.
    backpressure: BackpressureSettings = field(default_factory=BackpressureSettings)
    # Circuit breakers (issue 7): the settings of every breaker board.
    breakers: BreakerSettings = field(default_factory=BreakerSettings)
    # Cluster mode (issue 8, docs/cluster.md): a shared Redis store, roles, zone.
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    # The master key file sealing account secrets (None: <data_dir>/master.key);
    # every node of a cluster needs the same one.
    master_key_file: Path | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> RoostConfig:
        """Defaults, then ``ROOST_*`` variables, then explicit (non-None) overrides."""
        values: dict[str, object] = {
            "host": os.environ.get("ROOST_HOST", DEFAULT_HOST),
            "port": int(os.environ.get("ROOST_PORT", DEFAULT_PORT)),
            "data_dir": Path(os.environ.get("ROOST_DATA_DIR", DEFAULT_DATA_DIR)),
            "region": os.environ.get("ROOST_REGION", DEFAULT_REGION),
            "keep_alive_s": float(os.environ.get("ROOST_KEEP_ALIVE_S", 600)),
            "prewarm_per_size": int(os.environ.get("ROOST_PREWARM", 2)),
            "memory_budget_mb": int(os.environ.get("ROOST_MEMORY_BUDGET_MB", 8192)),
            "sandbox": os.environ.get("ROOST_SANDBOX", "1") not in ("0", "false", "off"),
            "zygote": os.environ.get("ROOST_ZYGOTE", "1") not in ("0", "false", "off"),
            "function_network": os.environ.get("ROOST_FUNCTION_NETWORK", "1")
            not in ("0", "false", "off"),
        }
        values["aws_endpoint_url"] = os.environ.get("ROOST_AWS_ENDPOINT_URL") or None
        values["fault_injection"] = os.environ.get("ROOST_FAULT_INJECTION", "0") in (
            "1",
            "true",
            "on",
        )
        values["faults_at_start"] = os.environ.get("ROOST_FAULTS_AT_START", "")
        values.update(_async_settings_from_env())
        values.update(_esm_settings_from_env())
        values.update(_capacity_settings_from_env())
        values["backpressure"] = _backpressure_from_env()
        values["breakers"] = _breakers_from_env()
        values["cluster"] = ClusterSettings.from_env()
        if os.environ.get("ROOST_MASTER_KEY_FILE"):
            values["master_key_file"] = Path(os.environ["ROOST_MASTER_KEY_FILE"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(str(values["data_dir"]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def allow_builtin_credentials(self) -> bool:
        """The ``test``/``test`` account exists only while nobody else can reach us."""
        return is_loopback(self.host)

    @property
    def endpoint_url(self) -> str:
        """The URL clients use."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
