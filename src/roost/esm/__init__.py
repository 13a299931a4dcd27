"""Event source mappings: pollers that read queues and streams and invoke functions."""
