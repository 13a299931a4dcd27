"""``roost``: start a node, manage accounts, deploy, invoke and watch functions."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from roost import gc_policy, process_exit
from roost.auth.accounts import AccountError, AccountRepository
from roost.cli.async_stats import async_stats as async_stats_command
from roost.cli.client import CLIENT_EPILOG, add_client_flags, guarded
from roost.cli.cluster_flags import add_cluster_flags, with_cluster_flags
from roost.cli.deploy import DEFAULT_ROLE, DEFAULT_RUNTIME
from roost.cli.deploy import deploy as deploy_command
from roost.cli.doctor import doctor as doctor_command
from roost.cli.invoke import invoke as invoke_command
from roost.cli.logs import logs as logs_command
from roost.cli.mapping_stats import mapping_stats as mapping_stats_command
from roost.config import RoostConfig

if TYPE_CHECKING:
    from roost.node import Node


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def _up(args: argparse.Namespace) -> int:
    from roost.node import Node  # imported here: the client commands start faster

    config = RoostConfig.from_env(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        aws_endpoint_url=args.aws_endpoint_url,
    )
    try:
        config = with_cluster_flags(config, args)
        deadline = process_exit.StopDeadline(_stop_deadline_s())
    except ValueError as error:
        print(f"roost up: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # A crash dumps every thread's stack, and so does `kill -USR1 PID` at any
    # time: what a node that will not stop is waiting for.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # httpx logs every request at INFO: one line per invoke sent to another node.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    node = Node(config)

    async def main() -> None:
        announce = asyncio.create_task(_announce(node))
        bound = asyncio.create_task(_bound_the_stop(node, deadline))
        try:
            await node.serve()
        finally:
            announce.cancel()
            bound.cancel()

    try:
        _run(main())
    except Exception:
        # A node that failed must not hang on threads either: report, then leave.
        logging.getLogger("roost").exception("roost up failed")
        return process_exit.leave(1)
    finally:
        deadline.disarm()
    print("Roost stopped.", flush=True)
    return process_exit.leave(0)


async def _bound_the_stop(node: Node, deadline: process_exit.StopDeadline) -> None:
    """A stop that hangs ends the process after the deadline (see process_exit)."""
    await node.stopping()
    deadline.arm(asyncio.get_running_loop())


MAX_STOP_DEADLINE_S = 86_400.0


def _stop_deadline_s() -> float:
    """``ROOST_STOP_DEADLINE_S``; raises ``ValueError`` unless a positive number of seconds
    (at most a day: a timer cannot wait for ever)."""
    value = os.environ.get("ROOST_STOP_DEADLINE_S")
    if not value:
        return process_exit.STOP_DEADLINE_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_STOP_DEADLINE_S:
        raise ValueError(
            f"ROOST_STOP_DEADLINE_S must be seconds in (0, {MAX_STOP_DEADLINE_S:g}], not {value!r}"
        )
    return seconds


async def _announce(node: Node) -> None:
    await node.ready.wait()
    gc_policy.settle()
    config = node.config
    lines = [
        f"Roost is up at {config.endpoint_url} (data in {config.data_dir.resolve()})",
        f"  region: {config.region}",
    ]
    if config.aws_endpoint_url:
        lines.append(f"  async destinations through the AWS endpoint {config.aws_endpoint_url}")
    if config.allow_builtin_credentials:
        lines += [
            "  credentials: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
            "(account 000000000000)",
            f"  try: aws lambda list-functions --endpoint-url {config.endpoint_url} "
            f"--region {config.region}",
        ]
    else:
        lines.append(
            "  not bound to loopback: the built-in test credentials are off; "
            "create an account with `roost accounts create NAME`"
        )
    if node.isolation is not None:
        lines += ["  " + line for line in node.isolation.describe().splitlines()]
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _accounts_create(args: argparse.Namespace) -> int:
    from roost.node_stores import open_node_stores

    config = RoostConfig.from_env(data_dir=args.data_dir)
    if args.store:
        config = dataclasses.replace(
            config, cluster=dataclasses.replace(config.cluster, store_url=args.store)
        )

    async def create() -> int:
        stores = await open_node_stores(config, None)
        try:
            account = await AccountRepository(stores.config, stores.secrets).create(args.name)
        except AccountError as error:
            print(f"roost: {error}", file=sys.stderr)
            return 1
        finally:
            await stores.close()
        if args.json:
            print(
                json.dumps(
                    {
                        "AccountId": account.account_id,
                        "Name": account.name,
                        "AccessKeyId": account.access_key_id,
                        "SecretAccessKey": account.secret_access_key,
                    }
                )
            )
        else:
            print(f"account id:        {account.account_id}")
            print(f"access key id:     {account.access_key_id}")
            print(f"secret access key: {account.secret_access_key}")
            print("The secret is shown only once; store it now.")
        return 0

    return asyncio.run(create())


_ENVIRONMENT_HELP = """\
environment variables (flags take precedence):
  ROOST_HOST      address `roost up` binds (default 127.0.0.1)
  ROOST_PORT      port `roost up` listens on (default 9009)
  ROOST_DATA_DIR  data directory of the embedded store (default ./.roost)
  ROOST_REGION    region Roost reports in ARNs (default us-east-1)
  ROOST_AWS_ENDPOINT_URL  AWS endpoint of async destinations (default: AWS)
  ROOST_STOP_DEADLINE_S   a stop still running after this many seconds dumps
                  every thread's stack and ends the process (default 60)
"""

_UP_HELP = """\
Bound to a loopback address, Roost also accepts the built-in credentials
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test (account 000000000000).
Bound to any other address it does not: create accounts with
`roost accounts create NAME`. Ctrl-C (SIGINT) or SIGTERM stops it cleanly; a
stop that hangs ends the process after ROOST_STOP_DEADLINE_S (nothing it
acknowledged is lost: all of it is durable).

"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``roost``."""
    parser = argparse.ArgumentParser(
        prog="roost",
        description="A self-hosted AWS Lambda.",
        epilog="Run `roost COMMAND --help` for a command's flags.\n\n" + _ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_up(commands)
    _add_accounts(commands)
    _add_deploy(commands)
    _add_invoke(commands)
    _add_logs(commands)
    _add_async_stats(commands)
    _add_mapping_stats(commands)
    _add_doctor(commands)
    return parser


# argparse exposes the type of ``add_subparsers()`` only under a private name.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_up(commands: _Commands) -> None:
    up = commands.add_parser(
        "up",
        help="start Roost in the foreground",
        description="Start every role of Roost on this machine, in the foreground.",
        epilog=_UP_HELP + _ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("--host", help="address to bind (env ROOST_HOST, default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port (env ROOST_PORT, default 9009)")
    up.add_argument(
        "--data-dir", type=Path, help="data directory (env ROOST_DATA_DIR, default ./.roost)"
    )
    up.add_argument(
        "--aws-endpoint-url",
        metavar="URL",
        help="AWS endpoint for async destinations and dead-letter queues, e.g. moto's "
        "server (env ROOST_AWS_ENDPOINT_URL, default: AWS itself)",
    )
    add_cluster_flags(up)
    up.set_defaults(func=_up)


def _add_accounts(commands: _Commands) -> None:
    accounts = commands.add_parser("accounts", help="manage accounts")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True)
    create = account_commands.add_parser("create", help="create an account with its own keys")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    create.add_argument("--data-dir", type=Path, help="data directory (env ROOST_DATA_DIR)")
    create.add_argument(
        "--store",
        metavar="URL",
        help="a cluster's shared store, redis://host:port/db (env ROOST_STORE); the "
        "master key file (ROOST_MASTER_KEY_FILE) must be the cluster's",
    )
    create.set_defaults(func=_accounts_create)


def _client_parser(
    commands: _Commands, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand that talks to a running Roost through its API."""
    parser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=CLIENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_flags(parser)
    return parser


def _add_deploy(commands: _Commands) -> None:
    deploy = _client_parser(
        commands,
        "deploy",
        "zip a folder and create or update a function",
        "Zip DIR (executable bits kept; __pycache__ and .git left out) and create the "
        "function, or update its code and the settings given. Waits until the function "
        "is ready, then prints its ARN and CodeSha256.",
    )
    deploy.add_argument("directory", metavar="DIR", help="folder holding the function's code")
    deploy.add_argument("--name", required=True, help="function name")
    deploy.add_argument("--handler", required=True, help="handler, e.g. app.handler")
    deploy.add_argument("--runtime", help=f"runtime (default {DEFAULT_RUNTIME} for a new function)")
    deploy.add_argument("--memory", type=int, metavar="MB", help="memory size in MB")
    deploy.add_argument("--timeout", type=int, metavar="SECONDS", help="timeout in seconds")
    deploy.add_argument(
        "--role", metavar="ARN", help=f"execution role (default {DEFAULT_ROLE} for a new function)"
    )
    deploy.add_argument(
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="environment variable; repeat for more (replaces all of the function's variables)",
    )
    deploy.set_defaults(func=guarded(deploy_command))


def _add_invoke(commands: _Commands) -> None:
    invoke = _client_parser(
        commands,
        "invoke",
        "invoke a function and print its result",
        "Invoke a function synchronously and print the response payload. Exits 1 if "
        "the function returned an error.",
    )
    invoke.add_argument("name", metavar="NAME", help="function name or ARN")
    invoke.add_argument(
        "payload", metavar="PAYLOAD", nargs="?", help="JSON event, or - to read it from stdin"
    )
    invoke.add_argument("--qualifier", help="version or alias to invoke")
    invoke.add_argument(
        "--log", action="store_true", help="print the invocation's log tail to stderr"
    )
    invoke.set_defaults(func=guarded(invoke_command))


def _add_logs(commands: _Commands) -> None:
    logs = _client_parser(
        commands,
        "logs",
        "print a function's logs",
        "Print the logs Roost kept for a function (START, END and REPORT lines and "
        "whatever the function printed).",
    )
    logs.add_argument("name", metavar="NAME", help="function name")
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new logs until Ctrl-C"
    )
    logs.add_argument(
        "--since", type=float, metavar="SECONDS", help="only logs of the last SECONDS seconds"
    )
    logs.set_defaults(func=guarded(logs_command))


def _add_async_stats(commands: _Commands) -> None:
    stats = _client_parser(
        commands,
        "async-stats",
        "print a function's async invoke figures",
        "Print what Roost's /metrics says about a function's async invokes since the "
        "node started: accepted, queued, in flight, attempts, successes, retries and "
        "dropped events by reason, and the age of events when they start.",
    )
    stats.add_argument("name", metavar="NAME", help="function name or ARN")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(func=guarded(async_stats_command))


def _add_mapping_stats(commands: _Commands) -> None:
    stats = _client_parser(
        commands,
        "mapping-stats",
        "print an event source mapping's figures",
        "Print what Roost's /metrics says about an event source mapping since the node "
        "started: its function, records by fate (invoked, failed, filtered, given_up), "
        "batches by outcome and, for a stream mapping running on the node, each shard's "
        "(Kafka: partition's) iterator age and milliseconds behind the latest record.",
    )
    stats.add_argument("uuid", metavar="UUID", help="the mapping's UUID")
    stats.add_argument("--json", action="store_true", help="print the figures as JSON")
    stats.set_defaults(func=guarded(mapping_stats_command))


def _add_doctor(commands: _Commands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="report the isolation functions get on this machine",
        description="Report which isolation is in effect for functions run on this "
        "machine and why: bubblewrap, cgroups, the Python used inside sandboxes.",
    )
    doctor.set_defaults(func=doctor_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roost`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
