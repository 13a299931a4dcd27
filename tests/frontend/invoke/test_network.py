"""Network access: on by default, cut per function with the tag ``roost:network=none``."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import create_args
from tests.fixtures.roost_process import RoostProcess, make_zip

HANDLER = """
import socket

def handler(event, context):
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return "reachable"
    except OSError as error:
        return "unreachable: %s" % error
"""


def reach(client: Any, name: str, port: int) -> str:
    response = client.invoke(FunctionName=name, Payload=json.dumps({"port": port}), LogType="Tail")
    assert "FunctionError" not in response, __import__("base64").b64decode(response["LogResult"])
    return str(json.loads(response["Payload"].read()))


def test_network_is_on_by_default_and_a_tag_cuts_it_off(
    roost: RoostProcess, lambda_client: Any, function_name: str
) -> None:
    lambda_client.create_function(**create_args(function_name, make_zip({"app.py": HANDLER})))
    lambda_client.get_waiter("function_active_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200}
    )
    arn = lambda_client.get_function(FunctionName=function_name)["Configuration"]["FunctionArn"]

    assert reach(lambda_client, function_name, roost.port) == "reachable"

    lambda_client.tag_resource(Resource=arn, Tags={"roost:network": "none"})
    assert reach(lambda_client, function_name, roost.port).startswith("unreachable")

    lambda_client.untag_resource(Resource=arn, TagKeys=["roost:network"])
    assert reach(lambda_client, function_name, roost.port) == "reachable"
