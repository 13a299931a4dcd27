"""Runtimes Roost accepts for .zip functions, and the checks on ``Runtime`` and ``Handler``.

The runtime identifiers come from the ``Runtime`` enum of botocore's ``lambda`` model;
each gets its language family from its name. The one thing the model does not carry is
the deprecation schedule, so ``LIFECYCLE`` below copies it from AWS's "Lambda runtimes"
page: once a runtime's *block function create* date is reached, creating a function
with it fails with AWS's ``InvalidParameterValueException`` message. Deprecated runtimes
whose block date is still ahead stay accepted, as on AWS.

AWS has moved these block dates many times (most recently pushing most of them into
2027), so the table says where each date comes from and should be re-checked against
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html when it matters.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from roost.api.errors import InvalidParameterValueException, ValidationException
from roost.api.model import service_model

__all__ = [
    "LIFECYCLE",
    "RECOMMENDED",
    "Lifecycle",
    "RuntimeFamily",
    "RuntimeInfo",
    "accepted_runtimes",
    "runtime_catalog",
    "validate_handler",
    "validate_runtime",
]


class RuntimeFamily(enum.StrEnum):
    """The language family of a runtime."""

    PYTHON = "python"
    NODEJS = "nodejs"
    JAVA = "java"
    DOTNET = "dotnet"
    RUBY = "ruby"
    PROVIDED = "provided"
    GO = "go"


@dataclass(frozen=True)
class Lifecycle:
    """Deprecation schedule of a runtime (UTC dates; ``None`` when none is published)."""

    deprecated: dt.date | None = None
    block_create: dt.date | None = None
    block_update: dt.date | None = None


@dataclass(frozen=True)
class RuntimeInfo:
    """A runtime identifier of the model with its family and deprecation schedule."""

    name: str
    family: RuntimeFamily
    lifecycle: Lifecycle

    def creatable(self, on: dt.date) -> bool:
        """Whether a function may be created with this runtime on ``on``."""
        block = self.lifecycle.block_create
        return block is None or on < block

    def updatable(self, on: dt.date) -> bool:
        """Whether an existing function with this runtime may be updated on ``on``."""
        block = self.lifecycle.block_update
        return block is None or on < block


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _life(deprecated: str, block_create: str, block_update: str) -> Lifecycle:
    return Lifecycle(_d(deprecated), _d(block_create), _d(block_update))


# Dates of AWS's "Lambda runtimes" page. Rows blocked for years are as AWS published them
# (also in cfn-lint's LmbdRuntimeLifecycle.json). Later rows: AWS moved the block dates
# of nodejs16.x/18.x/20.x and python3.8/3.9 to 2027-02-01 / 2027-03-03 in 2026
# (cfn-lint#4531/#4532, aws/aws-rfdk#1703), and those of dotnet6/dotnet8 to
# 2027-07-29 / 2027-08-31. For runtimes blocked for creation since 2024 the last
# published block-update date seen is 2025-11-01.
LIFECYCLE: Mapping[str, Lifecycle] = {
    "nodejs": _life("2016-10-31", "2016-10-31", "2016-10-31"),
    "nodejs4.3": _life("2020-03-05", "2020-03-05", "2020-03-05"),
    "nodejs4.3-edge": _life("2019-04-30", "2019-04-30", "2019-04-30"),
    "nodejs6.10": _life("2019-08-12", "2019-08-12", "2019-08-12"),
    "nodejs8.10": _life("2020-03-06", "2020-03-06", "2020-03-06"),
    "nodejs10.x": _life("2021-07-30", "2021-07-30", "2022-02-14"),
    "nodejs12.x": _life("2023-03-31", "2023-03-31", "2023-04-30"),
    "nodejs14.x": _life("2023-12-04", "2024-01-09", "2025-11-01"),
    "nodejs16.x": _life("2024-06-12", "2027-02-01", "2027-03-03"),
    "nodejs18.x": _life("2025-09-01", "2027-02-01", "2027-03-03"),
    "nodejs20.x": _life("2026-04-30", "2027-02-01", "2027-03-03"),
    "python2.7": _life("2021-07-15", "2021-07-15", "2022-05-30"),
    "python3.6": _life("2022-07-18", "2022-07-18", "2022-08-29"),
    "python3.7": _life("2023-12-04", "2024-01-09", "2025-11-01"),
    "python3.8": _life("2024-10-14", "2027-02-01", "2027-03-03"),
    "python3.9": _life("2025-12-15", "2027-02-01", "2027-03-03"),
    "python3.10": Lifecycle(deprecated=_d("2026-10-31")),
    "java8": _life("2024-01-08", "2024-02-08", "2025-11-01"),
    "dotnetcore1.0": _life("2019-06-27", "2019-07-30", "2019-07-30"),
    "dotnetcore2.0": _life("2019-05-30", "2019-05-30", "2019-05-30"),
    "dotnetcore2.1": _life("2022-01-05", "2022-01-05", "2022-04-13"),
    "dotnetcore3.1": _life("2023-04-03", "2023-04-03", "2023-05-03"),
    "dotnet6": _life("2024-12-20", "2027-07-29", "2027-08-31"),
    "dotnet8": _life("2026-11-10", "2027-07-29", "2027-08-31"),
    "go1.x": _life("2024-01-08", "2024-02-08", "2025-11-01"),
    "ruby2.5": _life("2021-07-30", "2021-07-30", "2022-03-31"),
    "ruby2.7": _life("2023-12-07", "2024-01-09", "2025-11-01"),
    "provided": _life("2024-01-08", "2024-02-08", "2025-11-01"),
}

RECOMMENDED: Mapping[RuntimeFamily, str] = {
    RuntimeFamily.PYTHON: "python3.14",
    RuntimeFamily.NODEJS: "nodejs24.x",
    RuntimeFamily.JAVA: "java25",
    RuntimeFamily.DOTNET: "dotnet10",
    RuntimeFamily.RUBY: "ruby4.0",
    RuntimeFamily.PROVIDED: "provided.al2023",
    RuntimeFamily.GO: "provided.al2023",
}
"""The runtime AWS's deprecation message recommends instead of a blocked one."""

# ``custom`` selects a customer-managed runtime (``RuntimeConfig``), not a .zip runtime.
_CUSTOMER_MANAGED = "custom"
_FAMILY_PREFIXES = (
    ("python", RuntimeFamily.PYTHON),
    ("nodejs", RuntimeFamily.NODEJS),
    ("java", RuntimeFamily.JAVA),
    ("dotnet", RuntimeFamily.DOTNET),
    ("ruby", RuntimeFamily.RUBY),
    ("provided", RuntimeFamily.PROVIDED),
    ("go", RuntimeFamily.GO),
)
_NO_LIFECYCLE = Lifecycle()


def _family(name: str) -> RuntimeFamily | None:
    for prefix, family in _FAMILY_PREFIXES:
        if name.startswith(prefix):
            return family
    return None


@functools.cache
def runtime_catalog() -> Mapping[str, RuntimeInfo]:
    """Every .zip runtime of the model's ``Runtime`` enum, in the model's order."""
    catalog: dict[str, RuntimeInfo] = {}
    for name in service_model().shape_for("Runtime").enum:
        family = _family(name)
        if family is not None:
            catalog[name] = RuntimeInfo(name, family, LIFECYCLE.get(name, _NO_LIFECYCLE))
    return MappingProxyType(catalog)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def accepted_runtimes(on: dt.date | None = None) -> tuple[str, ...]:
    """Runtimes a function may be created with on ``on`` (default: today, UTC)."""
    day = on or _today()
    return tuple(name for name, info in runtime_catalog().items() if info.creatable(day))


def validate_runtime(
    name: str, *, on: dt.date | None = None, for_update: bool = False
) -> RuntimeInfo:
    """Check a ``Runtime`` for a .zip function and return what Roost knows of it.

    An identifier that is not a runtime gets AWS's enum message; a runtime past its
    block date (block-create, or block-update with ``for_update``) gets AWS's "no longer
    supported" message. Both are ``InvalidParameterValueException``.
    """
    day = on or _today()
    info = runtime_catalog().get(name)
    if info is None:
        if name == _CUSTOMER_MANAGED:
            raise InvalidParameterValueException(
                "Customer-managed runtimes (Runtime custom with a RuntimeConfig) "
                "are not supported by Roost."
            )
        raise InvalidParameterValueException(
            f"Value {name} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(accepted_runtimes(day))}] or be a valid ARN"
        )
    allowed = info.updatable(day) if for_update else info.creatable(day)
    if not allowed:
        raise InvalidParameterValueException(
            f"The runtime parameter of {name} is no longer supported for creating or "
            f"updating AWS Lambda functions. We recommend you use the new runtime "
            f"({RECOMMENDED[info.family]}) while creating or updating functions."
        )
    return info


@functools.cache
def _handler_constraints() -> tuple[str, re.Pattern[str], int]:
    """The model's ``Handler`` pattern (as written and as a Python regex) and max length."""
    meta = service_model().shape_for("Handler").metadata
    pattern = str(meta["pattern"])
    # Java's \s is ASCII whitespace only; Python's also matches Unicode spaces.
    python_pattern = pattern.replace(r"\s", r" \t\n\x0b\f\r")
    return pattern, re.compile(python_pattern), int(meta["max"])


def validate_handler(runtime: str, handler: str, *, check_format: bool = True) -> None:
    """Check a ``Handler`` against the model and, for Python, its ``module.function`` form.

    Model violations (at most 128 characters, no whitespace) raise AWS's
    ``ValidationException``. With ``check_format``, a Python handler must name a
    module path (``/`` or ``.`` separated, e.g. ``pkg/mod.handler`` or
    ``app.main.handler``) and a function, else ``InvalidParameterValueException``;
    AWS itself only fails such handlers at invoke time (``Runtime.MalformedHandlerName``).
    OS-only runtimes (``provided*``) take any handler, and other families get the
    model checks only. The handler's file is not looked for in the package.
    """
    pattern, regex, max_length = _handler_constraints()
    violations: list[str] = []
    if len(handler) > max_length:
        violations.append(f"Member must have length less than or equal to {max_length}")
    if regex.fullmatch(handler) is None:
        violations.append(f"Member must satisfy regular expression pattern: {pattern}")
    if violations:
        noun = "error" if len(violations) == 1 else "errors"
        raise ValidationException(
            f"{len(violations)} validation {noun} detected: "
            + "; ".join(
                f"Value '{handler}' at 'handler' failed to satisfy constraint: {violation}"
                for violation in violations
            )
        )
    info = runtime_catalog().get(runtime)
    if check_format and info is not None and info.family is RuntimeFamily.PYTHON:
        _check_python_handler(runtime, handler)


def _check_python_handler(runtime: str, handler: str) -> None:
    module, dot, function = handler.rpartition(".")
    parts = re.split(r"[/.]", module)
    if not dot or not function.isidentifier() or not all(parts):
        raise InvalidParameterValueException(
            f"The handler {handler} is not valid for runtime {runtime}: use the module "
            f"path and the function name, as in lambda_function.lambda_handler."
        )
