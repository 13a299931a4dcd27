"""``roost mapping-stats UUID``: one event source mapping's figures, read from ``/metrics``.

The mapping is looked up first (``GetEventSourceMapping``), which checks that
it exists and is the caller's and gives its function; then the node's
``/metrics`` is read and the mapping's samples picked out, so what is printed
is what a Prometheus scrape sees: records by fate, batches by outcome and, for
a stream mapping running on the node, each shard's (partition's) iterator age
and how far its last read was behind the tip.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from roost.cli.client import CliError, Target, lambda_client, raise_for_error, signed_get
from roost.observability.prometheus import Sample, parse

METRICS_PATH = "/metrics"
_PREFIX = "roost_esm_"
# The fates ``roost_esm_records_total`` counts, listed even when absent.
RECORD_FATES = ("invoked", "failed", "filtered", "given_up")


@dataclass
class ShardStats:
    """A stream shard's gauges (the lags: None if its source says none)."""

    iterator_age_s: float = 0.0
    millis_behind_latest: int | None = None
    records_behind: int | None = None


@dataclass
class MappingStats:
    """A mapping's figures (counters since the node started; gauges as scraped)."""

    records: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECORD_FATES, 0))
    batches: dict[str, int] = field(default_factory=dict)
    batches_in_flight: int = 0
    concurrency_target: int = 0
    shards: dict[str, ShardStats] = field(default_factory=dict)


def stats_of(samples: Iterable[Sample], mapping_uuid: str) -> MappingStats:
    """The figures of one mapping among a scrape's samples (zeros if absent)."""
    stats = MappingStats()
    for sample in samples:
        labels = sample.labels
        if not sample.name.startswith(_PREFIX) or labels.get("mapping") != mapping_uuid:
            continue
        short = sample.name.removeprefix(_PREFIX)
        if short == "records_total":
            stats.records[labels.get("fate", "")] = int(sample.value)
        elif short == "batches_total":
            stats.batches[labels.get("outcome", "")] = int(sample.value)
        elif short == "batches_in_flight":
            stats.batches_in_flight = int(sample.value)
        elif short == "concurrency_target":
            stats.concurrency_target = int(sample.value)
        elif short == "iterator_age_seconds":
            _shard(stats, labels).iterator_age_s = sample.value
        elif short == "shard_millis_behind_latest":
            _shard(stats, labels).millis_behind_latest = int(sample.value)
        elif short == "shard_records_behind":
            _shard(stats, labels).records_behind = int(sample.value)
    return stats


def _shard(stats: MappingStats, labels: Mapping[str, str]) -> ShardStats:
    shard_id = labels.get("shard", "")
    shard = stats.shards.get(shard_id)
    if shard is None:
        shard = stats.shards[shard_id] = ShardStats()
    return shard


def format_stats(function_arn: str, stats: MappingStats) -> str:
    """The figures as aligned ``name  value`` lines."""
    rows: list[tuple[str, str]] = [("function", function_arn)]
    rows += [(f"records ({fate})", str(n)) for fate, n in stats.records.items()]
    rows += [(f"batches ({outcome})", str(n)) for outcome, n in sorted(stats.batches.items())]
    rows.append(("batches in flight", str(stats.batches_in_flight)))
    rows.append(("concurrency target", str(stats.concurrency_target)))
    for shard_id, shard in sorted(stats.shards.items()):
        rows.append((f"iterator age ({shard_id})", f"{shard.iterator_age_s:.3f} s"))
        if shard.millis_behind_latest is not None:
            rows.append((f"behind latest ({shard_id})", f"{shard.millis_behind_latest} ms"))
        if shard.records_behind is not None:
            rows.append((f"records behind ({shard_id})", str(shard.records_behind)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def mapping_stats(args: argparse.Namespace) -> int:
    """Print the mapping's figures (``--json``: as a JSON object)."""
    target = Target.from_args(args)
    mapping = lambda_client(target).get_event_source_mapping(UUID=args.uuid)
    uuid_, function_arn = str(mapping["UUID"]), str(mapping["FunctionArn"])
    reply = signed_get(target, METRICS_PATH)
    raise_for_error(reply, target)
    try:
        samples = parse(reply.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CliError(
            f"{target.endpoint_url}{METRICS_PATH} is not Prometheus text: {error}"
        ) from None
    stats = stats_of(samples, uuid_)
    if args.json:
        print(json.dumps({"UUID": uuid_, "FunctionArn": function_arn, **asdict(stats)}, indent=2))
    else:
        print(format_stats(function_arn, stats))
    return 0
