"""botocore's ``lambda`` service model and the operation table derived from it."""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import botocore.session

# Operations served by the invoke data plane; every other operation is control plane.
INVOKE_OPERATIONS = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})


class Plane(enum.Enum):
    """Which data plane serves an operation (the front-end load balancer's split)."""

    CONTROL = "control"
    INVOKE = "invoke"
    # Async invokes: ``InvokeAsync`` and ``Invoke`` with ``InvocationType=Event``.
    # Their bodies are read under the invoke plane's limit; only dispatch differs.
    ASYNC = "async"


def dispatch_plane(operation: str, invocation_type: str | None) -> Plane:
    """The plane whose router serves this request (``X-Amz-Invocation-Type`` decides
    for ``Invoke``), known from the head alone, before anything else is done."""
    if operation == "InvokeAsync":
        return Plane.ASYNC
    if operation == "Invoke" and invocation_type == "Event":
        return Plane.ASYNC
    return Plane.INVOKE if operation in INVOKE_OPERATIONS else Plane.CONTROL


@functools.cache
def service_model() -> Any:
    """The botocore ``lambda`` ServiceModel (loaded once per process)."""
    return botocore.session.get_session().get_service_model("lambda")


@functools.cache
def error_shapes() -> dict[str, Any]:
    """The model's error shapes by name (their code)."""
    return {shape.name: shape for shape in service_model().error_shapes}


@dataclass(frozen=True)
class Operation:
    """One operation of the model with its compiled route."""

    name: str
    method: str
    path_pattern: re.Pattern[str]
    required_query: tuple[tuple[str, str], ...]
    literal_length: int
    model: Any

    @property
    def plane(self) -> Plane:
        """The data plane that serves this operation."""
        return Plane.INVOKE if self.name in INVOKE_OPERATIONS else Plane.CONTROL

    @property
    def success_status(self) -> int:
        """HTTP status of a successful response, from the model."""
        return int(self.model.http.get("responseCode", 200))


@dataclass(frozen=True)
class RouteMatch:
    """An operation matched for a request, with its decoded URI labels."""

    operation: Operation
    labels: dict[str, str]


def _compile(name: str, model: Any) -> Operation:
    uri: str = model.http["requestUri"]
    path, _, query = uri.partition("?")
    required_query: list[tuple[str, str]] = []
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        required_query.append((key, value))
    pattern = ""
    literal_length = 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            label = part[1:-1]
            greedy = label.endswith("+")
            label = label.rstrip("+")
            pattern += f"(?P<{label}>.+)" if greedy else f"(?P<{label}>[^/]+)"
        else:
            pattern += re.escape(part)
            literal_length += len(part)
    return Operation(
        name=name,
        method=model.http["method"],
        path_pattern=re.compile(f"^{pattern}/?$"),
        required_query=tuple(required_query),
        literal_length=literal_length,
        model=model,
    )


# Routes an operation table remembers; past this many it starts over.
RECENT_ROUTES = 1024


class OperationTable:
    """Finds the operation for a method, raw path and query, as AWS's router does."""

    def __init__(self) -> None:
        model = service_model()
        operations = [_compile(n, model.operation_model(n)) for n in model.operation_names]
        # Routes with query literals and longer literal paths are more specific.
        operations.sort(key=lambda o: (-len(o.required_query), -o.literal_length))
        self._by_method: dict[str, list[Operation]] = {}
        for operation in operations:
            self._by_method.setdefault(operation.method, []).append(operation)
        self.by_name = {o.name: o for o in operations}
        # Requests repeat their routes (one function's invokes, one listing's
        # pages): the last answers, so a repeat skips the walk over the patterns.
        self._recent: dict[
            tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]], RouteMatch
        ] = {}

    def match(self, method: str, raw_path: str, query: dict[str, list[str]]) -> RouteMatch | None:
        """The operation for a request, or None when no route fits."""
        key = (method, raw_path, tuple((k, tuple(v)) for k, v in query.items()))
        try:
            return self._recent[key]
        except KeyError:
            pass
        found = self._walk(method, raw_path, query)
        if found is not None:  # a path that matches nothing is not worth remembering
            if len(self._recent) >= RECENT_ROUTES:
                self._recent.clear()
            self._recent[key] = found
        return found

    def _walk(self, method: str, raw_path: str, query: dict[str, list[str]]) -> RouteMatch | None:
        for operation in self._by_method.get(method, []):
            found = operation.path_pattern.match(raw_path)
            if found is None:
                continue
            if any(query.get(k) != [v] for k, v in operation.required_query):
                continue
            labels = {k: unquote(v) for k, v in found.groupdict().items()}
            return RouteMatch(operation, labels)
        return None


@functools.cache
def operation_table() -> OperationTable:
    """The process-wide operation table (immutable once built)."""
    return OperationTable()
