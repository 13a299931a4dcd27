"""Accounts made with ``roost accounts create`` are walled off from each other.

One Roost serves the module; its accounts are created through the CLI while it
runs (SQLite in WAL mode lets both write), each before its key is first used, so
the server's short negative cache of unknown keys never sees them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from roost.config import RoostConfig
from tests.conftest import create_args
from tests.fixtures.roost_process import REGION, RoostProcess, roost_cli


@dataclass(frozen=True)
class Account:
    """What ``roost accounts create --json`` printed."""

    account_id: str
    name: str
    access_key_id: str
    secret_access_key: str


def create_account(data_dir: Path, name: str) -> Account:
    done = roost_cli("accounts", "create", name, "--json", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    return Account(
        printed["AccountId"], printed["Name"], printed["AccessKeyId"], printed["SecretAccessKey"]
    )


@dataclass
class Tenants:
    """The module's Roost with three accounts: Alice and Bob deploy, Carol only pokes."""

    roost: RoostProcess
    alice: Account
    bob: Account
    carol: Account
    clients: list[Any]

    def client(self, account: Account) -> Any:
        client = self.roost.client(credentials=(account.access_key_id, account.secret_access_key))
        self.clients.append(client)
        return client


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    roost = RoostProcess(tmp_path_factory.mktemp("isolation") / "data")
    roost.start()
    try:
        tenants = Tenants(
            roost,
            alice=create_account(roost.data_dir, "alice"),
            bob=create_account(roost.data_dir, "bob"),
            carol=create_account(roost.data_dir, "carol"),
            clients=[],
        )
        yield tenants
        for client in tenants.clients:
            client.close()
    finally:
        roost.stop()


def wait_active(client: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        config = client.get_function_configuration(FunctionName=name)
        config.pop("ResponseMetadata")
        if config["State"] == "Active" and config["LastUpdateStatus"] == "Successful":
            return dict(config)
        assert time.monotonic() < deadline, config
        time.sleep(0.02)


def error_of(call: Callable[..., Any], **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value


def code_and_status(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def state_of(client: Any, name: str) -> dict[str, Any]:
    """What an owner sees of a function: config, tags, versions, aliases, extras."""
    function = client.get_function(FunctionName=name)
    arn = function["Configuration"]["FunctionArn"]
    state: dict[str, Any] = {
        "configuration": function["Configuration"],
        "tags": client.list_tags(Resource=arn)["Tags"],
        "versions": client.list_versions_by_function(FunctionName=name)["Versions"],
        "aliases": client.list_aliases(FunctionName=name)["Aliases"],
        "concurrency": client.get_function_concurrency(FunctionName=name).get(
            "ReservedConcurrentExecutions"
        ),
        "event_invoke_configs": client.list_function_event_invoke_configs(FunctionName=name)[
            "FunctionEventInvokeConfigs"
        ],
    }
    try:
        state["policy"] = client.get_policy(FunctionName=name)["Policy"]
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        state["policy"] = None
    return state


def test_cli_prints_a_working_account(tenants: Tenants) -> None:
    alice = tenants.alice

    assert re.fullmatch(r"\d{12}", alice.account_id)
    assert alice.account_id != "000000000000"
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", alice.access_key_id)
    assert len(alice.secret_access_key) == 40
    assert len({tenants.alice.account_id, tenants.bob.account_id, tenants.carol.account_id}) == 3
    client = tenants.client(alice)
    client.create_function(**create_args("alice-first"))
    arn = client.get_function(FunctionName="alice-first")["Configuration"]["FunctionArn"]
    assert arn == f"arn:aws:lambda:{REGION}:{alice.account_id}:function:alice-first"


def test_another_account_cannot_touch_a_function(tenants: Tenants) -> None:
    # Given: Alice's function with tags, a version, an alias and a policy
    alice = tenants.client(tenants.alice)
    carol = tenants.client(tenants.carol)
    name = "alice-private"
    alice.create_function(**create_args(name, Tags={"owner": "alice"}))
    wait_active(alice, name)
    alice.publish_version(FunctionName=name)
    alice.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    alice.add_permission(
        FunctionName=name,
        StatementId="alice-s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    before = state_of(alice, name)
    arn = before["configuration"]["FunctionArn"]
    carol_arn = arn.replace(tenants.alice.account_id, tenants.carol.account_id)

    # Then: Carol sees nothing
    assert carol.list_functions()["Functions"] == []
    assert carol.list_functions(FunctionVersion="ALL")["Functions"] == []

    # And every call on it fails: by name (or her own ARN) it does not exist; by
    # Alice's ARN she is denied
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_function", {}),
        ("get_function_configuration", {}),
        ("update_function_configuration", {"Description": "carol was here"}),
        ("update_function_code", {"ZipFile": b"PK\x05\x06" + bytes(18)}),
        ("publish_version", {}),
        ("list_versions_by_function", {}),
        ("create_alias", {"Name": "carols", "FunctionVersion": "1"}),
        ("get_alias", {"Name": "live"}),
        ("update_alias", {"Name": "live", "FunctionVersion": "$LATEST"}),
        ("delete_alias", {"Name": "live"}),
        ("list_aliases", {}),
        (
            "add_permission",
            {
                "StatementId": "carol",
                "Action": "lambda:InvokeFunction",
                "Principal": "*",
            },
        ),
        ("remove_permission", {"StatementId": "alice-s3"}),
        ("get_policy", {}),
        ("put_function_concurrency", {"ReservedConcurrentExecutions": 1}),
        ("delete_function_concurrency", {}),
        ("put_function_event_invoke_config", {"MaximumRetryAttempts": 0}),
        ("delete_function", {}),
    ]
    for operation, kwargs in calls:
        for function_name in (name, carol_arn):
            error = error_of(getattr(carol, operation), FunctionName=function_name, **kwargs)
            assert code_and_status(error) == ("ResourceNotFoundException", 404), operation
            assert tenants.alice.account_id not in error.response["Error"]["Message"]
        error = error_of(getattr(carol, operation), FunctionName=arn, **kwargs)
        assert code_and_status(error) == ("AccessDeniedException", 403), operation
    tag_calls: list[tuple[str, dict[str, Any]]] = [
        ("tag_resource", {"Tags": {"owner": "carol"}}),
        ("untag_resource", {"TagKeys": ["owner"]}),
        ("list_tags", {}),
    ]
    for operation, kwargs in tag_calls:
        error = error_of(getattr(carol, operation), Resource=arn, **kwargs)
        assert code_and_status(error) == ("AccessDeniedException", 403), operation
        error = error_of(getattr(carol, operation), Resource=carol_arn, **kwargs)
        assert code_and_status(error) == ("ResourceNotFoundException", 404), operation

    # And Alice's function is exactly as it was
    assert state_of(alice, name) == before
    assert carol.list_functions()["Functions"] == []


def test_the_builtin_account_sees_no_other_account(tenants: Tenants) -> None:
    alice = tenants.client(tenants.alice)
    alice.create_function(**create_args("alice-hidden"))
    builtin = tenants.roost.client()
    try:
        names = {f["FunctionName"] for f in builtin.list_functions()["Functions"]}
        error = error_of(builtin.get_function, FunctionName="alice-hidden")
    finally:
        builtin.close()

    assert "alice-hidden" not in names
    assert code_and_status(error) == ("ResourceNotFoundException", 404)


def test_two_accounts_can_use_the_same_name(tenants: Tenants) -> None:
    alice = tenants.client(tenants.alice)
    bob = tenants.client(tenants.bob)

    alice.create_function(**create_args("same-name", Description="alice's", MemorySize=256))
    bob.create_function(**create_args("same-name", Description="bob's", MemorySize=512))
    alice_config = wait_active(alice, "same-name")
    bob_config = wait_active(bob, "same-name")

    assert (alice_config["Description"], alice_config["MemorySize"]) == ("alice's", 256)
    assert (bob_config["Description"], bob_config["MemorySize"]) == ("bob's", 512)
    assert tenants.alice.account_id in alice_config["FunctionArn"]
    assert tenants.bob.account_id in bob_config["FunctionArn"]

    # Deleting one leaves the other alone
    bob.delete_function(FunctionName="same-name")
    assert wait_active(alice, "same-name") == alice_config
    error = error_of(bob.get_function, FunctionName="same-name")
    assert code_and_status(error) == ("ResourceNotFoundException", 404)


def test_secret_is_not_stored_in_plain_text(tenants: Tenants) -> None:
    account = tenants.carol
    files = [p for p in tenants.roost.data_dir.rglob("*") if p.is_file()]
    contents = {path: path.read_bytes() for path in files}

    # The search does see the store: the access key id is in it, in the clear.
    assert any(account.access_key_id.encode() in data for data in contents.values())
    leaked = [path for path, data in contents.items() if account.secret_access_key.encode() in data]
    assert leaked == []
    assert account.secret_access_key not in tenants.roost.log()


def test_an_account_made_while_serving_works_at_once_with_its_secret_only(
    tenants: Tenants,
) -> None:
    late = create_account(tenants.roost.data_dir, "late-comer")
    client = tenants.client(late)
    assert client.list_functions()["Functions"] == []
    wrong = tenants.roost.client(credentials=(late.access_key_id, "x" * 40))
    try:
        error = error_of(wrong.list_functions)
    finally:
        wrong.close()
    assert code_and_status(error) == ("InvalidSignatureException", 403)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.0.2.10", False),
        ("10.1.2.3", False),
        ("2001:db8::1", False),
    ],
)
def test_builtin_key_only_on_loopback(host: str, allowed: bool) -> None:
    assert RoostConfig(host=host).allow_builtin_credentials is allowed
