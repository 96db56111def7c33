"""PromQL in rendered manifests: every expression parses and names only known metrics.

Prometheus accepts a PrometheusRule whose expression matches nothing, KEDA scales on a
query that returns no series as if the pool were idle, and Grafana draws an empty
panel: a misspelt or removed metric name fails silently everywhere. This check parses
each expression we emit (alert rules, KEDA queries of InferenceServices, dashboard
panels in ConfigMaps) with a real PromQL parser and compares every metric it selects
with `components.metrics.KNOWN_METRICS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import promql_parser

from components.metrics import KNOWN_METRICS
from tools.schemas import describe_resource

CHECK_NAME = "promql"


def findings(manifests: Iterable[dict[str, Any]]) -> list[str]:
    return [
        f"{CHECK_NAME} {describe_resource(obj)}: {problem}"
        for obj in manifests
        for where, expr in expressions(obj)
        for problem in (f"{where}: {message}" for message in expression_problems(expr))
    ]


def expressions(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every expression `obj` carries."""
    kind = obj.get("kind")
    if kind == "PrometheusRule":
        yield from _rule_expressions(obj.get("spec", {}))
    elif kind == "InferenceService":
        yield from _keda_queries(obj.get("spec", {}))
    elif kind == "ConfigMap":
        yield from _dashboard_expressions(obj.get("data") or {})


def _rule_expressions(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for group in spec.get("groups", []):
        for rule in group.get("rules", []):
            yield f"group {group.get('name')} {rule.get('alert') or rule.get('record')}", str(rule.get("expr", ""))


def _keda_queries(spec: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for component, body in spec.items():
        for index, metric in enumerate((body or {}).get("autoScaling", {}).get("metrics", [])):
            source = (metric.get("external") or {}).get("metric") or {}
            if source.get("backend") == "prometheus":
                yield f"{component}.autoScaling.metrics[{index}]", str(source.get("query", ""))


def _dashboard_expressions(data: dict[str, str]) -> Iterator[tuple[str, str]]:
    for key, text in sorted(data.items()):
        if not key.endswith(".json"):
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue
        for title, expr in _panel_targets(document.get("panels", []) if isinstance(document, dict) else []):
            yield f"{key} panel '{title}'", expr


def _panel_targets(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for panel in panels:
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel.get("title", ""), str(target["expr"])
        yield from _panel_targets(panel.get("panels", []))  # panels inside a collapsed row


def expression_problems(expr: str) -> list[str]:
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as error:
        return [f"does not parse ({error}): {expr}"]
    return [
        f"{name} is not a known metric (components/metrics.py)" if name else f"selects no metric name: {expr}"
        for name in metric_names(parsed)
        if name not in KNOWN_METRICS
    ]


def metric_names(parsed: promql_parser.Expr) -> list[str]:
    """The metric name of every selector in an expression, in order; "" for one without."""
    names: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.append(node.name or _name_matcher(node) or "")

    promql_parser.walk(parsed, visit)
    return names


def _name_matcher(selector: promql_parser.VectorSelector) -> str:
    equal = promql_parser.MatchOp.Equal
    return next((m.value for m in selector.matchers.matchers if m.name == "__name__" and m.op == equal), "")
