"""Tests for the .zip deployment package checks."""

from __future__ import annotations

import base64
import hashlib
import io
import stat
import struct
import zipfile
from collections.abc import Iterable

import pytest

from roost.api.errors import (
    AwsError,
    InvalidParameterValueException,
    RequestEntityTooLargeException,
)
from roost.functions.package import (
    MAX_UNZIPPED_BYTES,
    MAX_ZIPPED_BYTES,
    UNZIP_FAILED,
    PackageInfo,
    code_sha256,
    inspect_zip,
)

Entry = tuple[str, bytes, int]  # name, content, unix mode (with file type bits)


def make_zip(entries: Iterable[Entry], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip built in memory with explicit unix modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def file(name: str, content: bytes = b"x", mode: int = 0o644) -> Entry:
    return name, content, stat.S_IFREG | mode


def directory(name: str, mode: int = 0o755) -> Entry:
    return name.rstrip("/") + "/", b"", stat.S_IFDIR | mode


def symlink(name: str, target: str) -> Entry:
    return name, target.encode(), stat.S_IFLNK | 0o777


def set_declared_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite an entry's declared uncompressed size (local header and central directory)."""
    patched = bytearray(data)
    encoded = name.encode()
    central = patched.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack_from("<H", patched, central + 28)[0]
        if bytes(patched[central + 46 : central + 46 + name_length]) == encoded:
            break
        extra, comment = struct.unpack_from("<HH", patched, central + 30)
        central += 46 + name_length + extra + comment
    local = struct.unpack_from("<I", patched, central + 42)[0]
    struct.pack_into("<I", patched, central + 24, size)
    struct.pack_into("<I", patched, local + 22, size)
    return bytes(patched)


def set_header_offset(data: bytes, offset: int) -> bytes:
    """Point the first central directory entry at another local header offset."""
    patched = bytearray(data)
    central = patched.index(b"PK\x01\x02")
    struct.pack_into("<I", patched, central + 42, offset)
    return bytes(patched)


def assert_invalid(excinfo: pytest.ExceptionInfo[AwsError], message: str) -> None:
    error = excinfo.value
    assert isinstance(error, InvalidParameterValueException)
    assert error.code == "InvalidParameterValueException"
    assert error.error_code == "InvalidParameterValueException"
    assert error.status == 400
    assert error.type == "User"
    assert error.message == message


def invalid_entry(name: str, reason: str) -> str:
    return f"Invalid zip entry '{name}' in the deployment package: {reason}."


# --- a good package -------------------------------------------------------------------


def test_describes_a_package() -> None:
    data = make_zip(
        [
            file("lambda_function.py", b"def handler(e, c):\n    return 1\n"),
            directory("pkg"),
            file("pkg/mod.py", b"X = 1\n" * 100),
            file("bin/tool", b"\x7fELF...", mode=0o755),
        ]
    )
    info = inspect_zip(data)
    assert isinstance(info, PackageInfo)
    assert info.code_size_bytes == len(data)
    assert info.unzipped_size_bytes == 32 + 600 + 7
    assert info.names == {"lambda_function.py", "pkg/mod.py", "bin/tool"}
    assert info.executables == {"bin/tool"}


def test_code_sha256_is_base64_of_the_raw_digest() -> None:
    data = make_zip([file("index.py", b"print('hi')\n")])
    digest = hashlib.sha256(data).digest()
    info = inspect_zip(data)
    assert info.code_sha256 == base64.b64encode(digest).decode()
    assert info.sha256_hex == digest.hex()
    assert code_sha256(data) == info.code_sha256
    assert len(info.code_sha256) == 44 and info.code_sha256.endswith("=")


def test_code_sha256_known_value() -> None:
    # sha256 of the empty string, as AWS would print it.
    assert code_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_empty_zip_is_accepted() -> None:
    info = inspect_zip(make_zip([]))
    assert info.names == frozenset()
    assert info.unzipped_size_bytes == 0


def test_info_is_frozen() -> None:
    info = inspect_zip(make_zip([file("a.py")]))
    with pytest.raises(AttributeError):
        info.code_size_bytes = 1  # type: ignore[misc]


# --- executables ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "executable"),
    [(0o755, True), (0o700, True), (0o010, True), (0o001, True), (0o644, False), (0o600, False)],
)
def test_exec_bits(mode: int, executable: bool) -> None:
    info = inspect_zip(make_zip([file("bootstrap", b"#!/bin/sh\n", mode=mode)]))
    assert ("bootstrap" in info.executables) is executable


def test_directories_and_symlinks_are_not_executables() -> None:
    data = make_zip(
        [directory("bin", 0o755), file("bin/real", mode=0o755), symlink("run", "bin/real")]
    )
    info = inspect_zip(data)
    assert info.executables == {"bin/real"}
    assert info.names == {"bin/real", "run"}


def test_entries_without_unix_mode_are_not_executables() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("handler.py")
        info.create_system = 0  # MS-DOS: no unix mode in the high bits
        info.external_attr = 0x20
        archive.writestr(info, b"x")
    assert inspect_zip(buffer.getvalue()).executables == frozenset()


# --- size limits ----------------------------------------------------------------------


def test_zipped_size_over_50_mb_is_413() -> None:
    with pytest.raises(RequestEntityTooLargeException) as excinfo:
        inspect_zip(b"\0" * (MAX_ZIPPED_BYTES + 1))
    error = excinfo.value
    assert error.code == "RequestEntityTooLargeException"
    assert error.status == 413
    assert error.type == "User"
    assert error.message == "Zipped size must be smaller than 52428800 bytes"


def test_zipped_size_of_exactly_50_mb_passes_the_size_check() -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(b"\0" * MAX_ZIPPED_BYTES)  # not a zip, but not too large either
    assert_invalid(excinfo, UNZIP_FAILED)


def test_zipped_limit_is_configurable() -> None:
    data = make_zip([file("a.py", b"a" * 1000)])
    with pytest.raises(RequestEntityTooLargeException) as excinfo:
        inspect_zip(data, max_zipped_bytes=len(data) - 1)
    assert excinfo.value.message == f"Zipped size must be smaller than {len(data) - 1} bytes"
    assert inspect_zip(data, max_zipped_bytes=len(data)).code_size_bytes == len(data)


@pytest.fixture(scope="module")
def zeros_over_limit() -> bytes:
    """260 MB of zeros in two deflated entries: about 250 KB zipped."""
    chunk = b"\0" * (1 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("a.bin", "b.bin"):
            with archive.open(name, "w") as stream:
                for _ in range(130):
                    stream.write(chunk)
    return buffer.getvalue()


def test_real_unzipped_size_over_250_mb(zeros_over_limit: bytes) -> None:
    assert len(zeros_over_limit) < 1 << 20
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(zeros_over_limit)
    assert_invalid(excinfo, "Unzipped size must be smaller than 262144000 bytes")


def test_unzipped_size_is_the_declared_size() -> None:
    small = make_zip([file("a.bin", b"\0" * 100), file("b.bin", b"\0" * 100)])
    lying = set_declared_size(small, "b.bin", MAX_UNZIPPED_BYTES - 100 + 1)
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(lying)
    assert_invalid(excinfo, "Unzipped size must be smaller than 262144000 bytes")


def test_unzipped_size_of_exactly_250_mb_is_accepted() -> None:
    small = make_zip([file("a.bin", b"\0" * 100), file("b.bin", b"\0" * 100)])
    at_limit = set_declared_size(small, "b.bin", MAX_UNZIPPED_BYTES - 100)
    assert inspect_zip(at_limit).unzipped_size_bytes == MAX_UNZIPPED_BYTES


def test_unzipped_limit_is_configurable() -> None:
    data = make_zip([file("a.py", b"a" * 1000)])
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data, max_unzipped_bytes=999)
    assert_invalid(excinfo, "Unzipped size must be smaller than 999 bytes")


# --- not a zip ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"PK\x03\x04garbage", bytes(range(256)) * 10],
    ids=["empty", "text", "truncated-header", "noise"],
)
def test_not_a_zip(data: bytes) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data)
    assert_invalid(excinfo, UNZIP_FAILED)
    assert UNZIP_FAILED == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )


def test_truncated_zip() -> None:
    data = make_zip([file("a.py", b"a" * 5000)], compression=zipfile.ZIP_STORED)
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data[: len(data) // 2])
    assert_invalid(excinfo, UNZIP_FAILED)


def test_central_directory_pointing_at_no_local_header() -> None:
    data = make_zip([file("a.py", b"a" * 100)], compression=zipfile.ZIP_STORED)
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(set_header_offset(data, 7))
    assert_invalid(excinfo, UNZIP_FAILED)


def test_central_directory_pointing_past_the_end() -> None:
    data = make_zip([file("a.py", b"a" * 100)], compression=zipfile.ZIP_STORED)
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(set_header_offset(data, len(data) + 10))
    assert_invalid(excinfo, UNZIP_FAILED)


def test_entries_sharing_their_data_are_rejected() -> None:
    # Two central directory entries over one local header: the overlapping zip bomb shape.
    data = make_zip([file("a.py", b"a" * 100), file("b.py", b"b" * 100)], zipfile.ZIP_STORED)
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    patched = bytearray(data)
    struct.pack_into("<I", patched, second + 42, 0)
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(bytes(patched))
    assert_invalid(excinfo, UNZIP_FAILED)


def test_encrypted_entry_cannot_be_unzipped() -> None:
    data = make_zip([file("a.py")], compression=zipfile.ZIP_STORED)
    patched = bytearray(data)
    for signature, flags_at in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        at = patched.index(signature)
        patched[at + flags_at] |= 0x1
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(bytes(patched))
    assert_invalid(excinfo, UNZIP_FAILED)


def test_unknown_compression_method_cannot_be_unzipped() -> None:
    data = make_zip([file("a.py")], compression=zipfile.ZIP_STORED)
    patched = bytearray(data)
    for signature, method_at in ((b"PK\x01\x02", 10), (b"PK\x03\x04", 8)):
        at = patched.index(signature)
        struct.pack_into("<H", patched, at + method_at, 9)  # deflate64
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(bytes(patched))
    assert_invalid(excinfo, UNZIP_FAILED)


def test_corrupt_symlink_data() -> None:
    data = make_zip([symlink("link", "target.py")], compression=zipfile.ZIP_STORED)
    patched = data.replace(b"target.py", b"tarXet.py", 1)  # bad CRC
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(patched)
    assert_invalid(excinfo, UNZIP_FAILED)


# --- paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/etc/passwd", "/abs/dir/", "//double"])
def test_absolute_paths(name: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(make_zip([file(name)]))
    assert_invalid(excinfo, invalid_entry(name, "absolute paths are not allowed"))


@pytest.mark.parametrize("name", ["../x", "a/../../x", "./../x", "a/b/../../../x", "..", "../"])
def test_paths_escaping_the_root(name: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(make_zip([file(name)]))
    assert_invalid(excinfo, invalid_entry(name, "points outside the package"))


@pytest.mark.parametrize(
    ("name", "normalised"),
    [("./a.py", "a.py"), ("a/../b.py", "b.py"), ("a//b.py", "a/b.py"), ("a/./b/../c.py", "a/c.py")],
)
def test_paths_normalising_inside_are_accepted(name: str, normalised: str) -> None:
    assert inspect_zip(make_zip([file(name)])).names == {normalised}


def test_backslashes_are_literal_characters() -> None:
    # Lambda extracts on Linux, where "..\\x" is a file name, not a parent reference.
    assert inspect_zip(make_zip([file("..\\x")])).names == {"..\\x"}


def test_file_entry_without_a_name() -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(make_zip([file("a/..")]))
    assert_invalid(excinfo, invalid_entry("a/..", "the entry has no file name"))


# --- symbolic links -------------------------------------------------------------------


def test_symlinks_inside_are_accepted() -> None:
    data = make_zip(
        [
            file("lib/libfoo.so.1", mode=0o755),
            symlink("lib/libfoo.so", "libfoo.so.1"),
            symlink("node_modules/.bin/tool", "../tool/cli.js"),
            file("node_modules/tool/cli.js"),
            symlink("here", "."),
            symlink("dangling", "missing/file"),
        ]
    )
    info = inspect_zip(data)
    assert "lib/libfoo.so" in info.names
    assert info.executables == {"lib/libfoo.so.1"}


@pytest.mark.parametrize(
    ("name", "target"),
    [("up", ".."), ("escape", "../outside"), ("a/b/link", "../../../x"), ("s", "sub/../../x")],
)
def test_symlinks_pointing_outside(name: str, target: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(make_zip([symlink(name, target)]))
    reason = f"symbolic link target '{target}' points outside the package"
    assert_invalid(excinfo, invalid_entry(name, reason))


def test_symlink_to_an_absolute_path() -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(make_zip([symlink("passwd", "/etc/passwd")]))
    reason = "symbolic link target '/etc/passwd' is an absolute path outside the package"
    assert_invalid(excinfo, invalid_entry("passwd", reason))


def test_symlinks_escaping_together() -> None:
    # Each target is inside on its own; "a/.." climbs from where "a" points: the root's parent.
    data = make_zip([symlink("b/c", ".."), symlink("a", "b/c"), symlink("x", "a/..")])
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data)
    reason = "symbolic link target 'a/..' points outside the package"
    assert_invalid(excinfo, invalid_entry("x", reason))


def test_file_written_through_a_symlink_outside() -> None:
    data = make_zip([symlink("etc", "/etc"), file("etc/passwd")])
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data)
    reason = "goes through a symbolic link outside the package"
    assert_invalid(excinfo, invalid_entry("etc/passwd", reason))


def test_file_written_through_a_symlink_inside_is_accepted() -> None:
    data = make_zip([directory("real"), symlink("alias", "real"), file("alias/a.py")])
    assert inspect_zip(data).names == {"alias", "alias/a.py"}


def test_symlink_loop() -> None:
    data = make_zip([symlink("a", "b"), symlink("b", "a")])
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data)
    reason = "symbolic link target 'b' goes through too many levels of symbolic links"
    assert_invalid(excinfo, invalid_entry("a", reason))


def test_symlink_target_too_long() -> None:
    data = make_zip([symlink("long", "a/" * 2048)])
    with pytest.raises(InvalidParameterValueException) as excinfo:
        inspect_zip(data)
    assert_invalid(excinfo, invalid_entry("long", "symbolic link target is too long"))


# --- error types ----------------------------------------------------------------------
