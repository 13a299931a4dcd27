"""``roost deploy DIR``: zip a folder and create the function, or update its code and settings."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from roost.cli.client import CliError, Target, lambda_client, status

DEFAULT_RUNTIME = "python3.12"
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/roost"
SKIPPED_DIRECTORIES = frozenset({"__pycache__", ".git"})
# Every entry gets the same timestamp, so the same files make the same zip (and
# the same CodeSha256) wherever and whenever they are packaged.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
SETTLE_TIMEOUT_S = 300.0


def package_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(name in the zip, file)`` of every regular file under ``root``, sorted by name.

    ``__pycache__`` and ``.git`` directories are left out; symbolic links are
    followed (a link back to a directory being walked is skipped).
    """
    yield from _walk(root, "", frozenset({os.path.realpath(root)}))


def _walk(directory: Path, prefix: str, ancestors: frozenset[str]) -> Iterator[tuple[str, Path]]:
    for entry in sorted(directory.iterdir(), key=lambda path: path.name):
        name = prefix + entry.name
        if entry.is_dir():
            real = os.path.realpath(entry)
            if entry.name not in SKIPPED_DIRECTORIES and real not in ancestors:
                yield from _walk(entry, name + "/", ancestors | {real})
        elif entry.is_file():
            yield name, entry


def build_zip(root: Path) -> bytes:
    """A deployment package of ``root``, reproducible, executables kept executable."""
    if not root.is_dir():
        raise CliError(f"{root} is not a directory")
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in package_files(root):
            info = zipfile.ZipInfo(name, ZIP_TIMESTAMP)
            info.create_system = 3  # Unix: the external attributes carry a file mode
            executable = path.stat().st_mode & 0o111
            info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size
            with path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink)
            count += 1
    if count == 0:
        raise CliError(f"nothing to deploy: {root} holds no files")
    return buffer.getvalue()


def parse_environment(pairs: Sequence[str] | None) -> dict[str, str] | None:
    """``["K=V", ...]`` as a mapping; None when no ``--env`` was given."""
    if pairs is None:
        return None
    variables: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CliError(f"--env takes KEY=VALUE, not '{pair}'")
        variables[key] = value
    return variables


@dataclass(frozen=True)
class DeploySpec:
    """What ``roost deploy`` was asked to make true."""

    directory: Path
    name: str
    handler: str
    runtime: str | None = None
    memory: int | None = None
    timeout: int | None = None
    role: str | None = None
    environment: dict[str, str] | None = field(default=None)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DeploySpec:
        """The spec of parsed ``roost deploy`` flags."""
        return cls(
            directory=Path(args.directory),
            name=args.name,
            handler=args.handler,
            runtime=args.runtime,
            memory=args.memory,
            timeout=args.timeout,
            role=args.role,
            environment=parse_environment(args.env),
        )

    def settings(self) -> dict[str, Any]:
        """The configuration members given on the command line, in the API's names."""
        given: dict[str, Any] = {
            "Handler": self.handler,
            "Runtime": self.runtime,
            "MemorySize": self.memory,
            "Timeout": self.timeout,
            "Role": self.role,
        }
        if self.environment is not None:
            given["Environment"] = {"Variables": self.environment}
        return {key: value for key, value in given.items() if value is not None}

    def create_request(self, package: bytes) -> dict[str, Any]:
        """CreateFunction's input: the settings, with defaults for runtime and role."""
        return {
            "FunctionName": self.name,
            "Runtime": DEFAULT_RUNTIME,
            "Role": DEFAULT_ROLE,
            **self.settings(),
            "Code": {"ZipFile": package},
        }

    def changed_settings(self, current: dict[str, Any]) -> dict[str, Any]:
        """The settings that differ from the function's ``current`` configuration."""
        now = dict(current)
        now["Environment"] = {"Variables": current.get("Environment", {}).get("Variables", {})}
        return {key: value for key, value in self.settings().items() if now.get(key) != value}


def deploy(args: argparse.Namespace) -> int:
    """Create or update the function, wait until it is ready, print its ARN and hash."""
    spec = DeploySpec.from_args(args)
    package = build_zip(spec.directory)
    client = lambda_client(Target.from_args(args))
    current = _configuration(client, spec.name)
    if current is None:
        status(f"creating function {spec.name} ({len(package)} bytes of code)")
        client.create_function(**spec.create_request(package))
    else:
        _update(client, spec, package, current)
    final = wait_until_ready(client, spec.name)
    print(f"FunctionArn: {final['FunctionArn']}")
    print(f"CodeSha256: {final['CodeSha256']}")
    return 0


def _update(client: Any, spec: DeploySpec, package: bytes, current: dict[str, Any]) -> None:
    """Code first, then the settings that changed, each once the function is ready."""
    status(f"updating function {spec.name} ({len(package)} bytes of code)")
    wait_until_ready(client, spec.name)
    client.update_function_code(FunctionName=spec.name, ZipFile=package)
    changed = spec.changed_settings(current)
    if changed:
        wait_until_ready(client, spec.name)
        status(f"updating configuration: {', '.join(sorted(changed))}")
        client.update_function_configuration(FunctionName=spec.name, **changed)


def _configuration(client: Any, name: str) -> dict[str, Any] | None:
    """The function's $LATEST configuration, or None if there is no such function."""
    try:
        return dict(client.get_function_configuration(FunctionName=name))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def wait_until_ready(client: Any, name: str, timeout_s: float = SETTLE_TIMEOUT_S) -> dict[str, Any]:
    """Poll until the function is Active and its last update Successful; its configuration."""
    deadline = time.monotonic() + timeout_s
    pause = 0.02
    while True:
        config = dict(client.get_function_configuration(FunctionName=name))
        state, update = config.get("State"), config.get("LastUpdateStatus")
        if state == "Failed":
            raise CliError(f"{name} failed to become active: {config.get('StateReason')}")
        if update == "Failed":
            raise CliError(f"updating {name} failed: {config.get('LastUpdateStatusReason')}")
        if state == "Active" and update in (None, "Successful"):
            return config
        if time.monotonic() > deadline:
            raise CliError(f"{name} is still {state}/{update} after {timeout_s:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
