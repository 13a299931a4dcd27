"""Errors raised by store adapters; the same for every adapter."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store failure."""


class ConditionFailed(StoreError):
    """A conditional write found the item in another state than required.

    Nothing of the batch that contained the write was applied.
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"condition failed for {key!r}")
        self.key = key


class DuplicateMapping(StoreError):
    """Another event source mapping already links that source to that function.

    Not a ``ConditionFailed``: re-reading and retrying cannot make it succeed.
    """

    def __init__(self, uuid: str, existing_uuid: str) -> None:
        super().__init__(f"mapping {uuid!r} duplicates mapping {existing_uuid!r}")
        self.uuid = uuid
        self.existing_uuid = existing_uuid


class StoreUnavailable(StoreError):
    """The store cannot be reached or is closed; the caller may retry later."""


class BlobNotFound(StoreError):
    """No blob with that digest is in the code store."""
