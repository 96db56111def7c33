"""Every component registers its outputs under the names of its typed attributes (camelCase of
the attribute, as Pulumi's own components do), so what a stack policy or `pulumi stack` shows
of a component is what the code that composes it reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.unit


def _components() -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for path in sorted((REPO_ROOT / "components").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_component = isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith("ComponentResource") for base in node.bases
            )
            if is_component:
                found.append((path, node))
    return found


def _registered_keys(component: ast.ClassDef) -> list[str]:
    keys = []
    for node in ast.walk(component):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("register_outputs"):
            (argument,) = node.args
            assert isinstance(argument, ast.Dict), f"{component.name}: register_outputs takes a dict literal"
            keys += [key.value for key in argument.keys if isinstance(key, ast.Constant)]
    return keys


def _annotated(component: ast.ClassDef) -> set[str]:
    """Attributes typed in the class body (`url: str`) or where they are set (`self.url: str = ...`)."""
    names = set()
    for node in ast.walk(component):
        if isinstance(node, ast.AnnAssign):
            target = node.target
            if isinstance(target, ast.Name) and node in component.body:
                names.add(target.id)
            elif isinstance(target, ast.Attribute) and ast.unparse(target.value) == "self":
                names.add(target.attr)
    return names


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_there_are_components_to_judge():
    assert len(_components()) >= 12


@pytest.mark.parametrize("path, component", _components(), ids=lambda item: getattr(item, "name", ""))
def test_registered_outputs_are_typed_attributes_of_the_same_name(path, component):
    keys = _registered_keys(component)
    assert keys, f"{path.name} {component.name} registers no outputs"
    missing = [key for key in keys if _snake(key) not in _annotated(component)]
    assert not missing, f"{path.name} {component.name}: registered {missing} without a typed attribute of that name"
