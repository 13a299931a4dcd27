"""Flow control: concurrency leases, throttles and (later) token buckets."""
