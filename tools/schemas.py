"""Strict schema validation of rendered Kubernetes objects (DESIGN.md section 5).

Core Kubernetes kinds are checked by kubernetes-validate in strict mode; custom
resources by the CRDs and catalog JSON schemas in ../shared/schemas, tightened so
that an unknown field is an error. The API server would silently prune such a
field, so a typo in a manifest would otherwise ship and do nothing.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import (
    InvalidSchemaError,
    SchemaNotFoundError,
    ValidationError,
    VersionNotSupportedError,
)

from tools import signed_cache
from tools.stackfile import InputError

KUBERNETES_VERSION = "1.33.0"
# kubernetes-validate reads and parses its JSON schema files (the definitions file is
# megabytes) on every validate() call; they never change, so each is read once per process.
_read_schema_file = kubernetes_validate.utils.schema_contents
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(_read_schema_file)
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMAS_DIR = REPO_ROOT.parent / "shared" / "schemas"
# Parsed CRD files as JSON, keyed by the file's content hash: reading JSON is ~20x faster
# than parsing the multi-megabyte YAML, which was most of a `check`'s time. A forged entry
# would be a permissive schema, so the cache is tools/signed_cache.py's: outside the
# checkout, HMAC-signed.
SCHEMA_CACHE = "schemas"
CHECK_NAME = "schema"
MAX_MESSAGE_CHARS = 300

# DNS-1123 subdomain and label, the name rules most kinds follow.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

# Every ObjectMeta field, so a misspelt "lables" is caught, while the values of
# fields the API server sets stay unchecked ("loose").
CUSTOM_RESOURCE_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "generateName": {"type": "string"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array"},
        **{
            field: {}
            for field in (
                "uid",
                "resourceVersion",
                "generation",
                "selfLink",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
            )
        },
    },
}

# kubernetes-validate checks ObjectMeta's fields but, like the API, lets a name be
# absent (generateName); a rendered manifest without one is always a mistake. No
# name pattern here: core kinds differ (RBAC names may contain ':').
CORE_METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
}

TYPE_META_PROPERTIES: dict[str, Any] = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}

BRANCH_KEYWORDS = ("anyOf", "allOf", "oneOf")
INLINE_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


class SchemasMissing(InputError):
    """The schemas directory is absent or holds no schema (bad arguments: exit code 2)."""


@dataclass(frozen=True)
class SchemaFinding:
    check: str
    resource: str
    message: str

    def line(self) -> str:
        return f"{self.check} {self.resource}: {self.message}"


@dataclass(frozen=True)
class _RawSchema:
    """A schema as found on disk, before it is made strict."""

    kind: str | None  # None: catalog file whose content does not name the kind
    schema: dict[str, Any]


class SchemaRegistry:
    """The custom resource schemas of one schemas directory, compiled on first use."""

    def __init__(self, schemas_dir: Path = DEFAULT_SCHEMAS_DIR) -> None:
        self.schemas_dir = Path(schemas_dir)
        if not self.schemas_dir.is_dir():
            raise SchemasMissing(_missing_message(self.schemas_dir, "does not exist"))
        # Keyed by (apiVersion, kind.lower()) so a catalog file, named in lower
        # case, is found; the kind's real spelling is checked on lookup.
        self._raw: dict[tuple[str, str], _RawSchema] = {}
        self._served_versions: dict[tuple[str, str], list[str]] = {}
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        self._load_crds(self.schemas_dir / "crds")
        self._load_catalog(self.schemas_dir / "catalog")
        if not self._raw:
            raise SchemasMissing(_missing_message(self.schemas_dir, "holds no crds/*.yaml or catalog/*/*.json"))

    # -- loading ---------------------------------------------------------------

    def _load_crds(self, crds_dir: Path) -> None:
        for path in sorted(crds_dir.glob("*.yaml")):
            for document in _load_yaml_documents(path):
                if document.get("kind") == "CustomResourceDefinition":
                    self._add_crd(document)

    def _add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            api_version = f"{group}/{version['name']}"
            schema = version["schema"]["openAPIV3Schema"]
            self._raw[(api_version, kind.lower())] = _RawSchema(kind, schema)
            self._served_versions.setdefault((group, kind), []).append(version["name"])

    def _load_catalog(self, catalog_dir: Path) -> None:
        # datreeio CRDs-catalog layout: <group>/<kind-lower>_<version>.json
        for path in sorted(catalog_dir.glob("*/*.json")):
            kind_lower, _, version = path.stem.rpartition("_")
            if not kind_lower:
                continue
            schema = json.loads(path.read_text())
            api_version = f"{path.parent.name}/{version}"
            kind = _kind_named_by(schema, kind_lower)
            self._raw[(api_version, kind_lower)] = _RawSchema(kind, schema)

    # -- lookup ----------------------------------------------------------------

    def known_kinds(self) -> list[tuple[str, str]]:
        """Every (apiVersion, kind) with a schema; the kind in lower case when unknown."""
        return sorted((key[0], raw.kind or key[1]) for key, raw in self._raw.items())

    def has_schema(self, api_version: str, kind: str) -> bool:
        raw = self._raw.get((api_version, kind.lower()))
        return raw is not None and raw.kind in (None, kind)

    def raw_schema(self, api_version: str, kind: str) -> dict[str, Any]:
        """The schema as the CRD declares it (with its defaults and CEL rules), not tightened."""
        return self._raw[(api_version, kind.lower())].schema

    def strict_schema(self, api_version: str, kind: str) -> dict[str, Any]:
        """The schema of a custom resource, tightened as described in the module docstring."""
        return self._validator(api_version, kind).schema

    def _validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator:
        # Rewritten and compiled once per kind: a render has many objects of few kinds.
        key = (api_version, kind)
        if key not in self._validators:
            raw = self._raw[(api_version, kind.lower())]
            self._validators[key] = jsonschema.Draft202012Validator(_strict_root(raw.schema))
        return self._validators[key]

    # -- validation ------------------------------------------------------------

    def validate_all(self, objects: Iterable[dict]) -> list[SchemaFinding]:
        return [finding for obj in objects for finding in self.validate_object(obj)]

    def validate_object(self, obj: dict) -> list[SchemaFinding]:
        resource = describe_resource(obj)
        messages = sorted(set(self._messages_for(obj)))
        return [SchemaFinding(CHECK_NAME, resource, message) for message in messages]

    def _messages_for(self, obj: dict) -> Iterator[str]:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            yield "apiVersion and kind must both be non-empty strings"
        elif self.has_schema(api_version, kind):
            yield from self._custom_resource_messages(obj, api_version, kind)
        elif _is_core_group(api_version):
            yield from _core_messages(obj)
        else:
            yield self._no_schema_message(api_version, kind)

    def _custom_resource_messages(self, obj: dict, api_version: str, kind: str) -> Iterator[str]:
        validator = self._validator(api_version, kind)
        # The API server applies schema defaults before validating; without them
        # e.g. a Gateway address without "type" would match both oneOf branches.
        defaulted = _with_defaults(validator.schema, copy.deepcopy(obj))
        for error in validator.iter_errors(defaulted):
            yield from _error_messages(error)

    def _no_schema_message(self, api_version: str, kind: str) -> str:
        message = f"no schema for {api_version}/{kind}: add its CRD to the schemas directory"
        group = api_version.rpartition("/")[0]
        served = self._served_versions.get((group, kind))
        if served:
            message += f" (served versions: {', '.join(sorted(served))})"
        return message


# -- helpers: resources and messages ------------------------------------------


def describe_resource(obj: dict) -> str:
    """`<apiVersion>/<Kind> <namespace>/<name>`, or without namespace when it has none."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = metadata.get("name") or "<no name>"
    namespace = metadata.get("namespace")
    where = f"{namespace}/{name}" if namespace else str(name)
    return f"{obj.get('apiVersion', '<no apiVersion>')}/{obj.get('kind', '<no kind>')} {where}"


def _missing_message(path: Path, problem: str) -> str:
    return (
        f"schemas directory {path} {problem}: expected ../shared/schemas beside the repository, or pass --schemas DIR"
    )


def _load_yaml_documents(path: Path) -> list[dict]:
    content = path.read_bytes()
    key = hashlib.sha256(content).hexdigest()
    cached = signed_cache.load(SCHEMA_CACHE, key)
    if isinstance(cached, list):
        return cached
    # The C loader parses the multi-megabyte KServe CRDs about ten times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = [doc for doc in yaml.load_all(content, Loader=loader) if isinstance(doc, dict)]
    signed_cache.store(SCHEMA_CACHE, key, documents)
    return documents


def _kind_named_by(schema: dict[str, Any], kind_lower: str) -> str | None:
    """The kind's spelling when the schema's description starts with it ("EC2NodeClass is ...")."""
    words = str(schema.get("description", "")).split()
    return words[0] if words and words[0].lower() == kind_lower else None


def _is_core_group(api_version: str) -> bool:
    # Built-in groups have no dot ("apps") or live under k8s.io; CRD groups under
    # k8s.io (gateway.networking.k8s.io) are found in the registry first.
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _core_messages(obj: dict) -> Iterator[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except ValidationError as error:
        yield from _error_messages(error)
    except SchemaNotFoundError:
        yield f"no schema for {obj['apiVersion']}/{obj['kind']}: add its CRD to the schemas directory"
    except (InvalidSchemaError, VersionNotSupportedError) as error:
        yield f"cannot validate against Kubernetes {KUBERNETES_VERSION}: {error.message}"
    for invalid in jsonschema.Draft202012Validator(CORE_METADATA_SCHEMA).iter_errors(obj.get("metadata")):
        yield from _error_messages(invalid, prefix=["metadata"])


def _error_messages(error: jsonschema.ValidationError, prefix: list | None = None) -> Iterator[str]:
    path = [*(prefix or []), *error.absolute_path]
    unexpected = _unexpected_properties(error)
    if unexpected:
        # One finding per unknown field, its own path first, so each typo reads alone.
        for key in unexpected:
            yield _shorten(
                f"{format_path([*path, key])}: Additional properties are not allowed ({key!r} was unexpected)"
            )
    else:
        yield _shorten(f"{format_path(path)}: {error.message}")


def _unexpected_properties(error: jsonschema.ValidationError) -> list[str]:
    if error.validator != "additionalProperties" or error.validator_value is not False:
        return []
    if not isinstance(error.instance, dict):
        return []
    known = set(error.schema.get("properties", {}))
    patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
    return sorted(key for key in error.instance if key not in known and not any(p.search(key) for p in patterns))


def format_path(path: Iterable) -> str:
    """JSON path as `spec.containers[0].name`; `(root)` for the object itself."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def _shorten(message: str) -> str:
    # jsonschema quotes whole failing values; a rejected pod spec would flood the report.
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


# -- helpers: making schemas strict -------------------------------------------


def _strict_root(schema: dict[str, Any]) -> dict[str, Any]:
    strict = _strict(schema, in_branch=False)
    properties = strict.setdefault("properties", {})
    for name, subschema in TYPE_META_PROPERTIES.items():
        properties.setdefault(name, subschema)
    properties["metadata"] = CUSTOM_RESOURCE_METADATA_SCHEMA
    strict.setdefault("additionalProperties", False)
    return strict


def _strict(schema: Any, in_branch: bool) -> Any:
    """A copy of a structural schema in which unlisted fields are errors."""
    if not isinstance(schema, dict):
        return schema
    strict = dict(schema)
    for keyword in ("properties", "patternProperties"):
        if isinstance(strict.get(keyword), dict):
            strict[keyword] = {name: _strict(sub, in_branch) for name, sub in strict[keyword].items()}
    for keyword in ("items", "additionalProperties"):
        if isinstance(strict.get(keyword), dict):
            strict[keyword] = _strict(strict[keyword], in_branch)
    # Branches of anyOf/oneOf/allOf/not may only repeat the parent's fields
    # (structural schema rule); closing them would reject the parent's other
    # fields, so only the parent is closed.
    for keyword in BRANCH_KEYWORDS:
        if isinstance(strict.get(keyword), list):
            strict[keyword] = [_strict(branch, True) for branch in strict[keyword]]
    if isinstance(strict.get("not"), dict):
        strict["not"] = _strict(strict["not"], True)
    _make_pattern_python_compatible(strict)
    _allow_int_or_string(strict)
    _allow_null_when_nullable(strict)
    _allow_embedded_type_meta(strict)
    if _should_close(strict, in_branch):
        strict["additionalProperties"] = False
    return strict


def _should_close(schema: dict[str, Any], in_branch: bool) -> bool:
    return (
        not in_branch
        and "properties" in schema
        and "additionalProperties" not in schema
        and schema.get("x-kubernetes-preserve-unknown-fields") is not True
    )


def _make_pattern_python_compatible(schema: dict[str, Any]) -> None:
    # CRD patterns are Go RE2. Go accepts inline flags mid-pattern
    # ("^(?i)(abort|warn)?$" in PrometheusRule); Python only at the start, and
    # jsonschema would raise on every object reaching such a field.
    pattern = schema.get("pattern")
    if not isinstance(pattern, str) or _compiles(pattern):
        return
    flags = "".join(sorted(set("".join(INLINE_FLAGS.findall(pattern)))))
    hoisted = f"(?{flags})" + INLINE_FLAGS.sub("", pattern) if flags else pattern
    if _compiles(hoisted):
        schema["pattern"] = hoisted
    else:
        del schema["pattern"]  # unreadable in Python: better unchecked than a crash


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _allow_int_or_string(schema: dict[str, Any]) -> None:
    # Usually spelt with anyOf integer/string; when only the marker is there,
    # restrict to what the API server accepts instead of anything at all.
    if schema.get("x-kubernetes-int-or-string") and not any(k in schema for k in ("type", "anyOf", "oneOf")):
        schema["type"] = ["integer", "string"]


def _allow_null_when_nullable(schema: dict[str, Any]) -> None:
    # OpenAPI's "nullable" has no JSON Schema equivalent; null must pass type and enum.
    if schema.get("nullable") is not True:
        return
    if isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


def _allow_embedded_type_meta(schema: dict[str, Any]) -> None:
    # An embedded object (x-kubernetes-embedded-resource) implicitly has
    # apiVersion, kind and metadata even when its schema lists other fields only.
    if schema.get("x-kubernetes-embedded-resource") and isinstance(schema.get("properties"), dict):
        schema["properties"] = {**TYPE_META_PROPERTIES, **schema["properties"]}


def _with_defaults(schema: Any, value: Any) -> Any:
    """Fill absent fields with schema defaults, as the API server does before validating."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        for name, subschema in (schema.get("properties") or {}).items():
            if name not in value and isinstance(subschema, dict) and "default" in subschema:
                value[name] = copy.deepcopy(subschema["default"])
            if name in value:
                value[name] = _with_defaults(subschema, value[name])
        if isinstance(schema.get("additionalProperties"), dict):
            listed = schema.get("properties") or {}
            for name in value:
                if name not in listed:
                    value[name] = _with_defaults(schema["additionalProperties"], value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_with_defaults(schema["items"], item) for item in value]
    return value
