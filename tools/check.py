"""`check`: every mandatory gate over a render output, one line per finding.

Each gate is a function from the render output to finding lines
(`<rule or check> <resource>: <message>`); `findings` runs them all in order.
"""

from __future__ import annotations

from pathlib import Path

from tools.render import Rendered
from tools.schemas import SchemaRegistry


def schema_findings(rendered: Rendered, schemas_dir: Path) -> list[str]:
    registry = SchemaRegistry(schemas_dir)
    return [finding.line() for finding in registry.validate_all(rendered.manifests)]


def findings(rendered: Rendered, schemas_dir: Path) -> list[str]:
    return [
        *schema_findings(rendered, schemas_dir),
    ]
