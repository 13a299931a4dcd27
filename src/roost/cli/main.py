"""``roost``: start a node, manage accounts."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from roost.auth.accounts import AccountError, AccountRepository
from roost.config import RoostConfig
from roost.node import Node, Stores


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def _up(args: argparse.Namespace) -> int:
    config = RoostConfig.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    node = Node(config)

    async def main() -> None:
        announce = asyncio.create_task(_announce(node))
        try:
            await node.serve()
        finally:
            announce.cancel()

    _run(main())
    print("Roost stopped.", flush=True)
    return 0


async def _announce(node: Node) -> None:
    await node.ready.wait()
    config = node.config
    lines = [
        f"Roost is up at {config.endpoint_url} (data in {config.data_dir.resolve()})",
        f"  region: {config.region}",
    ]
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
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def _accounts_create(args: argparse.Namespace) -> int:
    config = RoostConfig.from_env(data_dir=args.data_dir)

    async def create() -> int:
        stores = await Stores.open(config.data_dir)
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
"""

_UP_HELP = """\
Bound to a loopback address, Roost also accepts the built-in credentials
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test (account 000000000000).
Bound to any other address it does not: create accounts with
`roost accounts create NAME`. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.

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
    up.set_defaults(func=_up)

    accounts = commands.add_parser("accounts", help="manage accounts")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True)
    create = account_commands.add_parser("create", help="create an account with its own keys")
    create.add_argument("name")
    create.add_argument("--json", action="store_true", help="print the result as JSON")
    create.add_argument("--data-dir", type=Path, help="data directory (env ROOST_DATA_DIR)")
    create.set_defaults(func=_accounts_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roost`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
