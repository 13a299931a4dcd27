"""Patterns EventBridge refuses are refused at compile time with Lambda's error.

Rules from the EventBridge pattern pages and the Event Ruler rule compiler:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
https://github.com/aws/event-ruler (README: wildcard escaping, $or, numeric limits)
Lambda answers InvalidParameterValueException "Invalid filter pattern definition."
"""

from __future__ import annotations

from typing import Any

import pytest

from roost.api.errors import InvalidParameterValueException
from roost.esm.filtering import (
    INVALID_FILTER_PATTERN_MESSAGE,
    InvalidFilterPattern,
    compile_pattern,
)
from tests.esm.filtering.cases import text_of


def invalid(name: str, pattern: Any, detail: str) -> Any:
    """One refused pattern and a fragment of the reason EventBridge would give."""
    return pytest.param(pattern, detail, id=name)


STRUCTURE = [
    invalid("not-json", "{source: aws.ec2}", "not valid JSON"),
    invalid("trailing-garbage", '{"a": ["x"]} x', "not valid JSON"),
    invalid("nan", '{"a": [NaN]}', "NaN"),
    invalid("top-level-array", '[{"a": ["x"]}]', "Filter is not an object"),
    invalid("top-level-null", "null", "Filter is not an object"),
    invalid("empty-object", {}, "Empty objects are not allowed"),
    invalid("empty-nested-object", {"a": {}}, "Empty objects are not allowed"),
    invalid("leaf-not-array", {"a": "x"}, '"a" must be an object or an array'),
    invalid("leaf-number", {"a": 5}, '"a" must be an object or an array'),
    invalid("empty-array", {"a": []}, "Empty arrays are not allowed"),
    invalid("array-in-array", {"a": [["x"]]}, "Match value must be String"),
    invalid("empty-match-expression", {"a": [{}]}, "Match expression name not found"),
    invalid("two-operators", {"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed"),
    invalid("unknown-operator", {"a": [{"contains": "x"}]}, "Unrecognized match type contains"),
]

STRING_OPERATORS = [
    invalid("prefix-number", {"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
    invalid("prefix-unknown-nested", {"a": [{"prefix": {"wildcard": "x"}}]}, "Unsupported prefix"),
    invalid(
        "suffix-ignore-case-number",
        {"a": [{"suffix": {"equals-ignore-case": 1}}]},
        "equals-ignore-case match pattern must be a string",
    ),
    invalid("equals-ignore-case-list", {"a": [{"equals-ignore-case": ["x"]}]}, "must be a string"),
    invalid("exists-string", {"a": [{"exists": "yes"}]}, "either true or false"),
    invalid("wildcard-consecutive", {"a": [{"wildcard": "a**b"}]}, "Consecutive wildcard"),
    invalid("wildcard-bad-escape", {"a": [{"wildcard": "a\\b"}]}, "Invalid escape character"),
    invalid("wildcard-trailing-backslash", {"a": [{"wildcard": "ab\\"}]}, "Invalid escape"),
    invalid("wildcard-number", {"a": [{"wildcard": 5}]}, "wildcard match pattern must be a string"),
    invalid("cidr-bare-address", {"a": [{"cidr": "10.0.0.1"}]}, "one '/' required"),
    invalid("cidr-prefix-too-long", {"a": [{"cidr": "10.0.0.0/33"}]}, "Nonstandard IP"),
    invalid("cidr-not-an-address", {"a": [{"cidr": "bogus/8"}]}, "Nonstandard IP"),
]

NUMERIC = [
    invalid("numeric-not-array", {"a": [{"numeric": 5}]}, "must be an array"),
    invalid("numeric-empty", {"a": [{"numeric": []}]}, "Invalid member in numeric match"),
    invalid("numeric-unknown-op", {"a": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric range"),
    invalid("numeric-string-value", {"a": [{"numeric": ["=", "5"]}]}, "must be numeric"),
    invalid(
        "numeric-two-lower", {"a": [{"numeric": [">", 5, ">", 6]}]}, "Bad numeric range operator"
    ),
    invalid("numeric-upper-first", {"a": [{"numeric": ["<", 5, ">", 1]}]}, "Too many elements"),
    invalid("numeric-equals-extra", {"a": [{"numeric": ["=", 5, "<", 6]}]}, "Too many elements"),
    invalid(
        "numeric-inverted", {"a": [{"numeric": [">", 10, "<", 5]}]}, "Bottom must be less than top"
    ),
    invalid("numeric-empty-range", {"a": [{"numeric": [">=", 5, "<=", 5]}]}, "Bottom must be less"),
    invalid("numeric-too-large", {"a": [{"numeric": [">", 6e9]}]}, "between -5.0E9 and 5.0E9"),
    invalid("numeric-missing-top", {"a": [{"numeric": [">", 1, "<"]}]}, "must be numeric"),
]

ANYTHING_BUT = [
    invalid("ab-null", {"a": [{"anything-but": None}]}, "must be an array or single"),
    invalid("ab-boolean", {"a": [{"anything-but": True}]}, "must be an array or single"),
    invalid("ab-mixed-list", {"a": [{"anything-but": ["x", 1]}]}, "mixed type is not supported"),
    invalid("ab-empty-list", {"a": [{"anything-but": []}]}, "mixed type is not supported"),
    invalid("ab-null-in-list", {"a": [{"anything-but": ["x", None]}]}, "null|boolean"),
    invalid(
        "ab-numeric", {"a": [{"anything-but": {"numeric": [">", 1]}}]}, "Unsupported anything-but"
    ),
    invalid("ab-empty-prefix", {"a": [{"anything-but": {"prefix": ""}}]}, "Null prefix/suffix"),
    invalid("ab-suffix-number", {"a": [{"anything-but": {"suffix": 5}}]}, "must be a string"),
    invalid(
        "ab-wildcard-bad", {"a": [{"anything-but": {"wildcard": "x**"}}]}, "Consecutive wildcard"
    ),
    invalid("ab-number-too-large", {"a": [{"anything-but": 6e9}]}, "between -5.0E9 and 5.0E9"),
]

OR = [
    invalid("or-object", {"$or": {"a": ["x"]}}, "It must be an Array followed with $or."),
    invalid("or-one-branch", {"$or": [{"a": ["x"]}]}, "at least 2 Objects"),
    invalid("or-non-object", {"$or": [{"a": ["x"]}, "b"]}, "Only JSON object is allowed"),
    invalid("or-reserved-key", {"$or": [{"prefix": ["x"]}, {"b": ["y"]}]}, "reserved fieldName"),
    invalid("or-bad-branch", {"$or": [{"a": ["x"]}, {"b": []}]}, "Empty arrays are not allowed"),
]


@pytest.mark.parametrize(
    ("pattern", "detail"), STRUCTURE + STRING_OPERATORS + NUMERIC + ANYTHING_BUT + OR
)
def test_invalid_pattern_is_refused_with_lambdas_error(pattern: Any, detail: str) -> None:
    with pytest.raises(InvalidFilterPattern) as caught:
        compile_pattern(text_of(pattern))

    assert detail in caught.value.detail
    assert isinstance(caught.value, InvalidParameterValueException)
    assert caught.value.error_code == "InvalidParameterValueException"
    assert (
        caught.value.message
        == INVALID_FILTER_PATTERN_MESSAGE
        == "Invalid filter pattern definition."
    )
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param({"prefix": ["x"]}, id="operator-name-as-field-outside-or"),
        pytest.param({"a": [{"prefix": ""}]}, id="empty-prefix"),
        pytest.param({"a": [{"numeric": ["<=", -5e9]}]}, id="numeric-at-limit"),
        pytest.param({"a": [12345678901234]}, id="exact-number-beyond-numeric-range"),
        pytest.param({"a": [{"wildcard": "no-wildcards"}]}, id="wildcard-without-star"),
        pytest.param({"a": [{"cidr": "10.0.0.7/24"}]}, id="cidr-host-bits"),
        pytest.param('{"a": ["x"], "a": ["y"]}', id="duplicate-key-last-wins"),
    ],
)
def test_edge_patterns_are_accepted(pattern: Any) -> None:
    compile_pattern(text_of(pattern))


def test_a_duplicated_key_keeps_the_last_value() -> None:
    compiled = compile_pattern('{"a": ["x"], "a": ["y"]}')

    assert compiled.matches({"a": "y"})
    assert not compiled.matches({"a": "x"})


def test_a_pattern_nested_beyond_the_parser_is_refused() -> None:
    deep = '{"a": ' * 5_000 + '["x"]' + "}" * 5_000

    with pytest.raises(InvalidFilterPattern):
        compile_pattern(deep)
