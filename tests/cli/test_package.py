"""The deployment package ``roost deploy`` builds, and how it reads its flags."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from roost.cli.client import CliError
from roost.cli.deploy import DeploySpec, build_zip, package_files, parse_environment


def entries(package: bytes) -> dict[str, tuple[int, bytes]]:
    """Name -> (Unix mode, content) of a zip."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {
            info.filename: (info.external_attr >> 16, archive.read(info))
            for info in archive.infolist()
        }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "fn"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "app.py").write_text("def handler(e, c):\n    return e\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "bootstrap").write_text("#!/bin/sh\n")
    (root / "bootstrap").chmod(0o700)
    return root


def test_zip_holds_the_files_without_caches_or_git(folder: Path) -> None:
    found = entries(build_zip(folder))

    assert sorted(found) == ["app.py", "bootstrap", "pkg/__init__.py"]
    assert found["app.py"][1] == b"def handler(e, c):\n    return e\n"


def test_zip_keeps_executables_executable(folder: Path) -> None:
    found = entries(build_zip(folder))

    assert found["bootstrap"][0] == 0o100755
    assert found["app.py"][0] == 0o100644
    with zipfile.ZipFile(io.BytesIO(build_zip(folder))) as archive:
        assert {info.create_system for info in archive.infolist()} == {3}


def test_zip_is_reproducible(folder: Path) -> None:
    first = build_zip(folder)
    os.utime(folder / "app.py", (1_000_000_000, 1_000_000_000))
    (folder / "pkg" / "__pycache__" / "y.pyc").write_bytes(b"\1")

    assert build_zip(folder) == first


def test_zip_changes_with_the_code(folder: Path) -> None:
    first = build_zip(folder)
    (folder / "app.py").write_text("changed\n")

    assert build_zip(folder) != first


def test_zip_skips_nested_git_and_caches(folder: Path) -> None:
    (folder / "vendor" / "lib" / ".git").mkdir(parents=True)
    (folder / "vendor" / "lib" / ".git" / "config").write_text("x")
    (folder / "vendor" / "lib" / "mod.py").write_text("x = 1\n")

    assert "vendor/lib/mod.py" in entries(build_zip(folder))
    assert not [name for name in entries(build_zip(folder)) if ".git" in name]


def test_zip_follows_links_but_not_loops(folder: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "util.py").write_text("u = 1\n")
    (folder / "util").symlink_to(shared)
    (folder / "linked.py").symlink_to(folder / "app.py")
    (folder / "pkg" / "loop").symlink_to(folder)

    names = [name for name, _ in package_files(folder)]

    assert "util/util.py" in names
    assert "linked.py" in names
    assert not [name for name in names if name.startswith("pkg/loop")]


def test_zip_of_nothing_or_no_folder(tmp_path: Path) -> None:
    (tmp_path / "empty" / "__pycache__").mkdir(parents=True)
    with pytest.raises(CliError, match="holds no files"):
        build_zip(tmp_path / "empty")
    with pytest.raises(CliError, match="not a directory"):
        build_zip(tmp_path / "missing")


def test_environment_pairs() -> None:
    assert parse_environment(None) is None
    assert parse_environment(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    for bad in ("A", "=1"):
        with pytest.raises(CliError, match="KEY=VALUE"):
            parse_environment([bad])


def test_create_request_uses_defaults_only_for_what_was_not_given() -> None:
    spec = DeploySpec(Path("."), "fn", "app.handler", memory=256)

    request = spec.create_request(b"zip")

    assert request == {
        "FunctionName": "fn",
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/roost",
        "Handler": "app.handler",
        "MemorySize": 256,
        "Code": {"ZipFile": b"zip"},
    }


def test_an_update_changes_only_what_differs() -> None:
    current = {
        "Handler": "app.handler",
        "Runtime": "python3.11",
        "MemorySize": 128,
        "Timeout": 3,
        "Role": "arn:aws:iam::000000000000:role/x",
    }
    same = DeploySpec(Path("."), "fn", "app.handler", memory=128)
    changed = DeploySpec(Path("."), "fn", "app.main", timeout=10, environment={"K": "v"})
    cleared = DeploySpec(Path("."), "fn", "app.handler", environment={})

    assert same.changed_settings(current) == {}
    assert changed.changed_settings(current) == {
        "Handler": "app.main",
        "Timeout": 10,
        "Environment": {"Variables": {"K": "v"}},
    }
    assert cleared.changed_settings(current) == {}
    with_env = {**current, "Environment": {"Variables": {"K": "v"}}}
    assert cleared.changed_settings(with_env) == {"Environment": {"Variables": {}}}
