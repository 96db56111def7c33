"""`check`: every mandatory gate over a render output, one line per finding."""

from __future__ import annotations

from pathlib import Path

from tools.render import Rendered
from tools.schemas import SchemaRegistry


def findings(rendered: Rendered, schemas_dir: Path) -> list[str]:
    registry = SchemaRegistry(schemas_dir)
    return [finding.line() for finding in registry.validate_all(rendered.manifests)]
