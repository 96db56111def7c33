"""`check`: every mandatory gate over a render output, one line per finding.

Each gate is a function from the render output to finding lines
(`<rule or check> <resource>: <message>`); `findings` runs them all in order.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping, Optional

from tools import helm_values, policy_gate, promql, vllm_parser, xref
from tools.render import Rendered
from tools.schemas import SchemaRegistry


@functools.lru_cache(maxsize=4)
def _registry(schemas_dir: Path) -> SchemaRegistry:
    # Loaded once per folder and process: repeated checks (tests, benchmarks) reuse its
    # parsed CRDs and compiled validators.
    return SchemaRegistry(schemas_dir)


def schema_findings(rendered: Rendered, schemas_dir: Path) -> list[str]:
    registry = _registry(Path(schemas_dir))
    return [finding.line() for finding in registry.validate_all(rendered.manifests)]


def findings(
    rendered: Rendered, schemas_dir: Path, policy_config: Optional[Mapping[str, policy_gate.RuleConfig]] = None
) -> list[str]:
    return [
        *schema_findings(rendered, schemas_dir),
        *helm_values.findings(rendered.resources, schemas_dir),
        *promql.findings(rendered.manifests),
        *xref.findings(rendered),
        *vllm_parser.findings(rendered.manifests),
        *policy_gate.findings(rendered, policy_config),
    ]


def advisories(rendered: Rendered, policy_config: Optional[Mapping[str, policy_gate.RuleConfig]] = None) -> list[str]:
    """Advisory policy violations, in the findings' format; printed, never failing the check."""
    return policy_gate.advisories(rendered, policy_config)


def notes(rendered: Rendered) -> list[str]:
    """What the gates could not check here; printed, but not findings."""
    return vllm_parser.notes(rendered.manifests)
