"""What a node exposes about itself: ``/metrics`` in Prometheus's text format."""
