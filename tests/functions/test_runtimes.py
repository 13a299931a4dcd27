"""Tests for the runtime catalog and the ``Runtime`` / ``Handler`` checks."""

from __future__ import annotations

import datetime as dt

import pytest

from roost.api.errors import InvalidParameterValueException, ValidationException
from roost.api.model import service_model
from roost.functions.runtimes import (
    LIFECYCLE,
    RECOMMENDED,
    Lifecycle,
    RuntimeFamily,
    RuntimeInfo,
    accepted_runtimes,
    runtime_catalog,
    validate_handler,
    validate_runtime,
)

TODAY = dt.date(2026, 11, 27)
MODEL_RUNTIMES: list[str] = list(service_model().shape_for("Runtime").enum)


def deprecated_message(runtime: str, successor: str) -> str:
    return (
        f"The runtime parameter of {runtime} is no longer supported for creating or "
        f"updating AWS Lambda functions. We recommend you use the new runtime "
        f"({successor}) while creating or updating functions."
    )


# --- catalog --------------------------------------------------------------------------


def test_catalog_is_the_model_enum_minus_customer_managed() -> None:
    assert list(runtime_catalog()) == [name for name in MODEL_RUNTIMES if name != "custom"]


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("python3.12", RuntimeFamily.PYTHON),
        ("nodejs22.x", RuntimeFamily.NODEJS),
        ("nodejs", RuntimeFamily.NODEJS),
        ("java8.al2", RuntimeFamily.JAVA),
        ("java21", RuntimeFamily.JAVA),
        ("dotnet8", RuntimeFamily.DOTNET),
        ("dotnetcore3.1", RuntimeFamily.DOTNET),
        ("ruby3.3", RuntimeFamily.RUBY),
        ("provided.al2023", RuntimeFamily.PROVIDED),
        ("provided", RuntimeFamily.PROVIDED),
        ("go1.x", RuntimeFamily.GO),
    ],
)
def test_families(name: str, family: RuntimeFamily) -> None:
    assert runtime_catalog()[name].family is family


def test_lifecycle_rows_are_model_runtimes_with_ordered_dates() -> None:
    for name, life in LIFECYCLE.items():
        assert name in MODEL_RUNTIMES, name
        dates = [d for d in (life.deprecated, life.block_create, life.block_update) if d]
        assert dates == sorted(dates), name


def test_recommended_runtimes_are_accepted_today() -> None:
    accepted = accepted_runtimes(TODAY)
    for family, name in RECOMMENDED.items():
        assert name in accepted, family
    assert set(RECOMMENDED) == set(RuntimeFamily)


def test_accepted_runtimes_on_2026_11_27() -> None:
    accepted = set(accepted_runtimes(TODAY))
    supported = {
        "python3.14",
        "python3.13",
        "python3.12",
        "nodejs24.x",
        "nodejs22.x",
        "java25",
        "java21",
        "java17",
        "java11",
        "java8.al2",
        "dotnet10",
        "ruby3.4",
        "ruby4.0",
        "provided.al2023",
        "provided.al2",
    }
    deprecated_not_blocked = {"nodejs20.x", "nodejs18.x", "python3.9", "python3.10", "dotnet6"}
    blocked = {
        "python2.7",
        "python3.6",
        "python3.7",
        "nodejs",
        "nodejs12.x",
        "nodejs14.x",
        "java8",
        "go1.x",
        "provided",
        "ruby2.7",
        "dotnetcore3.1",
    }
    assert supported | deprecated_not_blocked <= accepted
    assert not blocked & accepted
    assert "custom" not in accepted


def test_accepted_runtimes_keep_the_model_order() -> None:
    accepted = accepted_runtimes(TODAY)
    assert list(accepted) == [name for name in MODEL_RUNTIMES if name in accepted]


def test_accepted_runtimes_default_to_today() -> None:
    assert accepted_runtimes() == accepted_runtimes(dt.datetime.now(dt.UTC).date())


# --- validate_runtime -----------------------------------------------------------------


def test_valid_runtime_returns_its_info() -> None:
    info = validate_runtime("python3.13", on=TODAY)
    assert isinstance(info, RuntimeInfo)
    assert (info.name, info.family, info.lifecycle) == (
        "python3.13",
        RuntimeFamily.PYTHON,
        Lifecycle(),
    )


@pytest.mark.parametrize(
    ("runtime", "successor"),
    [
        ("python2.7", "python3.14"),
        ("python3.7", "python3.14"),
        ("nodejs14.x", "nodejs24.x"),
        ("java8", "java25"),
        ("dotnetcore3.1", "dotnet10"),
        ("ruby2.7", "ruby4.0"),
        ("provided", "provided.al2023"),
        ("go1.x", "provided.al2023"),
    ],
)
def test_blocked_runtime(runtime: str, successor: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_runtime(runtime, on=TODAY)
    error = excinfo.value
    assert (error.code, error.status, error.type) == ("InvalidParameterValueException", 400, "User")
    assert error.message == deprecated_message(runtime, successor)


def test_python27_message_matches_aws() -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_runtime("python2.7", on=TODAY)
    assert excinfo.value.message.startswith(
        "The runtime parameter of python2.7 is no longer supported for creating or updating "
        "AWS Lambda functions. We recommend you use "
    )


def test_deprecated_runtime_stays_creatable_until_its_block_date() -> None:
    block = LIFECYCLE["nodejs20.x"].block_create
    assert block == dt.date(2027, 2, 1)
    assert validate_runtime("nodejs20.x", on=block - dt.timedelta(days=1)).name == "nodejs20.x"
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_runtime("nodejs20.x", on=block)
    assert excinfo.value.message == deprecated_message("nodejs20.x", "nodejs24.x")
    assert "nodejs20.x" not in accepted_runtimes(block)


def test_updates_use_the_block_update_date() -> None:
    life = LIFECYCLE["nodejs20.x"]
    assert life.block_create is not None and life.block_update is not None
    between = life.block_create + dt.timedelta(days=1)
    assert between < life.block_update
    assert validate_runtime("nodejs20.x", on=between, for_update=True).name == "nodejs20.x"
    with pytest.raises(InvalidParameterValueException):
        validate_runtime("nodejs20.x", on=life.block_update, for_update=True)


@pytest.mark.parametrize("runtime", ["python9.9", "", "Python3.12", "python3.12 ", "nodejs20"])
def test_unknown_runtime(runtime: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_runtime(runtime, on=TODAY)
    accepted = ", ".join(accepted_runtimes(TODAY))
    assert excinfo.value.message == (
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
        f"enum value set: [{accepted}] or be a valid ARN"
    )


def test_customer_managed_runtime_is_not_supported() -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_runtime("custom", on=TODAY)
    assert "Customer-managed runtimes" in excinfo.value.message


# --- validate_handler -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "handler"),
    [
        ("python3.12", "lambda_function.lambda_handler"),
        ("python3.12", "pkg/mod.handler"),
        ("python3.12", "app.main.handler"),
        ("python3.12", "src/app/main.handler"),
        ("python3.9", "my-module.handler"),
        ("python3.12", "_private._handler"),
        ("provided.al2023", "bootstrap"),
        ("provided.al2", "anything/goes:here!"),
        ("nodejs22.x", "index.handler"),
        ("nodejs22.x", "index"),
        ("java21", "example.Handler::handleRequest"),
        ("dotnet8", "Assembly::Namespace.Class::Method"),
        ("ruby3.3", "function.Module::Class.method"),
        ("python3.12", "h" * 126 + ".f"),
    ],
)
def test_valid_handlers(runtime: str, handler: str) -> None:
    validate_handler(runtime, handler)


@pytest.mark.parametrize(
    "handler",
    ["main", "handler", ".handler", "mod.", "mod.1handler", "a//b.handler", "a..b.handler", "/a.b"],
)
def test_python_handler_needs_module_and_function(handler: str) -> None:
    with pytest.raises(InvalidParameterValueException) as excinfo:
        validate_handler("python3.12", handler)
    assert excinfo.value.status == 400
    assert excinfo.value.message == (
        f"The handler {handler} is not valid for runtime python3.12: use the module path "
        f"and the function name, as in lambda_function.lambda_handler."
    )


def test_python_format_check_can_be_skipped() -> None:
    validate_handler("python3.12", "main", check_format=False)


def test_handler_format_is_not_checked_for_unknown_runtimes() -> None:
    validate_handler("not-a-runtime", "main")


@pytest.mark.parametrize("handler", ["", "my handler.main", "a\tb.c", "a.b\n"])
def test_handler_pattern(handler: str) -> None:
    with pytest.raises(ValidationException) as excinfo:
        validate_handler("provided.al2023", handler)
    error = excinfo.value
    assert (error.code, error.status) == ("ValidationException", 400)
    assert error.message == (
        f"1 validation error detected: Value '{handler}' at 'handler' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [^\s]+"
    )


def test_handler_pattern_is_java_whitespace_only() -> None:
    # Java's \s does not match a no-break space, so AWS accepts it; so does Roost.
    validate_handler("provided.al2023", "a\u00a0b")


def test_handler_length() -> None:
    validate_handler("provided.al2023", "h" * 128)
    handler = "h" * 129
    with pytest.raises(ValidationException) as excinfo:
        validate_handler("provided.al2023", handler)
    assert excinfo.value.message == (
        f"1 validation error detected: Value '{handler}' at 'handler' failed to satisfy "
        "constraint: Member must have length less than or equal to 128"
    )


def test_handler_length_and_pattern_together() -> None:
    handler = "h " * 65
    with pytest.raises(ValidationException) as excinfo:
        validate_handler("python3.12", handler)
    prefix = f"Value '{handler}' at 'handler' failed to satisfy constraint: "
    assert excinfo.value.message == (
        "2 validation errors detected: "
        f"{prefix}Member must have length less than or equal to 128; "
        rf"{prefix}Member must satisfy regular expression pattern: [^\s]+"
    )
