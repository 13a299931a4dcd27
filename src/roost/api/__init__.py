"""The wire boundary: the Lambda REST API (restJson1) as botocore's model defines it.

Routing, request parsing, validation and response serialization are all driven by
the model, so shapes, required members, ranges, status codes and error names are
never copied by hand.
"""
