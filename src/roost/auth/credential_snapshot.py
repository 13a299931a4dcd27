"""The credential cache's disk snapshot: known access keys, sealed, for a restart.

SigV4 needs each caller's secret, which lives in the config store. A node
restarted while that store is down would otherwise refuse every signed request
but the built-in key's. ``CredentialResolver`` saves the credentials it
resolved to ``<data dir>/credential-cache.json`` whenever they change and reads
them back at start-up, so a restarted node still authenticates the accounts it
knew (static stability, ``docs/resilience.md``). The snapshot is only a
fallback: while the store answers, the store wins, and a key the store no
longer knows is dropped from it.

Secrets are sealed with the node's ``SecretBox`` (the master key stays outside
the data it protects, as for the store), and the file is mode 0600, written to
a temporary file and renamed, so a crash never leaves half of one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from roost.auth.secrets import SecretBox, SecretBoxError
from roost.auth.sigv4 import Credential

log = logging.getLogger(__name__)

SNAPSHOT_FILE_NAME = "credential-cache.json"
# Bumped when the layout changes; a snapshot of another format is ignored.
SNAPSHOT_FORMAT = 1
_FILE_MODE = 0o600


class CredentialSnapshot:
    """Reads and (atomically) writes the sealed credentials at ``path``. Thread-safe."""

    def __init__(self, path: Path, box: SecretBox) -> None:
        self.path = path
        self._box = box
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path, box: SecretBox) -> CredentialSnapshot:
        """The snapshot of the node whose data directory is ``data_dir``."""
        return cls(data_dir / SNAPSHOT_FILE_NAME, box)

    def load(self) -> dict[str, Credential]:
        """The credentials on disk by access key id; empty if none or unreadable."""
        try:
            document = json.loads(self.path.read_text())
            if document.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            return {
                str(entry["access_key_id"]): Credential(
                    access_key_id=str(entry["access_key_id"]),
                    secret_access_key=self._box.open(str(entry["sealed_secret"])),
                    account_id=str(entry["account_id"]),
                )
                for entry in document["keys"]
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, SecretBoxError) as error:
            # A fallback that cannot be read is no reason to refuse to start.
            log.warning("ignoring unreadable credential snapshot %s: %s", self.path, error)
            return {}

    def save(self, credentials: Mapping[str, Credential]) -> None:
        """Replace the snapshot with ``credentials`` (blocking: call it in a thread)."""
        document = {
            "format": SNAPSHOT_FORMAT,
            "keys": [
                {
                    "access_key_id": credential.access_key_id,
                    "account_id": credential.account_id,
                    "sealed_secret": self._box.seal(credential.secret_access_key),
                }
                for credential in credentials.values()
            ],
        }
        with self._lock:
            try:
                self._write(json.dumps(document).encode())
            except OSError as error:
                # The snapshot is a fallback: failing to write it must not fail requests.
                log.warning("could not write credential snapshot %s: %s", self.path, error)

    def _write(self, data: bytes) -> None:
        temporary = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, _FILE_MODE
        )
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, self.path)
