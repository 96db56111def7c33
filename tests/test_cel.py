"""tools/cel.py: the CRDs' CEL rules, evaluated as an API server would."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.conftest import SCHEMAS_DIR
from tools import cel, cel_k8s
from tools.__main__ import main
from tools.schemas import SchemaRegistry

pytestmark = pytest.mark.unit

TIMEOUT_MESSAGE = "backendRequest timeout cannot be longer than request timeout"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(SCHEMAS_DIR)


def http_route(**timeouts: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "chat", "namespace": "llm-gateway"},
        "spec": {
            "parentRefs": [{"name": "llm", "namespace": "llm-gateway"}],
            "rules": [{"backendRefs": [{"name": "chat", "port": 80}], "timeouts": timeouts}],
        },
    }


def test_backend_timeout_above_request_timeout_is_the_crds_own_message(registry):
    result = cel.check(registry, [http_route(request="60s", backendRequest="2m")])
    assert result.lines() == [
        f"cel gateway.networking.k8s.io/v1/HTTPRoute llm-gateway/chat: spec.rules[0].timeouts: {TIMEOUT_MESSAGE}"
    ]


@pytest.mark.parametrize(
    "timeouts", [{"request": "2m", "backendRequest": "60s"}, {"request": "0s", "backendRequest": "1h"}]
)
def test_backend_timeout_within_request_timeout_or_unlimited_passes(registry, timeouts):
    result = cel.check(registry, [http_route(**timeouts)])
    assert result.lines() == []
    assert result.evaluated > 5 and result.unevaluable == []


def test_defaults_apply_before_the_rules(registry):
    # A path match without `type` is a PathPrefix by default, and the CRD's rule then
    # requires the value to start with '/'.
    route = http_route()
    route["spec"]["rules"][0]["matches"] = [{"path": {"value": "v1"}}]
    lines = cel.check(registry, [route]).lines()
    assert lines == [
        "cel gateway.networking.k8s.io/v1/HTTPRoute llm-gateway/chat: spec.rules[0].matches[0].path: "
        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"
    ]


def test_reserved_property_names_are_escaped(registry):
    # Gateway API's parentRefs rule reads `p1.__namespace__`: two refs that differ only in
    # namespace are distinct, the same ref twice is not.
    route = http_route()
    route["spec"]["parentRefs"] = [{"name": "llm", "namespace": "a"}, {"name": "llm", "namespace": "b"}]
    assert cel.check(registry, [route]).lines() == []
    route["spec"]["parentRefs"] = [{"name": "llm", "namespace": "a"}, {"name": "llm", "namespace": "a"}]
    assert any(
        "sectionName must be unique when parentRefs includes 2 or more" in line
        for line in cel.check(registry, [route]).lines()
    )


def test_karpenter_label_rule_uses_the_find_extension(registry):
    pool = {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu"},
        "spec": {
            "template": {
                "metadata": {"labels": {"karpenter.sh/custom": "x"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                    "requirements": [],
                },
            }
        },
    }
    result = cel.check(registry, [pool])
    assert result.unevaluable == []
    assert any('label domain "karpenter.sh" is restricted' in line for line in result.lines()), result.lines()
    good = copy.deepcopy(pool)
    good["spec"]["template"]["metadata"]["labels"] = {"example.com/gpu": "x"}
    assert cel.check(registry, [good]).lines() == []


class OneKind:
    """A registry of one made-up kind whose schema carries the given rules."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.schema = {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "x-kubernetes-validations": rules,
                    "properties": {"size": {"type": "integer", "default": 3}, "name": {"type": "string"}},
                }
            },
        }

    def has_schema(self, api_version: str, kind: str) -> bool:
        return kind == "Widget"

    def raw_schema(self, api_version: str, kind: str) -> dict[str, Any]:
        return self.schema


WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"name": "Ab"}}


def check_widget(*rules: dict[str, Any]) -> cel.CelResult:
    return cel.check(OneKind(list(rules)), [WIDGET])  # type: ignore[arg-type]


def test_message_expression_field_path_and_reason_are_reported():
    result = check_widget(
        {
            "rule": "self.size < 3",
            "message": "plain",
            "messageExpression": "'size is ' + string(self.size)",
            "fieldPath": ".size",
            "reason": "FieldValueForbidden",
        }
    )
    # `size` was absent: its default (3) is what the rule sees.
    assert result.lines() == ["cel example.com/v1/Widget w: spec.size: size is 3 (FieldValueForbidden)"]


def test_a_rule_with_an_unknown_function_is_reported_not_passed():
    result = check_widget({"rule": "self.name.quantityIsFancy()", "message": "m"})
    assert result.lines() == []
    assert result.unevaluable and "quantityIsFancy" in result.not_checked()[0]


def test_a_rule_that_does_not_parse_is_reported_not_passed():
    result = check_widget({"rule": "self.name ==", "message": "m"})
    assert result.lines() == [] and "does not parse" in result.not_checked()[0]


def test_transition_rules_are_skipped_and_said_so():
    result = check_widget({"rule": "self == oldSelf", "message": "immutable"})
    assert result.lines() == [] and len(result.transition_rules) == 1
    assert "transition rules" in result.not_checked()[0]


def test_a_rule_reading_an_absent_field_fails_as_in_the_api_server():
    (line,) = check_widget({"rule": "self.missing == 1", "message": "m"}).lines()
    assert "spec: rule 'self.missing == 1'" in line


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'Ab-C'.lowerAscii() == 'ab-c' && 'ab'.upperAscii() == 'AB'", True),
        ("'a/b/c'.split('/') == ['a', 'b', 'c'] && 'a/b/c'.split('/', 2) == ['a', 'b/c']", True),
        ("'a/b'.split('/', 0) == []", True),
        ("'x123y'.find('[0-9]+') == '123' && 'xy'.find('[0-9]+') == ''", True),
        ("'abcabc'.indexOf('c') == 2 && [1, 2, 3].indexOf(3) == 2 && [1].indexOf(5) == -1", True),
        ("[1, 2, 2].isSorted() && ![2, 1].isSorted() && [1, 2].sum() == 3", True),
        ("'  a '.trim() == 'a' && ['a', 'b'].join('-') == 'a-b' && 'abc'.substring(1) == 'bc'", True),
    ],
)
def test_kubernetes_extension_functions(expression, expected):
    assert cel._evaluate(expression, None) is expected


def test_escaping_follows_the_api_server():
    assert [cel_k8s.escape(n) for n in ("namespace", "a-b", "a.b", "a/b", "a__b", "plain")] == [
        "__namespace__", "a__dash__b", "a__dot__b", "a__slash__b", "a__underscores__b", "plain"
    ]  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_shipped_stacks_have_no_cel_findings_and_evaluate_every_rule(registry, stack, tmp_path):
    assert main(["render", stack, "--out", str(tmp_path)]) == 0
    objects = [doc for doc in yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()) if doc]
    result = cel.check(registry, objects)
    assert result.lines() == []
    assert result.unevaluable == []
    assert result.evaluated > 50
