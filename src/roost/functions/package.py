"""Checks on a .zip deployment package, done before Roost stores it.

:func:`inspect_zip` enforces AWS Lambda's documented limits and reports what the
API needs (``CodeSize``, ``CodeSha256``) plus the entry names and executables.

Zip bombs: nothing is decompressed to measure the package. The unzipped size is the
sum of the sizes declared in the central directory, the number AWS's limit is about.
Declared sizes can lie, so the structural check is CRC-free and reads no compressed
data: every entry must have a local file header at its offset, and its compressed data
must lie inside the archive without overlapping another entry's (the overlapping-entry
bomb). ``ZipFile.testzip()`` is not used: it inflates every entry, so its cost grows
with the unzipped size the uploader chose, declared or not. The only data ever inflated
is a symbolic link's target, of which at most ``PATH_MAX`` bytes are read. Whatever
extracts the package later must still stop at each entry's declared size (and at the
unzipped limit) instead of trusting it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import stat
import struct
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roost.api.errors import InvalidParameterValueException, RequestEntityTooLargeException

__all__ = [
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "UNZIP_FAILED",
    "PackageInfo",
    "code_sha256",
    "inspect_zip",
]

MAX_ZIPPED_BYTES = 52_428_800
"""Largest .zip AWS accepts in the request itself (50 MB); larger ones go through S3."""

MAX_UNZIPPED_BYTES = 262_144_000
"""Largest unzipped size of a function's package and layers together (250 MB)."""

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
"""AWS's message for an upload that is not a readable zip."""

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_EXTRACTABLE = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_ENCRYPTED_FLAG = 0x1
_PATH_MAX = 4096  # Linux: a symbolic link's target is at most PATH_MAX - 1 bytes.
_MAX_SYMLINK_HOPS = 40  # Linux MAXSYMLINKS.


@dataclass(frozen=True)
class PackageInfo:
    """What Roost reports and keeps about an accepted .zip package.

    ``names`` are the normalised paths of every entry that is not a directory
    (files and symbolic links); ``executables`` the regular files among them whose
    unix mode has an execute bit.
    """

    code_size_bytes: int
    unzipped_size_bytes: int
    sha256_hex: str
    code_sha256: str
    names: frozenset[str]
    executables: frozenset[str]


def code_sha256(data: bytes) -> str:
    """``CodeSha256`` as AWS reports it: base64 of the raw SHA-256 digest."""
    return _b64(hashlib.sha256(data).digest())


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def inspect_zip(
    data: bytes,
    *,
    max_zipped_bytes: int = MAX_ZIPPED_BYTES,
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES,
) -> PackageInfo:
    """Check a .zip deployment package and describe it.

    Raises ``RequestEntityTooLargeException`` (413) when the archive is above
    ``max_zipped_bytes`` (AWS's check on ``ZipFile`` since late 2023; the older
    "Request must be smaller than ... bytes for the CreateFunction operation" is about
    the whole HTTP body and belongs to the HTTP layer). Raises
    ``InvalidParameterValueException`` (400) when it is not a readable zip, when its
    declared unzipped size is above ``max_unzipped_bytes``, or when an entry's path or
    symbolic link target leaves the package root. Whether the handler's file exists is
    not checked: AWS does not check it either when the function is created.
    """
    if len(data) > max_zipped_bytes:
        raise RequestEntityTooLargeException(
            f"Zipped size must be smaller than {max_zipped_bytes} bytes"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # any parse failure of untrusted bytes is "not a zip"
        raise InvalidParameterValueException(UNZIP_FAILED) from exc
    with archive:
        entries = archive.infolist()
        _check_structure(entries, data)
        unzipped = sum(info.file_size for info in entries)
        if unzipped > max_unzipped_bytes:
            raise InvalidParameterValueException(
                f"Unzipped size must be smaller than {max_unzipped_bytes} bytes"
            )
        links = {
            _normalise(info.filename): _read_link(archive, info)
            for info in entries
            if _is_symlink(info)
        }
    names: set[str] = set()
    executables: set[str] = set()
    for info in entries:
        _check_path(info, links)
        if info.is_dir():
            continue
        name = _normalise(info.filename)
        names.add(name)
        if not _is_symlink(info) and _mode(info) & 0o111:
            executables.add(name)
    for link, target in links.items():
        _check_link(link, target, links)
    digest = hashlib.sha256(data).digest()
    return PackageInfo(
        code_size_bytes=len(data),
        unzipped_size_bytes=unzipped,
        sha256_hex=digest.hex(),
        code_sha256=_b64(digest),
        names=frozenset(names),
        executables=frozenset(executables),
    )


def _check_structure(entries: Iterable[zipfile.ZipInfo], data: bytes) -> None:
    """Every entry has a local header and in-bounds, non-overlapping data; nothing inflated."""
    spans: list[tuple[int, int]] = []
    for info in entries:
        if info.flag_bits & _ENCRYPTED_FLAG or info.compress_type not in _EXTRACTABLE:
            raise InvalidParameterValueException(UNZIP_FAILED)
        spans.append(_entry_span(info, data))
    for (_, end), (next_start, _) in itertools.pairwise(sorted(spans)):
        if next_start < end:
            raise InvalidParameterValueException(UNZIP_FAILED)


def _entry_span(info: zipfile.ZipInfo, data: bytes) -> tuple[int, int]:
    """Byte range of an entry (local header through compressed data) in the archive."""
    start = info.header_offset
    header_end = start + _LOCAL_HEADER.size
    if start < 0 or header_end > len(data):
        raise InvalidParameterValueException(UNZIP_FAILED)
    header = _LOCAL_HEADER.unpack_from(data, start)
    if header[0] != _LOCAL_SIGNATURE:
        raise InvalidParameterValueException(UNZIP_FAILED)
    name_length, extra_length = header[9], header[10]
    end = header_end + name_length + extra_length + info.compress_size
    if end > len(data):
        raise InvalidParameterValueException(UNZIP_FAILED)
    return start, end


def _mode(info: zipfile.ZipInfo) -> int:
    """Unix mode bits of an entry (zero when the archiver stored none)."""
    return info.external_attr >> 16


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return not info.is_dir() and stat.S_ISLNK(_mode(info))


def _read_link(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """A symbolic link's target, inflating at most ``PATH_MAX`` bytes of it."""
    if info.file_size >= _PATH_MAX:
        raise _invalid_entry(info.filename, "symbolic link target is too long")
    try:
        with archive.open(info) as stream:
            raw = stream.read(_PATH_MAX)
    except Exception as exc:  # corrupt data, bad CRC, mismatched local header...
        raise InvalidParameterValueException(UNZIP_FAILED) from exc
    if len(raw) >= _PATH_MAX:
        raise _invalid_entry(info.filename, "symbolic link target is too long")
    return raw.decode("utf-8", errors="replace")


def _normalise(name: str) -> str:
    """Lexically normalised relative path of an entry (no ``.``, ``..`` or empty parts)."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _check_path(info: zipfile.ZipInfo, links: Mapping[str, str]) -> None:
    """An entry's own path stays in the root, following the archive's links on the way."""
    name = info.filename
    if name.startswith("/"):
        raise _invalid_entry(name, "absolute paths are not allowed")
    parts = name.split("/")
    if _is_symlink(info):
        parts = parts[:-1]  # the link itself is created, not followed
    outcome = _walk(parts, links)
    if outcome is not None:
        raise _invalid_entry(name, outcome)
    if not info.is_dir() and not _normalise(name):
        raise _invalid_entry(name, "the entry has no file name")


def _check_link(link: str, target: str, links: Mapping[str, str]) -> None:
    """A symbolic link's target, resolved from the link's directory, stays in the root."""
    if target.startswith("/"):
        raise _invalid_entry(
            link, f"symbolic link target '{target}' is an absolute path outside the package"
        )
    parts = link.split("/")[:-1] + target.split("/")
    outcome = _walk(parts, links)
    if outcome is not None:
        raise _invalid_entry(link, f"symbolic link target '{target}' {outcome}")


def _walk(parts: list[str], links: Mapping[str, str]) -> str | None:
    """Resolve path components from the root as the kernel would, within the archive.

    Components that are symbolic links of the archive are replaced by their targets,
    so ``..`` after a link climbs from where the link points. Returns ``None`` when
    the path stays inside the package root, else why it does not.
    """
    pending = list(reversed(parts))
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return "points outside the package"
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is None:
            continue
        hops += 1
        if hops > _MAX_SYMLINK_HOPS:
            return "goes through too many levels of symbolic links"
        if target.startswith("/"):
            return "goes through a symbolic link outside the package"
        resolved.pop()
        pending.extend(reversed(target.split("/")))
    return None


def _invalid_entry(name: str, reason: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Invalid zip entry '{name}' in the deployment package: {reason}."
    )
