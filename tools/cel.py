"""The CRDs' CEL rules (`x-kubernetes-validations`), evaluated as the API server does.

JSON-schema validation (tools/schemas.py) ignores these rules; an API server rejects an
object that breaks one (e.g. Gateway API's "backendRequest timeout cannot be longer than
request timeout"). As kubernetes/apiserver `pkg/apiserver/schema/cel/validation.go` does:
schema defaults are applied first, then every rule runs at every node of the object that
is present (`self` bound to that node: an object, a list, a map or a scalar), with
property names escaped (`__namespace__`) and `format: byte|duration|date-time` strings as
CEL bytes, durations and timestamps (apiserver `pkg/cel/common/values.go`). A failing rule
reports its `messageExpression` (or `message`), at the node's path plus the rule's
`fieldPath`. Transition rules (those reading `oldSelf`) need the stored object and are
skipped; a rule that cannot be evaluated here (a parse error, a function celpy and
tools/cel_k8s.py lack, a result that is not a bool) is listed in `not_checked`, never
passed silently.
"""

from __future__ import annotations

import base64
import copy
import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError

from tools import cel_k8s
from tools.schemas import SchemaFinding, SchemaRegistry, _with_defaults, describe_resource, format_path

CHECK_NAME = "cel"
_OLD_SELF = re.compile(r"\boldSelf\b")
# celpy's message when a rule calls a function it does not know.
_UNKNOWN_FUNCTION = re.compile(r"undeclared reference to '([^']+)'|no such overload|unknown function")


@dataclass
class CelResult:
    findings: list[SchemaFinding] = field(default_factory=list)
    evaluated: int = 0
    # (kind, schema path, rule) of each transition rule met: skipped, and said so once each.
    transition_rules: set[tuple[str, str, str]] = field(default_factory=set)
    # (kind, path, rule, why) of each rule evaluation that could not be done.
    unevaluable: list[tuple[str, str, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        return sorted({finding.line() for finding in self.findings})

    def not_checked(self) -> list[str]:
        """One line per rule that could not be evaluated, and one for the skipped transition rules."""
        lines = [
            f"CEL rule of {kind} at {path} could not be evaluated ({why}): {rule}"
            for (kind, path, rule, why), _ in Counter(self.unevaluable).most_common()
        ]
        if self.transition_rules:
            kinds = ", ".join(sorted({kind for kind, _, _ in self.transition_rules}))
            lines.append(
                f"{len(self.transition_rules)} CEL transition rules (oldSelf) of {kinds}: they compare with the stored object, "
                "which an offline check does not have"
            )
        return lines


class _Unevaluable(Exception):
    """A rule this evaluator cannot judge: reported, never passed."""


@functools.cache
def _environment() -> celpy.Environment:
    return celpy.Environment()


@functools.cache
def _program(expression: str) -> celpy.Runner:
    environment = _environment()
    try:
        ast = environment.compile(expression)
    except celpy.CELParseError as error:
        raise _Unevaluable(f"does not parse: {str(error).splitlines()[0]}") from None
    return environment.program(ast, functions=cel_k8s.FUNCTIONS)


def check(registry: SchemaRegistry, objects: Iterable[dict]) -> CelResult:
    """Every CEL rule of every custom resource among `objects`."""
    result = CelResult()
    for obj in objects:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not registry.has_schema(api_version, kind):
            continue  # core kinds carry no CEL here; a missing schema is the schema gate's finding
        schema = registry.raw_schema(api_version, kind)
        # As the API server: defaults first (apiserver pkg/apiserver/schema/defaulting).
        defaulted = _with_defaults(schema, copy.deepcopy(obj))
        _Walk(result, describe_resource(obj), kind).node(schema, defaulted, [])
    return result


@dataclass
class _Walk:
    result: CelResult
    resource: str
    kind: str

    def node(self, schema: Any, value: Any, path: list[str | int]) -> None:
        if not isinstance(schema, dict) or value is None:
            return  # a null (nullable) value runs no rule, as in the API server
        for rule in schema.get("x-kubernetes-validations") or []:
            self.rule(rule, schema, value, path)
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if isinstance(value, dict):
            for name, child in value.items():
                if name in properties:
                    self.node(properties[name], child, [*path, name])
                elif isinstance(extra, dict):
                    self.node(extra, child, [*path, name])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                self.node(schema["items"], item, [*path, index])

    def rule(self, rule: dict[str, Any], schema: dict[str, Any], value: Any, path: list[str | int]) -> None:
        expression = str(rule.get("rule", ""))
        where = format_path(path)
        if _OLD_SELF.search(expression):
            self.result.transition_rules.add((self.kind, _schema_path(path), expression))
            return
        try:
            passed = _evaluate(expression, to_cel(schema, value))
        except _Unevaluable as why:
            self.result.unevaluable.append((self.kind, _schema_path(path), expression, str(why)))
            return
        except CELEvalError as error:
            # The API server rejects an object whose rule fails to evaluate (e.g. a field
            # the rule reads without has()), with the error as the message.
            self.result.evaluated += 1
            self.result.findings.append(self.finding(where, f"rule {expression!r}: {error.args[0]}"))
            return
        self.result.evaluated += 1
        if not passed:
            field_path = str(rule.get("fieldPath", ""))
            message = _message(rule, schema, value)
            reason = rule.get("reason")
            suffix = f" ({reason})" if reason and reason != "FieldValueInvalid" else ""
            self.result.findings.append(self.finding(where + field_path, message + suffix))

    def finding(self, path: str, message: str) -> SchemaFinding:
        return SchemaFinding(CHECK_NAME, self.resource, f"{path}: {message}")


def _evaluate(expression: str, self_value: Any) -> bool:
    program = _program(expression)
    try:
        outcome = program.evaluate({"self": self_value})
    except CELEvalError as error:
        _raise_if_unknown_function(error)
        raise
    if isinstance(outcome, CELEvalError):
        _raise_if_unknown_function(outcome)
        raise outcome
    if not isinstance(outcome, celtypes.BoolType):
        raise _Unevaluable(f"result is {type(outcome).__name__}, not a bool")
    return bool(outcome)


def _raise_if_unknown_function(error: CELEvalError) -> None:
    text = str(error.args[0]) if error.args else ""
    unknown = _UNKNOWN_FUNCTION.search(text)
    if unknown:
        name = unknown.group(1)
        raise _Unevaluable(f"calls {name!r}, which this checker lacks" if name else text[:120]) from None


def _message(rule: dict[str, Any], schema: dict[str, Any], value: Any) -> str:
    """`messageExpression`'s string when it evaluates to one, else `message` (as the API server)."""
    message = str(rule.get("message") or f"failed rule: {rule.get('rule')}")
    expression = rule.get("messageExpression")
    if not expression:
        return message
    try:
        text = _program(str(expression)).evaluate({"self": to_cel(schema, value)})
    except (CELEvalError, _Unevaluable):
        return message
    return str(text) if isinstance(text, str) and text.strip() else message


def _schema_path(path: list[str | int]) -> str:
    # Unevaluable rules are reported once per rule and place, not once per list item.
    return format_path(["[*]" if isinstance(part, int) else part for part in path]).replace(".[*]", "[*]")


def to_cel(schema: Any, value: Any) -> Any:
    """`value` as the CEL value the API server binds to `self` under `schema`."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        converted: dict[Any, Any] = {}
        for name, child in value.items():
            if name in properties:
                # Object properties are CEL fields, escaped; a map's keys stay as they are.
                converted[celtypes.StringType(cel_k8s.escape(name))] = to_cel(properties[name], child)
            else:
                converted[celtypes.StringType(name)] = to_cel(extra if isinstance(extra, dict) else {}, child)
        return celtypes.MapType(converted)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(schema.get("items"), item) for item in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.DoubleType(value) if schema.get("type") == "number" else celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return _string(schema.get("format"), value)
    return celpy.json_to_cel(value)


def _string(format_name: Any, value: str) -> Any:
    # A value that does not parse in its format stays a string: the schema gate reports it.
    try:
        if format_name == "byte":
            return celtypes.BytesType(base64.b64decode(value, validate=True))
        if format_name == "duration":
            return celtypes.DurationType(value)
        if format_name in ("date", "date-time"):
            return celtypes.TimestampType(value)
    except (ValueError, TypeError):
        pass
    return celtypes.StringType(value)
