"""EventBridge pattern syntax, every operator, matching and not matching.

The cases follow the examples of EventBridge's content-filtering, comparison
operator, and array pages (values and events are our own):
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
and the Event Ruler README (the engine behind them): https://github.com/aws/event-ruler
"""

from __future__ import annotations

from typing import Any

import pytest

from roost.esm.filtering import compile_pattern
from tests.esm.filtering.cases import case, text_of

# An EC2-style event most rows match against.
EC2 = {
    "source": "aws.ec2",
    "detail-type": "EC2 Instance State-change Notification",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234"],
    "detail": {
        "state": "running",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "FileName": "holiday.PNG",
        "FilePath": "/usr/bin/tool",
        "service": "EventBridge",
    },
}

EXACT = [
    case("string-equal", {"source": ["aws.ec2"]}, EC2, True),
    case("string-alternatives", {"source": ["aws.s3", "aws.ec2"]}, EC2, True),
    case("string-other", {"source": ["aws.s3"]}, EC2, False),
    case("string-case-sensitive", {"source": ["AWS.EC2"]}, EC2, False),
    case("nested-equal", {"detail": {"state": ["running"]}}, EC2, True),
    case(
        "fields-are-anded", {"detail": {"state": ["running"]}, "region": ["eu-west-1"]}, EC2, False
    ),
    case("missing-field", {"detail": {"absent": ["x"]}}, EC2, False),
    case("number-equal", {"detail": {"c-count": [5]}}, EC2, True),
    case("number-by-value-300-3e2", {"n": [300]}, {"n": 3.0e2}, True),
    case("number-by-value-pattern-text", '{"n": [3.0e2]}', {"n": 300}, True),
    case("number-not-string", {"n": [5]}, {"n": "5"}, False),
    case("string-not-number", {"n": ["5"]}, {"n": 5}, False),
    case("null-equal", {"UserID": [None]}, {"UserID": None}, True),
    case("null-not-absent", {"UserID": [None]}, {"other": 1}, False),
    case("null-not-empty-string", {"UserID": [None]}, {"UserID": ""}, False),
    case("empty-string", {"LastName": [""]}, {"LastName": ""}, True),
    case("empty-string-other", {"LastName": [""]}, {"LastName": "Doe"}, False),
    case("true-equal", {"active": [True]}, {"active": True}, True),
    case("true-not-string", {"active": [True]}, {"active": "true"}, False),
    case("true-not-one", {"active": [True]}, {"active": 1}, False),
    case("one-not-true", {"count": [1]}, {"count": True}, False),
]

PREFIX_SUFFIX = [
    case("prefix", {"time": [{"prefix": "2017-10-02"}]}, EC2, True),
    case("prefix-other", {"time": [{"prefix": "2018-"}]}, EC2, False),
    case("prefix-only-strings", {"detail": {"c-count": [{"prefix": "5"}]}}, EC2, False),
    case(
        "prefix-ignore-case",
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "EVENTb"}}]}},
        EC2,
        True,
    ),
    case(
        "prefix-ignore-case-other",
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "lambda"}}]}},
        EC2,
        False,
    ),
    case("suffix", {"detail": {"FileName": [{"suffix": ".PNG"}]}}, EC2, True),
    case("suffix-case-sensitive", {"detail": {"FileName": [{"suffix": ".png"}]}}, EC2, False),
    case(
        "suffix-ignore-case",
        {"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        EC2,
        True,
    ),
    case(
        "equals-ignore-case",
        {"detail": {"service": [{"equals-ignore-case": "EVENTBRIDGE"}]}},
        EC2,
        True,
    ),
    case(
        "equals-ignore-case-other",
        {"detail": {"service": [{"equals-ignore-case": "eventbus"}]}},
        EC2,
        False,
    ),
]

WILDCARD = [
    case("wildcard-trailing", {"detail": {"FileName": [{"wildcard": "holiday.*"}]}}, EC2, True),
    case("wildcard-leading", {"detail": {"FileName": [{"wildcard": "*.PNG"}]}}, EC2, True),
    case("wildcard-case-sensitive", {"detail": {"FileName": [{"wildcard": "*.png"}]}}, EC2, False),
    case(
        "wildcard-several-in-array",
        {"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]},
        EC2,
        True,
    ),
    case("wildcard-middle-order", {"v": [{"wildcard": "a*b*c"}]}, {"v": "a-c-b"}, False),
    case("wildcard-escaped-star", {"v": [{"wildcard": "a\\*b"}]}, {"v": "a*b"}, True),
    case("wildcard-escaped-not-wild", {"v": [{"wildcard": "a\\*b"}]}, {"v": "axxb"}, False),
    case("wildcard-escaped-backslash", {"v": [{"wildcard": "a\\\\*"}]}, {"v": "a\\zz"}, True),
    case("wildcard-star-matches-empty", {"v": [{"wildcard": "*"}]}, {"v": ""}, True),
    case("wildcard-only-strings", {"v": [{"wildcard": "1*"}]}, {"v": 12}, False),
]

ANYTHING_BUT = [
    case("ab-string", {"detail": {"state": [{"anything-but": "initializing"}]}}, EC2, True),
    case(
        "ab-string-excluded",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        {"detail": {"state": "initializing"}},
        False,
    ),
    case("ab-number", {"detail": {"x-limit": [{"anything-but": 123}]}}, EC2, True),
    case(
        "ab-string-list",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        EC2,
        True,
    ),
    case(
        "ab-string-list-excluded",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        {"detail": {"state": "stopped"}},
        False,
    ),
    case("ab-number-list-excluded", {"x": [{"anything-but": [100, 200, 300]}]}, {"x": 200}, False),
    case("ab-number-by-value", {"x": [{"anything-but": [100, 200]}]}, {"x": 2.0e2}, False),
    case("ab-number-list-other", {"x": [{"anything-but": [100, 200]}]}, {"x": 150}, True),
    case(
        "ab-prefix-excluded", {"s": [{"anything-but": {"prefix": "init"}}]}, {"s": "initial"}, False
    ),
    case("ab-prefix", {"s": [{"anything-but": {"prefix": "init"}}]}, {"s": "running"}, True),
    case(
        "ab-suffix-excluded", {"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.png"}, False
    ),
    case("ab-suffix", {"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.jpg"}, True),
    case(
        "ab-ignore-case-excluded",
        {"s": [{"anything-but": {"equals-ignore-case": "initializing"}}]},
        {"s": "INITIALIZING"},
        False,
    ),
    case(
        "ab-ignore-case-list-excluded",
        {"s": [{"anything-but": {"equals-ignore-case": ["Stopped", "Overloaded"]}}]},
        {"s": "overloaded"},
        False,
    ),
    case(
        "ab-wildcard-excluded",
        {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"FilePath": "/usr/lib/tool"},
        False,
    ),
    case(
        "ab-wildcard",
        {"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
        EC2,
        True,
    ),
    case("ab-needs-the-field", {"detail": {"gone": [{"anything-but": "x"}]}}, EC2, False),
]

NUMERIC = [
    case("range-top", {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}}, EC2, True),
    case("range-open-bottom", {"c": [{"numeric": [">", 0, "<=", 5]}]}, {"c": 0}, False),
    case("range-above", {"c": [{"numeric": [">", 0, "<=", 5]}]}, {"c": 5.5}, False),
    case("less-than", {"detail": {"d-count": [{"numeric": ["<", 10]}]}}, EC2, True),
    case("equals-exponent", {"detail": {"x-limit": [{"numeric": ["=", 3.018e2]}]}}, EC2, True),
    case("at-least-bound", {"c": [{"numeric": [">=", 5]}]}, {"c": 5}, True),
    case("only-numbers", {"c": [{"numeric": [">", 0]}]}, {"c": "5"}, False),
    case("beyond-comparable-range", {"c": [{"numeric": [">", 0]}]}, {"c": 6e9}, False),
    case("negative", {"c": [{"numeric": [">=", -10, "<", 0]}]}, {"c": -0.5}, True),
]

EXISTS = [
    case("exists-present", {"detail": {"c-count": [{"exists": True}]}}, EC2, True),
    case("exists-absent", {"detail": {"gone": [{"exists": True}]}}, EC2, False),
    case("not-exists-absent", {"detail": {"gone": [{"exists": False}]}}, EC2, True),
    case("not-exists-present", {"detail": {"c-count": [{"exists": False}]}}, EC2, False),
    case(
        "not-exists-intermediate-node",
        {"detail": {"c-count": [{"exists": False}]}},
        {"detail": {"state": "running", "c-count": {"c1": 100}}},
        True,
    ),
    case("exists-not-object", {"d": [{"exists": True}]}, {"d": {"x": 1}}, False),
    case("exists-null-value", {"d": [{"exists": True}]}, {"d": None}, True),
    case("not-exists-below-missing-parent", {"a": {"b": [{"exists": False}]}}, {"z": 1}, True),
]

CIDR = [
    case("cidr-v4", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, EC2, True),
    case("cidr-v4-outside", {"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.1"}, False),
    case("cidr-v6", {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::1"}, True),
    case("cidr-v6-outside", {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:dc8::1"}, False),
    case("cidr-not-an-address", {"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "ten"}, False),
    case("cidr-family-mismatch", {"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::ffff:a00:1"}, False),
]

METRICS = {"source": "aws.cloudwatch", "metricName": "NetworkIn", "namespace": "AWS/EC2"}

OR = [
    case(
        "or-second-branch",
        {
            "source": ["aws.cloudwatch"],
            "$or": [{"metricName": ["CPU"]}, {"namespace": ["AWS/EC2"]}],
        },
        METRICS,
        True,
    ),
    case(
        "or-no-branch",
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPU"]}, {"namespace": ["AWS/ES"]}]},
        METRICS,
        False,
    ),
    case(
        "or-with-and-inside",
        {"$or": [{"metricName": ["CPU"]}, {"metricName": ["NetworkIn"], "namespace": ["AWS/ES"]}]},
        METRICS,
        False,
    ),
    case(
        "or-nested-in-object",
        {"detail": {"$or": [{"state": ["stopped"]}, {"c-count": [{"numeric": [">", 4]}]}]}},
        EC2,
        True,
    ),
    case(
        "or-inside-or",
        {
            "$or": [
                {"metricName": ["CPU"]},
                {
                    "namespace": ["AWS/EC2"],
                    "$or": [{"source": ["x"]}, {"source": ["aws.cloudwatch"]}],
                },
            ]
        },
        METRICS,
        True,
    ),
]

STAFF = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}

ARRAYS = [
    case("array-intersection", {"tags": ["a", "b"]}, {"tags": ["c", "b"]}, True),
    case("array-disjoint", {"tags": ["a", "b"]}, {"tags": ["c", "d"]}, False),
    case("array-of-objects", {"employees": {"firstName": ["Anna"]}}, STAFF, True),
    case(
        "array-same-element",
        {"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}},
        STAFF,
        True,
    ),
    case(
        "array-elements-not-mixed",
        {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}},
        STAFF,
        False,
    ),
    case("nested-arrays-flattened", {"v": ["b"]}, {"v": [["a"], ["b"]]}, True),
    case("empty-array-is-absent", {"v": [{"exists": False}]}, {"v": []}, True),
    case("prefix-in-array", {"resources": [{"prefix": "arn:aws:ec2:"}]}, EC2, True),
]

COMPLEX_PATTERN = {
    "time": [{"prefix": "2017-10-02"}],
    "detail": {
        "state": [{"anything-but": "initializing"}],
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"anything-but": [100, 200, 300]}],
        "source-ip": [{"cidr": "10.0.0.0/8"}],
    },
}

COMPLEX = [
    case("complex", COMPLEX_PATTERN, EC2, True),
    case(
        "complex-one-field-off",
        COMPLEX_PATTERN,
        {**EC2, "detail": {**EC2["detail"], "d-count": 10}},
        False,
    ),
]


@pytest.mark.parametrize(
    ("pattern", "event", "expected"),
    EXACT
    + PREFIX_SUFFIX
    + WILDCARD
    + ANYTHING_BUT
    + NUMERIC
    + EXISTS
    + CIDR
    + OR
    + ARRAYS
    + COMPLEX,
)
def test_pattern_matches_event(pattern: Any, event: dict[str, Any], expected: bool) -> None:
    compiled = compile_pattern(text_of(pattern))

    assert compiled.matches(event) is expected
