"""The invocation log through boto3's ``LogType=Tail``: platform lines and function output."""

from __future__ import annotations

import re
from typing import Any

from tests.frontend.invoke.support import deploy_code, invoke, log_tail, request_id

APP = """
import logging, sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)

def handler(event, context):
    for n in range(event.get("lines", 0)):
        print(f"line {n:05d} " + "." * 60)
    if event.get("talk"):
        print("printed to stdout")
        sys.stderr.write("written to stderr\\n")
        logger.info("logged at info")
        logging.getLogger("child").warning("logged by a child logger")
    return "ok"
"""


def test_start_end_and_report_frame_the_output_with_init_duration_only_when_cold(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": APP})

    first, _ = invoke(lambda_client, function_name, {"talk": True})
    second, _ = invoke(lambda_client, function_name, {})

    for response, is_cold in ((first, True), (second, False)):
        rid = request_id(response)
        lines = log_tail(response).splitlines()
        assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
        assert lines[-2] == f"END RequestId: {rid}"
        report = (
            rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
            r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t"
        )
        if is_cold:
            report += r"Init Duration: \d+\.\d\d ms\t"
        assert re.fullmatch(report, lines[-1]), lines[-1]


def test_print_stderr_and_logging_output_is_in_the_tail(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": APP})

    response, _ = invoke(lambda_client, function_name, {"talk": True})

    rid = request_id(response)
    lines = log_tail(response).splitlines()
    assert "printed to stdout" in lines
    assert "written to stderr" in lines
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    logged = [line for line in lines if line.startswith("[")]
    assert len(logged) == 2
    assert re.fullmatch(rf"\[INFO\]\t{stamp}\t{rid}\tlogged at info", logged[0])
    assert re.fullmatch(rf"\[WARNING\]\t{stamp}\t{rid}\tlogged by a child logger", logged[1])
    # Each record is one line, as in AWS's runtime (no blank line after it).
    assert "" not in lines


def test_the_tail_is_the_last_4_kb_of_the_log(lambda_client: Any, function_name: str) -> None:
    deploy_code(lambda_client, function_name, {"app.py": APP})

    response, _ = invoke(lambda_client, function_name, {"lines": 200})

    tail = log_tail(response)
    assert len(tail.encode()) == 4096
    assert "line 00199 " in tail
    assert "line 00000 " not in tail
    assert "START RequestId" not in tail
    assert tail.endswith("\t\n")
    assert tail.splitlines()[-1].startswith(f"REPORT RequestId: {request_id(response)}\t")


def test_a_published_version_is_named_in_the_start_line(
    lambda_client: Any, function_name: str
) -> None:
    deploy_code(lambda_client, function_name, {"app.py": APP})
    version = lambda_client.publish_version(FunctionName=function_name)["Version"]

    response, _ = invoke(lambda_client, function_name, {}, Qualifier=version)

    start = log_tail(response).splitlines()[0]
    assert start == f"START RequestId: {request_id(response)} Version: {version}"
