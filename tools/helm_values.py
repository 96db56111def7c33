"""Helm values are real: every key path we set exists in that chart version's defaults.

Helm ignores an unknown values key without a word, so a typo (`dcgmExporter.serviceMonitr`)
ships and silently does nothing. This gate walks the values of every `helm.v4.Chart` in a
render against `<schemas>/helm-values/<chart>-<version>.values.yaml` (the chart's own
values.yaml at that tag) and, where the chart ships one, its values.schema.json.

A chart with no defaults file there may take no values at all (kserve-crd): a values key
we cannot check is a finding, not a pass. The exceptions are the few key paths read by hand
from upstream at the pinned version, each with its source
(`components/chart_images.HAND_CHECKED_VALUE_PATHS`: KEDA's image keys, the GPU Operator's
node-feature-discovery subchart image and its commented-out operand versions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from components.chart_images import HAND_CHECKED_VALUE_PATHS

CHECK_NAME = "helm-values"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
# Some values.yaml files are themselves templates (knative-operator's `tag: {{ tag }}`).
_TEMPLATE = re.compile(r"\{\{[^}]*\}\}")
# Defaults files named other than their chart (../shared/schemas/SOURCES.md).
_DEFAULTS_NAMES = {"gateway-helm": "envoy-gateway-helm"}


def findings(resources: list[dict[str, Any]], schemas_dir: Path) -> list[str]:
    lines = []
    for resource in resources:
        if resource["type"] == CHART_TYPE:
            lines += [
                f"{CHECK_NAME} {resource['name']}: {problem}"
                for problem in chart_problems(resource["inputs"], schemas_dir)
            ]
    return lines


def chart_problems(inputs: dict[str, Any], schemas_dir: Path) -> list[str]:
    name, version, values = chart_name(inputs["chart"]), inputs.get("version", ""), inputs.get("values") or {}
    hand_checked = HAND_CHECKED_VALUE_PATHS.get(name, frozenset())
    defaults_path = schemas_dir / "helm-values" / f"{_DEFAULTS_NAMES.get(name, name)}-{version}.values.yaml"
    if not defaults_path.is_file():
        unchecked = set(leaf_paths(values)) - hand_checked if values else set()
        return [f"sets values but {defaults_path} does not exist to check them against"] if unchecked else []
    defaults = load_defaults(defaults_path)
    schema = load_schema(defaults_path.with_name(defaults_path.name.replace(".values.yaml", ".values.schema.json")))
    problems = [
        f"{dotted(path)} is not a value of {name} {version}"
        for path in unknown_paths(values, defaults)
        if not (schema and declared_by_schema(schema, path))
        and not set(leaf_paths(_at(values, path), path)) <= hand_checked
    ]
    return problems + (schema_errors(values, schema) if schema else [])


def chart_name(chart: str) -> str:
    """`oci://ghcr.io/kserve/charts/kserve-crd` and `kserve-crd` both name `kserve-crd`."""
    return chart.rstrip("/").rpartition("/")[2]


def load_defaults(path: Path) -> dict[str, Any]:
    return yaml.safe_load(_TEMPLATE.sub("templated", path.read_text(encoding="utf-8"))) or {}


def load_schema(path: Path) -> dict[str, Any] | None:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def unknown_paths(values: dict[str, Any], defaults: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Key paths of `values` that `defaults` does not have. An empty map in the defaults
    (labels, nodeSelector) is free-form, and a list or scalar is replaced whole."""
    for key, value in values.items():
        path = (*prefix, key)
        if not isinstance(defaults, dict) or key not in defaults:
            yield path
        elif isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
            yield from unknown_paths(value, defaults[key], path)


def leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, (*prefix, key))
    else:
        yield prefix


def _at(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


def declared_by_schema(schema: dict[str, Any], path: tuple[str, ...]) -> bool:
    """The chart's values schema names this exact key path (not merely tolerates it)."""
    node = _resolve(schema, schema)
    for key in path:
        properties = node.get("properties", {}) if isinstance(node, dict) else {}
        if key not in properties:
            return False
        node = _resolve(schema, properties[key])
    return True


def _resolve(root: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (`#/$defs/...`) until a node with content."""
    while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/"):
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(values: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(
        f"{dotted(error.absolute_path) or '(values)'}: {error.message}" for error in validator.iter_errors(values)
    )


def dotted(path) -> str:
    return ".".join(str(part) for part in path)
