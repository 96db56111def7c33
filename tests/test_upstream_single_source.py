"""The checkers hold no copy of an upstream fact: every name, label and port that KServe,
Knative, Kourier, Envoy Gateway or Kubernetes generate or expect is declared once, in
components/upstream.py, and the checkers import it from there."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from components import upstream

pytestmark = pytest.mark.unit

CHECKERS = ("tools.inventory", "tools.netpol", "tools.xref", "tools.vllm_parser", "policy.kube")
_DATA = (str, int, tuple, list, set, frozenset, dict)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(key)
            yield from _leaves(item)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        yield value


def _distinctive(leaf: Any) -> bool:
    """An upstream value no checker would write for a reason of its own: a name with a
    separator in it, or a port number of 1024 and up."""
    if isinstance(leaf, str):
        return any(sep in leaf for sep in "-./") and len(leaf) > 3
    return leaf >= 1024


def _upstream_constants() -> dict[str, Any]:
    return {name: value for name, value in vars(upstream).items() if name.isupper() and isinstance(value, _DATA)}


UPSTREAM_LEAVES = {leaf for value in _upstream_constants().values() for leaf in _leaves(value) if _distinctive(leaf)}


def _module_assignments(module: ModuleType) -> Iterator[str]:
    for node in ast.parse(inspect.getsource(module)).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    yield name.id


def _literals(module: ModuleType) -> Iterator[tuple[int, Any]]:
    tree = ast.parse(inspect.getsource(module))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_the_upstream_facts_to_compare_with_are_there():
    assert {"knative-serving", "3scale-kourier-gateway", "serving.kserve.io/inferenceservice", 8012, 8081} <= (
        UPSTREAM_LEAVES
    )


@pytest.mark.parametrize("name", CHECKERS)
def test_a_checker_defines_no_constant_equal_to_an_upstream_one(name):
    module = importlib.import_module(name)
    constants = _upstream_constants()
    copies = []
    for attribute in sorted(set(_module_assignments(module))):
        value = getattr(module, attribute, None)
        if not isinstance(value, _DATA):
            continue
        same = [key for key, known in constants.items() if known == value]
        if same:
            copies.append(f"{attribute} (upstream.{same[0]})")
    assert not copies, f"{name} keeps its own copy of upstream facts (import them from components.upstream): {copies}"


@pytest.mark.parametrize("name", CHECKERS)
def test_a_checker_writes_no_upstream_name_or_port_as_a_literal(name):
    module = importlib.import_module(name)
    found = [
        f"line {line}: {value!r}"
        for line, value in _literals(module)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value in UPSTREAM_LEAVES
    ]
    assert not found, f"{name} spells upstream facts itself (use components.upstream): {found}"
