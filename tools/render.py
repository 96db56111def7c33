"""Render a stack: run the program under mocks and write what it declares.

`manifests.yaml` holds every Kubernetes object the program declares itself, exactly as
sent to the API server; `resources.json` every registered resource. Output is sorted and
key-ordered so two renders of the same input are byte-identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.redact import redact
from tools import safe_yaml
from tools.stackfile import StackInput

MANIFESTS = "manifests.yaml"
RESOURCES = "resources.json"
OUTPUTS = "outputs.json"
CAPACITY = "capacity.json"
FILES = (MANIFESTS, RESOURCES, OUTPUTS, CAPACITY)

# Kubernetes resource types that are not objects we declare: charts and YAML bundles
# (their contents are rendered by the provider, not by us) and provider instances.
_NOT_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
_KIND_ORDER = {"Namespace": 0, "CustomResourceDefinition": 1}


@dataclass(frozen=True)
class Rendered:
    manifests: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]
    capacity: dict[str, Any]


def render(stack: StackInput) -> Rendered:
    # Imported here, not at the top: the program, the Pulumi SDK and the provider SDKs load
    # only when a stack is rendered, never for `check --from` (tests/test_cli.py checks it).
    from tools.mockrun import run_program

    recording = run_program(stack.stack, stack.config, stack.spec)
    return Rendered(
        manifests=kubernetes_objects(recording.resources),
        resources=recording.resources,
        outputs=recording.outputs,
        # The program's own `capacity` output: one code path and one evaluation for both.
        capacity=recording.outputs["capacity"],
    )


def kubernetes_objects(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    objects = [r["inputs"] for r in resources if _is_declared_object(r["type"])]
    return sorted(objects, key=_object_order)


def _is_declared_object(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and not resource_type.startswith(_NOT_OBJECTS)


def _object_order(obj: dict[str, Any]) -> tuple:
    metadata = obj.get("metadata", {})
    kind = obj.get("kind", "")
    return (_KIND_ORDER.get(kind, 2), obj.get("apiVersion", ""), kind,
            metadata.get("namespace", ""), metadata.get("name", ""))  # fmt: skip


def write(rendered: Rendered, out_dir: Path) -> tuple[list[Path], int]:
    """Write the render files; the paths, and how many token-like strings were redacted.

    A render is uploaded as a CI artifact and diffed into the pull-request comment: a secret
    pasted into a config field, an extraArg or an annotation would otherwise be published
    with it. Secret config shows as `[secret]` already; this catches what was put elsewhere."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        MANIFESTS: dump_manifests(rendered.manifests),
        RESOURCES: _dump_json(rendered.resources),
        OUTPUTS: _dump_json(rendered.outputs),
        CAPACITY: _dump_json(rendered.capacity),
    }
    total = 0
    for name, text in files.items():
        clean, count = redact(text)
        total += count
        (out_dir / name).write_text(clean, encoding="utf-8")
    return [out_dir / name for name in files], total


def dump_manifests(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=True, explicit_start=True, default_flow_style=False, width=1000)


def _dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def read(out_dir: Path) -> Rendered:
    """Read a render output back (for `check --from`)."""
    return Rendered(
        manifests=[doc for doc in safe_yaml.load_all(_text(out_dir / MANIFESTS), str(out_dir / MANIFESTS)) if doc],
        resources=_read_json(out_dir / RESOURCES),
        outputs=_read_json(out_dir / OUTPUTS),
        capacity=_read_json(out_dir / CAPACITY),
    )


def _text(path: Path) -> str:
    if path.stat().st_size > safe_yaml.MAX_RENDER_BYTES:
        raise ValueError(f"{path}: larger than {safe_yaml.MAX_RENDER_BYTES // 2**20} MiB; not a render output")
    return path.read_text(encoding="utf-8")


def _read_json(path: Path) -> Any:
    return json.loads(_text(path))
