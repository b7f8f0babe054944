"""values.schema.json is strict: unknown keys, bad enums, bad llmpulse config keys and values are
refused by Helm itself before anything renders, with a message that names the key."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import pytest
import yaml

from tests.helm.conftest import CHART, VALUE_SETS, ci_values


def check(values: dict[str, Any]) -> None:
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(values)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_ci_values_pass(name: str) -> None:
    check(ci_values(name))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 3}, "at '': additional properties 'replicas' not allowed"),
        ({"mode": "daemonset"}, "at '/mode': value must be one of 'deployment', 'statefulset'"),
        (
            {"config": {"receivers": {"grpc": {"endpointt": "0.0.0.0:4317"}}}},
            "at '/config/receivers/grpc': additional properties 'endpointt' not allowed",
        ),
        (
            {"config": {"kubernetes": {"enabled": "sometimes"}}},
            "at '/config/kubernetes/enabled': 'anyOf' failed",
        ),
        (
            {"config": {"metrics": {"cardinality_limit": 5}}},
            "at '/config/metrics/cardinality_limit': minimum: got 5",
        ),
        ({"auth": {"tokens": ["short"]}}, "at '/auth/tokens/0': minLength: got 5, want 16"),
        (
            {"collector": {"configFiles": ["../../etc/passwd"]}},
            "at '/collector/configFiles/0': '../../etc/passwd' does not match pattern",
        ),
        ({"image": {"digest": "latest"}}, "at '/image/digest': 'latest' does not match pattern"),
        ({"persistence": {"size": "ten gigs"}}, "at '/persistence/size': 'ten gigs' does not match pattern"),
        (
            {"serviceMonitor": {"interval": "30 s"}},
            "at '/serviceMonitor/interval': '30 s' does not match pattern",
        ),
        ({"agent": {"startAt": "middle"}}, "at '/agent/startAt': value must be one of 'end', 'beginning'"),
        ({"podDisruptionBudget": {"minAvailable": "half"}}, "at '/podDisruptionBudget/minAvailable'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as info:
        check(values)
    assert message in str(info.value)


def _walk(schema: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            found.append((path, schema))
        for key, value in schema.items():
            found += _walk(value, f"{path}/{key}")
    return found


def test_every_chart_object_schema_is_closed_and_described() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    hand_written = {k: v for k, v in schema.items() if k != "$defs"} | {
        "resources": schema["$defs"]["resources"]
    }
    nodes = [(p, n) for p, n in _walk(hand_written) if not p.endswith("topologySpreadConstraints/items")]
    assert len(nodes) > 20
    for path, node in nodes:
        assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        for key, prop in node["properties"].items():
            assert "description" in prop or "$ref" in prop, f"{path}/{key} has no description"


def test_every_values_key_is_in_the_schema_and_commented() -> None:
    """values.yaml documents each key the schema defines with a comment line right above it (hc
    convention); the contents of pass-through Kubernetes objects (resources, securityContext, ...)
    are data, documented by their parent's comment."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert list(values) == list(schema["properties"]) or set(values) == set(schema["properties"])
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, dict[str, Any] | None]] = [(-1, schema)]
    checked = 0
    for index, line in enumerate(lines):
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith(("#", "-"))
            or ":" not in stripped
            or line.startswith(" " * 6 + "-")
        ):
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else None
        key = stripped.split(":", 1)[0]
        closed = isinstance(parent, dict) and parent.get("additionalProperties") is False
        node = parent.get("properties", {}).get(key) if closed and parent else None
        if closed:
            assert node is not None, f"values.yaml:{index + 1} `{key}` is not in the schema"
            assert lines[index - 1].strip().startswith("#"), f"values.yaml:{index + 1} `{key}` has no comment"
            checked += 1
        if isinstance(node, dict) and "$ref" in node:
            node = None  # a shared Kubernetes type (resources) or the generated llmpulse config
        stack.append((indent, node))
    assert checked > 100
