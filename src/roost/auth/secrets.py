"""Encryption at rest of secret access keys.

Secrets are sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a master key
kept in ``<data_dir>/master.key``, outside the config store: a copy of the store
(an SQLite file, a Redis dump) then reveals no usable secret on its own.

The key file is created on first use, mode 0600, and published atomically with
``link(2)`` so that two processes starting together agree on one key instead of
the second silently replacing the first (which would make every secret sealed
by the first unreadable). The file holds one key per line: the first seals,
all of them open, so a key can be rotated by prepending a new line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

MASTER_KEY_FILENAME = "master.key"
_KEY_FILE_MODE = 0o600
_DIR_MODE = 0o700

logger = logging.getLogger(__name__)


class SecretBoxError(Exception):
    """A sealed secret could not be opened, or the master key is unusable."""


class SecretBox:
    """Seals and opens short secrets with the master key at ``key_path``.

    The key is read (or created) on first use and kept in memory. Safe to share
    between threads.
    """

    def __init__(self, key_path: Path | str) -> None:
        self._key_path = Path(key_path)
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> SecretBox:
        """A box whose master key is ``<data_dir>/master.key``."""
        return cls(Path(data_dir) / MASTER_KEY_FILENAME)

    @property
    def key_path(self) -> Path:
        """Where the master key file is."""
        return self._key_path

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate ``plaintext``; the result is URL-safe ASCII."""
        return self._keys().encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """Decrypt a value made by ``seal``; raises ``SecretBoxError`` if it was not."""
        try:
            return self._keys().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as error:
            raise SecretBoxError(
                f"cannot open sealed secret with the master key at {self._key_path}"
            ) from error

    def derive(self, label: str) -> str:
        """A secret derived from the sealing key for ``label`` (hex HMAC-SHA256).

        Everyone holding the same master key file derives the same value: the
        nodes of a cluster sign their internal requests with one.
        """
        self._keys()  # Create the key file if this is its first use.
        first = self._key_path.read_bytes().splitlines()[0].strip()
        return hmac.new(first, label.encode(), hashlib.sha256).hexdigest()

    def _keys(self) -> MultiFernet:
        fernet = self._fernet
        if fernet is None:
            with self._lock:
                if self._fernet is None:
                    self._fernet = self._load_or_create()
                fernet = self._fernet
        return fernet

    def _load_or_create(self) -> MultiFernet:
        try:
            return self._load()
        except FileNotFoundError:
            pass
        self._create()
        return self._load()

    def _load(self) -> MultiFernet:
        path = self._key_path
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode & 0o777
            data = file.read()
        if mode & 0o077:
            logger.warning(
                "master key %s is readable by other users (mode %o); chmod 600 it", path, mode
            )
        lines = [line.strip() for line in data.splitlines() if line.strip()]
        if not lines:
            raise SecretBoxError(f"master key file {path} is empty")
        try:
            return MultiFernet([Fernet(line) for line in lines])
        except ValueError as error:
            raise SecretBoxError(f"master key file {path} holds an invalid key") from error

    def _create(self) -> None:
        path = self._key_path
        path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, _KEY_FILE_MODE
        )
        try:
            try:
                os.write(descriptor, Fernet.generate_key() + b"\n")
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            try:
                # link() refuses to replace an existing file: whoever links first
                # wins, and a loser reads the winner's key.
                os.link(temporary, path)
            except FileExistsError:
                return
            _fsync_directory(path.parent)
            logger.info("created master key %s", path)
        finally:
            temporary.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Makes the new directory entry durable, so a crash cannot lose the key
    # after secrets sealed with it were stored.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
