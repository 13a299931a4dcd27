"""GetAccountSettings: the account's limits and what it uses of them."""

from __future__ import annotations

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip
from tests.fixtures.shapes import assert_matches_output_shape
from tests.frontend.control.support import deploy, update_code

SMALL = make_zip()
LARGER = make_zip({"app.py": "def handler(event, context):\n    return 'x' * 1000\n"})


def test_a_new_account_uses_nothing(fresh_roost: RoostProcess) -> None:
    settings = fresh_roost.client().get_account_settings()

    assert_matches_output_shape("GetAccountSettings", settings)
    assert settings["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}
    limit = settings["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] == 1000
    assert limit["CodeSizeZipped"] == 50 * 1024 * 1024
    assert limit["CodeSizeUnzipped"] == 250 * 1024 * 1024
    assert limit["TotalCodeSize"] == 75 * 1024**3


def test_usage_counts_functions_versions_and_reservations(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    # Given two functions, one with a published version of other code, and a reservation
    deploy(client, "small", SMALL)
    deploy(client, "larger", LARGER)
    update_code(client, "larger", SMALL, Publish=True)
    client.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=150)

    settings = client.get_account_settings()

    assert_matches_output_shape("GetAccountSettings", settings)
    assert settings["AccountUsage"]["FunctionCount"] == 2
    assert settings["AccountUsage"]["TotalCodeSize"] == 3 * len(SMALL)
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 850


def test_deleting_a_function_gives_its_share_back(fresh_roost: RoostProcess) -> None:
    client = fresh_roost.client()
    client.create_function(**create_args("kept", SMALL))
    client.create_function(**create_args("dropped", LARGER))
    client.put_function_concurrency(FunctionName="dropped", ReservedConcurrentExecutions=300)

    client.delete_function(FunctionName="dropped")

    settings = client.get_account_settings()
    assert settings["AccountUsage"] == {"TotalCodeSize": len(SMALL), "FunctionCount": 1}
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
