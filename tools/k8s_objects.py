"""Reading Kubernetes objects given as plain dicts (manifests.yaml, resources.json): the
small accessors every check shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def map_selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A plain map selector (Service, nodeSelector): every pair present."""
    return all(labels.get(k) == v for k, v in selector.items())


def as_port(value: Any) -> int | str:
    """A port given as number, numeric string or name."""
    return int(value) if isinstance(value, int) or str(value).isdigit() else str(value)


def namespace_of(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def name_of(obj: Mapping[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "{}"
