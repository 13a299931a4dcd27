"""The error Lambda answers for a filter pattern it refuses.

Lambda rejects a bad pattern at CreateEventSourceMapping/UpdateEventSourceMapping
with ``InvalidParameterValueException`` and the fixed message below, whatever the
fault; the EventBridge-style reason is kept on the error for logs and tests only.
"""

from __future__ import annotations

from roost.api.errors import InvalidParameterValueException

INVALID_FILTER_PATTERN_MESSAGE = "Invalid filter pattern definition."


class InvalidFilterPattern(InvalidParameterValueException):
    """A filter pattern is not valid EventBridge pattern syntax (or breaks a Lambda rule).

    It is an ``InvalidParameterValueException`` (HTTP 400) with AWS's message, so the
    API layer renders it like any other AWS error; ``detail`` says what was wrong.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(INVALID_FILTER_PATTERN_MESSAGE)
        self.detail = detail

    def __repr__(self) -> str:
        return f"InvalidFilterPattern({self.detail!r})"
