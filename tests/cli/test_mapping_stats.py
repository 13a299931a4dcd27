"""``roost mapping-stats``: picking one mapping's figures out of a ``/metrics`` scrape."""

from __future__ import annotations

from roost.cli.main import build_parser
from roost.cli.mapping_stats import MappingStats, ShardStats, format_stats, stats_of
from roost.observability.prometheus import parse

MAPPING = "6f1c2c39-0000-4000-8000-000000000001"
OTHER = "6f1c2c39-0000-4000-8000-000000000002"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:f"

MINE = f'mapping="{MAPPING}",function="{FUNCTION}"'
THEIRS = f'mapping="{OTHER}",function="{FUNCTION}"'

SCRAPE = f"""\
# HELP roost_esm_batches_total Batches a mapping invoked, by how the invoke went.
# TYPE roost_esm_batches_total counter
roost_esm_batches_total{{{MINE},outcome="succeeded"}} 7
roost_esm_batches_total{{{MINE},outcome="function-error"}} 2
roost_esm_batches_total{{{THEIRS},outcome="succeeded"}} 99
# TYPE roost_esm_records_total counter
roost_esm_records_total{{{MINE},fate="invoked"}} 30
roost_esm_records_total{{{MINE},fate="failed"}} 4
roost_esm_records_total{{{MINE},fate="filtered"}} 1
roost_esm_records_total{{{MINE},fate="given_up"}} 2
roost_esm_records_total{{{THEIRS},fate="invoked"}} 500
# TYPE roost_esm_batches_in_flight gauge
roost_esm_batches_in_flight{{{MINE}}} 1
# TYPE roost_esm_concurrency_target gauge
roost_esm_concurrency_target{{{MINE}}} 2
# TYPE roost_esm_iterator_age_seconds gauge
roost_esm_iterator_age_seconds{{{MINE},shard="shardId-000000000000"}} 1.25
roost_esm_iterator_age_seconds{{{MINE},shard="shardId-000000000001"}} 0
roost_esm_iterator_age_seconds{{{THEIRS},shard="t-0"}} 50
# TYPE roost_esm_shard_millis_behind_latest gauge
roost_esm_shard_millis_behind_latest{{{MINE},shard="shardId-000000000000"}} 1500
# TYPE roost_async_events_accepted_total counter
roost_async_events_accepted_total{{account="000000000000",function="f"}} 3
"""


def test_the_mapping_s_samples_are_picked_out() -> None:
    stats = stats_of(parse(SCRAPE), MAPPING)

    assert stats == MappingStats(
        records={"invoked": 30, "failed": 4, "filtered": 1, "given_up": 2},
        batches={"succeeded": 7, "function-error": 2},
        batches_in_flight=1,
        concurrency_target=2,
        shards={
            "shardId-000000000000": ShardStats(iterator_age_s=1.25, millis_behind_latest=1500),
            "shardId-000000000001": ShardStats(iterator_age_s=0.0),
        },
    )


def test_a_mapping_absent_from_the_scrape_has_zeros() -> None:
    stats = stats_of(parse(SCRAPE), "not-a-mapping")

    assert stats == MappingStats()
    assert stats.records == {"invoked": 0, "failed": 0, "filtered": 0, "given_up": 0}


def test_the_text_lists_fates_outcomes_and_shards() -> None:
    text = format_stats(FUNCTION, stats_of(parse(SCRAPE), MAPPING))

    lines = [line.split() for line in text.splitlines()]
    assert lines[0] == ["function", FUNCTION]
    assert ["records", "(given_up)", "2"] in lines
    assert ["batches", "(function-error)", "2"] in lines
    assert ["iterator", "age", "(shardId-000000000000)", "1.250", "s"] in lines
    assert ["behind", "latest", "(shardId-000000000000)", "1500", "ms"] in lines
    assert not any("(shardId-000000000001)" in line and "behind" in line for line in lines)


def test_the_command_takes_a_uuid_and_json_flag() -> None:
    args = build_parser().parse_args(["mapping-stats", MAPPING, "--json"])

    assert (args.uuid, args.json) == (MAPPING, True)
