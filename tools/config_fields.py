"""The stack config's fields as the reference shows them: pydantic's JSON Schema of
`PlatformSpec`, corrected where it disagrees with `load_platform`, the defaults that
depend on other fields, and one row per field path.

Pure Python, no Pulumi imports. Defaults that depend on the pool's class or on the cluster
kind come from the spec package's own tables and before-validators (some of them private), run on
probe input, so the reference cannot drift from what `load_platform` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

from components.spec import (
    _CACHE_FIELD_KINDS,
    _FIELD_KINDS,
    CLASS_DEFAULTS,
    NodePoolSpec,
    PlatformSpec,
    PoolSpec,
    _with_concurrency_target,
    _with_node_pool_kinds,
)

POOLS = f"{PlatformSpec.model_fields['pools'].alias}[]"
NODE_POOLS_KEY = PlatformSpec.model_fields["node_pools"].alias
NODE_POOLS = f"{NODE_POOLS_KEY}[]"
MODEL_CACHE = PlatformSpec.model_fields["model_cache"].alias
CLUSTER = PlatformSpec.model_fields["cluster"].alias
CLASS_KEY = PoolSpec.model_fields["workload_class"].alias


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


# Why the one computed class default is what it is, in the code's own words.
COMPUTED_NOTE = one_line(_with_concurrency_target.__doc__)


# --- defaults that depend on other fields ---------------------------------------------


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Leaf values of nested mappings, keyed by dotted path."""
    leaves: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        leaves.update(_flatten(value, f"{path}.") if isinstance(value, Mapping) else {path: value})
    return leaves


def pool_class_defaults() -> dict[str, dict[str, Any]]:
    """Per class, what the class fills into a pool that gives nothing else, as dotted paths
    below a pool. Runs the pool's own before-validator, so derived values are included."""
    return {
        workload_class: {
            path: value for path, value in _flatten(_class_filled_pool(workload_class)).items() if path != CLASS_KEY
        }
        for workload_class in CLASS_DEFAULTS
    }


def _class_filled_pool(workload_class: str) -> dict[str, Any]:
    """A pool that gives only its class, as the pool's own before-validator fills it."""
    # pydantic types a model_validator's `__get__` as returning its descriptor proxy; on the
    # class it returns the wrapped classmethod, which is callable.
    return PoolSpec._apply_class_defaults({CLASS_KEY: workload_class})  # type: ignore[operator]


def computed_class_defaults() -> set[tuple[str, str]]:
    """(class, path) of defaults the validator computes from other fields instead of
    reading them from CLASS_DEFAULTS (batch's autoscaling.target)."""
    listed = {workload_class: _flatten(values) for workload_class, values in CLASS_DEFAULTS.items()}
    return {
        (workload_class, path)
        for workload_class, values in pool_class_defaults().items()
        for path in values
        if path not in listed[workload_class]
    }


def defaults_by_path() -> dict[str, dict[str, Any]]:
    """Per path below a pool, each class's default."""
    by_path: dict[str, dict[str, Any]] = {}
    for workload_class, values in pool_class_defaults().items():
        for path, value in values.items():
            by_path.setdefault(path, {})[workload_class] = value
    return by_path


def class_default_text(workload_class: str, path: str, value: Any, markdown: bool) -> str:
    """`chat: 8192` in Markdown, `chat 8192` in a schema description. A computed default
    says so: Markdown explains it in a footnote, a description has to in line."""
    shown = f"{workload_class}: `{_yaml_value(value)}`" if markdown else f"{workload_class} {_yaml_value(value)}"
    note = " (computed)" if markdown else f" ({COMPUTED_NOTE.rstrip('.')})"
    return shown + (note if (workload_class, path) in computed_class_defaults() else "")


def cluster_kinds() -> list[str]:
    return list(_base_pydantic_schema()["properties"][CLUSTER]["discriminator"]["mapping"])


def node_pool_kind_defaults() -> dict[str, str]:
    """Node pool kind per cluster kind, as PlatformSpec's before-validator fills it in."""
    return {
        kind: _with_node_pool_kinds({CLUSTER: {"kind": kind}, NODE_POOLS_KEY: [{}]})[NODE_POOLS_KEY][0]["kind"]
        for kind in cluster_kinds()
    }


def kind_only_fields() -> dict[str, tuple[str, ...]]:
    """Fields that apply to some values of their object's `kind` only (the spec rejects them elsewhere)."""
    node_pool = {f"{NODE_POOLS}.{to_camel(name)}": tuple(kinds) for name, kinds in _FIELD_KINDS.items()}
    cache = {f"{MODEL_CACHE}.{to_camel(name)}": (kind,) for name, kind in _CACHE_FIELD_KINDS.items()}
    return {**node_pool, **cache}


# --- JSON Schema ----------------------------------------------------------------------


def _base_pydantic_schema() -> dict[str, Any]:
    return PlatformSpec.model_json_schema(by_alias=True, mode="validation")


def validation_schema() -> dict[str, Any]:
    """pydantic's schema, corrected where it says something other than `load_platform` does."""
    schema = _base_pydantic_schema()
    _drop_class_filled_requirements(schema)
    _require_discriminators(schema)
    _drop_context_dependent_default(schema)
    return schema


def def_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _referrers(schema: Mapping[str, Any], name: str) -> set[str]:
    needle = json.dumps(f"#/$defs/{name}")
    referrers = {other for other, body in schema["$defs"].items() if needle in json.dumps(body)}
    return referrers | ({"<root>"} if needle in json.dumps(schema["properties"]) else set())


def _drop_class_filled_requirements(schema: dict[str, Any]) -> None:
    """The pool's class fills these in before validation; a stack need not give them. A nested
    mapping (replicas, slo) is merged over the class's, so its keys are optional too."""
    defs = schema["$defs"]
    pool = defs[PoolSpec.__name__]
    filled = _filled_by_every_class()
    _drop_required(pool, set(filled))
    for key, nested in filled.items():
        if not nested:
            continue
        name = def_name(pool["properties"][key]["$ref"])
        # Loosening a shared definition would loosen it wherever else it is used.
        if _referrers(schema, name) != {PoolSpec.__name__}:
            raise RuntimeError(f"$defs/{name} is used outside {PoolSpec.__name__}; relax a copy instead")
        _drop_required(defs[name], nested)


def _filled_by_every_class() -> dict[str, set[str]]:
    """Top-level pool keys every class fills, each with the nested keys every class fills."""
    per_class = [_class_filled_pool(c) for c in CLASS_DEFAULTS]
    keys = set.intersection(*(set(values) for values in per_class)) - {CLASS_KEY}
    return {
        key: set.intersection(*(set(v[key]) if isinstance(v[key], dict) else set() for v in per_class)) for key in keys
    }


def _drop_required(model: dict[str, Any], names: set[str]) -> None:
    required = [name for name in model.get("required", []) if name not in names]
    if required:
        model["required"] = required
    else:
        model.pop("required", None)


def _require_discriminators(schema: dict[str, Any]) -> None:
    """pydantic rejects a tagged-union mapping without its tag, even where one member's tag
    has a default (registryMirror kind none); so must the schema."""
    for node in walk(schema):
        tag = node.get("discriminator", {}).get("propertyName")
        for ref in node.get("discriminator", {}).get("mapping", {}).values() if tag else ():
            member = schema["$defs"][def_name(ref)]
            member["required"] = [tag, *(name for name in member.get("required", []) if name != tag)]


def _drop_context_dependent_default(schema: dict[str, Any]) -> None:
    """A node pool's kind defaults by cluster kind, not to the one value pydantic shows."""
    schema["$defs"][NodePoolSpec.__name__]["properties"]["kind"].pop("default", None)


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a JSON document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# --- fields, as rows of the Markdown reference ----------------------------------------


@dataclass(frozen=True)
class Variant:
    """A member of a tagged union: the fields that go with one value of `kind`."""

    heading: str  # Markdown
    description: str


@dataclass(frozen=True)
class FieldRow:
    path: str
    type: str
    default: str
    allowed: str
    meaning: str
    variant: Variant | None = None


@dataclass
class _Context:
    """What a row needs beyond its own schema node, worked out once per reference."""

    defs: dict[str, Any]
    class_defaults: dict[str, dict[str, Any]] = field(default_factory=defaults_by_path)
    kind_only: dict[str, tuple[str, ...]] = field(default_factory=kind_only_fields)
    node_pool_kinds: dict[str, str] = field(default_factory=node_pool_kind_defaults)


def field_rows() -> Iterator[FieldRow]:
    """Every field of the stack config, top-level sections first, in model order."""
    schema = validation_schema()
    context = _Context(defs=schema["$defs"])
    required = set(schema.get("required", []))
    for name, node in schema["properties"].items():
        yield from _rows(node, name, name in required, context, None)


def _rows(
    node: dict[str, Any], path: str, required: bool, context: _Context, variant: Variant | None
) -> Iterator[FieldRow]:
    node = _resolve(node, context.defs)
    yield FieldRow(
        path=path,
        type=_type_text(node, context.defs),
        default=_default_text(node, path, required, context),
        allowed=_allowed_text(node, context.defs),
        meaning=_meaning_text(node, path, context),
        variant=variant,
    )
    yield from _nested_rows(_non_null(node, context.defs), path, context, variant)


def _nested_rows(node: dict[str, Any], path: str, context: _Context, variant: Variant | None) -> Iterator[FieldRow]:
    if node.get("type") == "array":
        items = _resolve(node.get("items", {}), context.defs)
        yield from _property_rows(items, f"{path}[]", context, variant)
    elif "discriminator" in node:
        tag = node["discriminator"]["propertyName"]
        for value, ref in node["discriminator"]["mapping"].items():
            member = context.defs[def_name(ref)]
            label = Variant(f"`{path}.{tag}: {value}`", one_line(member.get("description")))
            yield from _property_rows(member, path, context, label, first=tag)
    elif "oneOf" in node:
        for member in (_resolve(m, context.defs) for m in node["oneOf"]):
            label = Variant(f"`{path}` as a mapping", one_line(member.get("description")))
            yield from _property_rows(member, path, context, label if "properties" in member else variant)
    else:
        yield from _property_rows(node, path, context, variant)


def _property_rows(
    model: dict[str, Any], path: str, context: _Context, variant: Variant | None, first: str | None = None
) -> Iterator[FieldRow]:
    """`first`: the union's tag, listed before the fields a base class contributes."""
    required = set(model.get("required", []))
    properties = model.get("properties", {})
    for name in sorted(properties, key=lambda name: name != first):
        yield from _rows(properties[name], f"{path}.{name}", name in required, context, variant)


def _resolve(node: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """A $ref'd definition, with the referring property's own keywords (default) on top."""
    if "$ref" not in node:
        return node
    local = {key: value for key, value in node.items() if key != "$ref"}
    return {**defs[def_name(node["$ref"])], **local}


def _non_null(node: dict[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The non-null member of an Optional field."""
    members = [m for m in node.get("anyOf", []) if m.get("type") != "null"]
    return _resolve(members[0], defs) if len(members) == 1 else node


def _type_text(node: dict[str, Any], defs: Mapping[str, Any]) -> str:
    node = _non_null(node, defs)
    if "discriminator" in node:
        return f"mapping, by `{node['discriminator']['propertyName']}`"
    if "oneOf" in node:
        return " or ".join(dict.fromkeys(_type_text(_resolve(m, defs), defs) for m in node["oneOf"]))
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type_text(_resolve(node.get('items', {}), defs), defs)}"
    if kind == "object" and "properties" not in node:
        return f"map of string to {_type_text(node.get('additionalProperties') or {}, defs)}"
    return "mapping" if kind == "object" else str(kind or "any")


def _default_text(node: dict[str, Any], path: str, required: bool, context: _Context) -> str:
    relative = path[len(POOLS) + 1 :] if path.startswith(f"{POOLS}.") else None
    if relative in context.class_defaults:
        by_class = context.class_defaults[relative]
        return "<br>".join(class_default_text(c, relative, v, markdown=True) for c, v in by_class.items())
    if relative is not None and any(key.startswith(f"{relative}.") for key in context.class_defaults):
        return "by class, per field below"
    if path == f"{NODE_POOLS}.kind":
        return "<br>".join(f"`{kind}` with `{CLUSTER}.kind` `{c}`" for c, kind in context.node_pool_kinds.items())
    if required:
        return "**required**"
    if "default" not in node:  # a default_factory: pydantic leaves it out of the schema
        return {"object": "`{}`", "array": "`[]`"}.get(_non_null(node, context.defs).get("type", ""), "unset")
    return _literal_default(node["default"], node.get("discriminator", {}).get("propertyName"))


def _literal_default(value: Any, tag: str | None) -> str:
    if value is None:
        return "unset"
    if isinstance(value, dict) and tag in value:
        return f"`{tag}: {value[tag]}`"
    if isinstance(value, dict) and value:
        return "per field below"
    return f"`{_yaml_value(value)}`"


def _yaml_value(value: Any) -> str:
    """A value as a stack file spells it."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _allowed_text(node: dict[str, Any], defs: Mapping[str, Any]) -> str:
    return "; ".join(_constraints(_non_null(node, defs), defs))


def _constraints(node: dict[str, Any], defs: Mapping[str, Any]) -> list[str]:
    parts: list[str] = []
    if "discriminator" in node:
        parts.append(f"`{node['discriminator']['propertyName']}`: " + _codes(node["discriminator"]["mapping"]))
    if "enum" in node:
        parts.append(_codes(node["enum"]))
    if "const" in node:
        parts.append(f"`{node['const']}`")
    parts.extend(f"{symbol} {node[key]}" for key, symbol in _BOUNDS if key in node)
    parts.extend(f"{label} {node[key]}" for key, label in _SIZES if key in node)
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    items = _resolve(node.get("items", {}), defs)
    if node.get("type") == "array" and "properties" not in items:  # a list of mappings has rows of its own
        parts.extend(f"each: {part}" for part in _constraints(items, defs))
    if node.get("type") == "object" and "propertyNames" in node:
        parts.append("keys: " + "; ".join(_constraints(node["propertyNames"], defs)))
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        parts.extend(f"values: {part}" for part in _constraints(node["additionalProperties"], defs))
    return parts


_BOUNDS = (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
_SIZES = (
    ("minLength", "length ≥"), ("maxLength", "length ≤"), ("minItems", "items ≥"), ("maxItems", "items ≤"),
)  # fmt: skip


def _codes(values: Sequence[Any]) -> str:
    return ", ".join(f"`{value}`" for value in values)


def _meaning_text(node: dict[str, Any], path: str, context: _Context) -> str:
    description = one_line(node.get("description") or _non_null(node, context.defs).get("description"))
    kinds = context.kind_only.get(path)
    if kinds:
        parent = path.rsplit(".", 1)[0]
        description = f"*Only with `{parent}.kind` {' or '.join(f'`{k}`' for k in kinds)}.* {description}"
    return description
