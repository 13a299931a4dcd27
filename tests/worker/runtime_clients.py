"""Deployment packages whose runtime client is not Roost's own.

* A shell-script ``bootstrap`` in the style of AWS's custom-runtime tutorial: it
  loops over the Runtime API with ``curl`` (or, with ``RT_CLIENT=python`` or no
  curl, with ``/usr/bin/python3`` one-liners) and sources ``function.sh``.
* AWS's ``awslambdaric``, unchanged, downloaded from PyPI as wheels for the
  sandbox's ``/usr/bin/python3`` once (cached in the temp directory across runs).
"""

from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SANDBOX_PYTHON = "/usr/bin/python3"
AWSLAMBDARIC_VERSION = "4.2.2"

# The tutorial's bootstrap: GET /next, read the request id from the headers, run
# the handler, POST its output to /response (or /error when it fails).
SHELL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"

if [ "${RT_CLIENT:-curl}" = curl ] && [ -x /usr/bin/curl ]; then
  rt_next() {  # rt_next HEADERS_FILE: prints the event
    curl -sS -LD "$1" "$API/invocation/next"
  }
  rt_post() {  # rt_post PATH [ERROR_TYPE] < body
    if [ -n "${2:-}" ]; then
      curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: $2" \
        --data-binary @- "$API$1"
    else
      curl -sS -o /dev/null -X POST --data-binary @- "$API$1"
    fi
  }
else
  rt_next() {
    /usr/bin/python3 -c '
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as reply:
    with open(sys.argv[2], "w") as out:
        out.writelines(f"{k}: {v}\r\n" for k, v in reply.headers.items())
    sys.stdout.buffer.write(reply.read())
' "$API/invocation/next" "$1"
  }
  rt_post() {
    /usr/bin/python3 -c '
import sys, urllib.request
headers = {"Lambda-Runtime-Function-Error-Type": sys.argv[2]} if sys.argv[2] else {}
request = urllib.request.Request(sys.argv[1], sys.stdin.buffer.read(), headers, method="POST")
urllib.request.urlopen(request).read()
' "$API$1" "${2:-}"
  }
fi

# Initialisation: load the handler's file (an init error if it is not there).
HANDLER_FILE="$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh"
HANDLER_FN="$(echo "$_HANDLER" | cut -d. -f2)"
if [ ! -f "$HANDLER_FILE" ]; then
  printf '{"errorMessage":"no handler file for %s","errorType":"Shell.NoHandler"}' "$_HANDLER" |
    rt_post /init/error Shell.NoHandler
  exit 1
fi
# shellcheck source=/dev/null
source "$HANDLER_FILE"

while true; do
  HEADERS="$(mktemp)"
  OUTPUT="$(mktemp)"
  EVENT_DATA="$(rt_next "$HEADERS")"
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  # Not in a subshell: a handler's `exit` ends the runtime, as it would on Lambda.
  if "$HANDLER_FN" "$EVENT_DATA" "$REQUEST_ID" >"$OUTPUT"; then
    rt_post "/invocation/$REQUEST_ID/response" <"$OUTPUT"
  else
    rt_post "/invocation/$REQUEST_ID/error" Shell.HandlerFailed <"$OUTPUT"
  fi
  rm -f "$HEADERS" "$OUTPUT"
done
"""

SHELL_FUNCTION = r"""
handler () {
  EVENT_DATA="$1"
  REQUEST_ID="$2"
  echo "shell handler got $EVENT_DATA" 1>&2
  case "$EVENT_DATA" in  # on the event's keys
    *'"fail":'*)
      printf '{"errorMessage":"the shell said no","errorType":"ShellError","stackTrace":[]}'
      return 1
      ;;
    *'"exit":'*)
      exit 3
      ;;
    *'"sleep":'*)
      sleep 30
      ;;
    *'"big":'*)
      printf '"'
      head -c 2000000 /dev/zero | tr '\0' 'a'
      printf '"'
      return 0
      ;;
  esac
  printf '{"event":%s,"handler":"%s","request_id":"%s","task_root":"%s","function":"%s"}' \
    "$EVENT_DATA" "$_HANDLER" "$REQUEST_ID" "$LAMBDA_TASK_ROOT" "$AWS_LAMBDA_FUNCTION_NAME"
}
"""

RIC_BOOTSTRAP = f'#!/bin/sh\nexec {SANDBOX_PYTHON} -m awslambdaric "$_HANDLER"\n'

RIC_APP = """
import os

invocations = 0


def handler(event, context):
    global invocations
    invocations += 1
    print("awslambdaric handler got", event)
    if event.get("boom"):
        raise ValueError("boom requested")
    if event.get("exit"):
        os._exit(event["exit"])
    if event.get("big"):
        return "a" * event["big"]
    client_context = context.client_context
    return {
        "event": event,
        "invocations": invocations,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "custom": client_context.custom if client_context else None,
        "handler_env": os.environ.get("_HANDLER"),
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
        "greeting": os.environ.get("GREETING"),
    }
"""


def zip_tree(files: dict[str, bytes | str], executables: set[str]) -> bytes:
    """A deployment package of ``files``; names in ``executables`` get mode 0755."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            mode = 0o755 if name in executables else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def shell_package() -> bytes:
    """The tutorial's custom runtime: ``bootstrap`` and ``function.sh``."""
    return zip_tree(
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": SHELL_FUNCTION}, executables={"bootstrap"}
    )


class WheelsUnavailable(Exception):
    """awslambdaric could not be obtained (no network, no matching wheel, ...)."""


def sandbox_python_tag() -> str:
    """``3.11`` for the sandbox's interpreter (raises when there is none)."""
    if not os.access(SANDBOX_PYTHON, os.X_OK):
        raise WheelsUnavailable(f"{SANDBOX_PYTHON} is not there to run awslambdaric")
    found = subprocess.run(
        [SANDBOX_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return found.stdout.strip()


def awslambdaric_files() -> dict[str, bytes]:
    """awslambdaric and its dependencies, unpacked, as package entries (cached)."""
    version = sandbox_python_tag()
    arch = platform.machine()
    cache = (
        Path(tempfile.gettempdir())
        / "roost-test-cache"
        / f"awslambdaric-{AWSLAMBDARIC_VERSION}-cp{version.replace('.', '')}-{arch}"
    )
    if not (cache / ".complete").exists():
        _download(cache, version, arch)
    files: dict[str, bytes] = {}
    for wheel in sorted(cache.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    files[info.filename] = archive.read(info)
    return files


def _download(cache: Path, version: str, arch: str) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".download-"))
    platforms = [f"manylinux{tag}_{arch}" for tag in ("2014", "_2_17", "_2_28", "1")]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"awslambdaric=={AWSLAMBDARIC_VERSION}",
        "--only-binary=:all:",
        "--python-version",
        version,
        "--implementation",
        "cp",
        *[arg for tag in platforms for arg in ("--platform", tag)],
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "20",
        "-d",
        str(staging),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
        if done.returncode != 0:
            last = ((done.stderr or done.stdout).strip().splitlines() or ["?"])[-1]
            raise WheelsUnavailable(f"pip download awslambdaric failed: {last}")
        (staging / ".complete").touch()
        try:
            staging.rename(cache)
        except OSError:
            # Another session got there first.
            if not (cache / ".complete").exists():
                raise
    except subprocess.TimeoutExpired as error:
        raise WheelsUnavailable("pip download awslambdaric timed out") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ric_package(extra: dict[str, bytes]) -> bytes:
    """``bootstrap`` running awslambdaric, the library itself, and ``app.py``."""
    files: dict[str, bytes | str] = {**extra, "bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP}
    return zip_tree(files, executables={"bootstrap"})
