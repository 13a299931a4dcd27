"""``roost async-stats NAME``: one function's async figures, read from ``/metrics``.

The function is looked up first (``GetFunctionConfiguration``), which checks
that it exists and gives its account from the ARN; then the node's ``/metrics``
is read and the function's samples picked out, so what is printed is what a
Prometheus scrape sees.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from roost.cli.client import CliError, Target, lambda_client, raise_for_error, signed_get
from roost.observability.prometheus import Sample, parse

METRICS_PATH = "/metrics"
_PREFIX = "roost_async_"


@dataclass
class AsyncStats:
    """A function's async figures (events since the node started)."""

    accepted: int = 0
    queued: int = 0
    in_flight: int = 0
    attempts: int = 0
    succeeded: int = 0
    retried: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    mean_event_age_s: float = 0.0
    last_event_age_s: float = 0.0


# Sample name -> the AsyncStats field it fills (labelled by reason: a dict).
_FIELDS = {
    "events_accepted_total": "accepted",
    "events_queued": "queued",
    "events_in_flight": "in_flight",
    "attempts_total": "attempts",
    "events_succeeded_total": "succeeded",
    "events_retried_total": "retried",
    "events_dropped_total": "dropped",
    "event_age_last_seconds": "last_event_age_s",
}


def stats_of(samples: Iterable[Sample], account_id: str, function_name: str) -> AsyncStats:
    """The figures of one function among a scrape's samples (zeros if absent)."""
    stats = AsyncStats()
    age_sum_s = 0.0
    for sample in samples:
        labels = sample.labels
        if labels.get("account") != account_id or labels.get("function") != function_name:
            continue
        short = sample.name.removeprefix(_PREFIX)
        if short == "event_age_seconds_sum":
            age_sum_s = sample.value
        name = _FIELDS.get(short) if sample.name.startswith(_PREFIX) else None
        if name is None:
            continue
        current = getattr(stats, name)
        if isinstance(current, dict):
            current[labels.get("reason", "")] = int(sample.value)
        elif isinstance(current, int):
            setattr(stats, name, int(sample.value))
        else:
            setattr(stats, name, sample.value)
    if stats.attempts:
        stats.mean_event_age_s = age_sum_s / stats.attempts
    return stats


def format_stats(function_arn: str, stats: AsyncStats) -> str:
    """The figures as aligned ``name  value`` lines."""
    rows: list[tuple[str, str]] = [
        ("function", function_arn),
        ("accepted", str(stats.accepted)),
        ("queued", str(stats.queued)),
        ("in flight", str(stats.in_flight)),
        ("attempts", str(stats.attempts)),
        ("succeeded", str(stats.succeeded)),
    ]
    rows += [(f"retried ({reason})", str(n)) for reason, n in stats.retried.items()]
    rows += [(f"dropped ({reason})", str(n)) for reason, n in stats.dropped.items()]
    rows.append(("mean event age at start", f"{stats.mean_event_age_s:.3f} s"))
    rows.append(("last event age at start", f"{stats.last_event_age_s:.3f} s"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def async_stats(args: argparse.Namespace) -> int:
    """Print the function's async figures (``--json``: as a JSON object)."""
    target = Target.from_args(args)
    config = lambda_client(target).get_function_configuration(FunctionName=args.name)
    arn = str(config["FunctionArn"])
    account_id, name = arn.split(":")[4], str(config["FunctionName"])
    reply = signed_get(target, METRICS_PATH)
    raise_for_error(reply, target)
    try:
        samples = parse(reply.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CliError(
            f"{target.endpoint_url}{METRICS_PATH} is not Prometheus text: {error}"
        ) from None
    stats = stats_of(samples, account_id, name)
    if args.json:
        print(json.dumps({"FunctionArn": arn, **asdict(stats)}, indent=2))
    else:
        print(format_stats(arn, stats))
    return 0
