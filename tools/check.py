"""`check`: every mandatory gate over a render output, one line per finding.

Each gate is a function from the render output to finding lines
(`<rule or check> <resource>: <message>`); `findings` runs them all in order, and tells a
`Progress` how long each took. A cold check spends many seconds in the schema and vLLM
gates: the progress lines (on stderr) say where, and the closing lines say what ran and
what an offline check cannot judge.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

from tools import cel, helm_values, policy_gate, promql, vllm_parser, xref
from tools.render import Rendered
from tools.schemas import SchemaRegistry

# What an offline check never judges, however it is run: said at the end of every check,
# so a clean result is not read as more than it is.
NOT_CHECKED_OFFLINE = (
    "Helm chart contents: charts are rendered by the Kubernetes provider at preview; offline only their values are checked",
    "the cluster itself: what exists there, admission webhooks, controllers' behaviour",
)

T = TypeVar("T")


@dataclass
class Progress:
    """Reports each stage with its time; `out=None` keeps quiet (tests, the library use)."""

    out: TextIO | None = None
    label: str = "check"
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def stage(
        self, name: str, run: Callable[[], list[str]], detail: Callable[[], str | None] = lambda: None
    ) -> list[str]:
        lines, seconds = timed(run)
        extra = detail()
        self.say(f"{name} {seconds:.1f} s, {len(lines)} findings" + (f"; {extra}" if extra else ""))
        self.ran.append(name)
        return lines

    def say(self, message: str) -> None:
        if self.out is not None:
            print(f"{self.label}: {message}", file=self.out, flush=True)

    def summary(self) -> None:
        self.say(f"ran: {', '.join(self.ran)}")
        for reason in [*self.skipped, *NOT_CHECKED_OFFLINE]:
            self.say(f"not checked: {reason}")


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """`run()`'s result and how many seconds it took."""
    started = time.perf_counter()
    return run(), time.perf_counter() - started


def to_stderr(label: str) -> Progress:
    return Progress(out=sys.stderr, label=label)


@functools.lru_cache(maxsize=4)
def _registry(schemas_dir: Path) -> SchemaRegistry:
    # Loaded once per folder and process: repeated checks (tests, benchmarks) reuse its
    # parsed CRDs and compiled validators.
    return SchemaRegistry(schemas_dir)


def schema_findings(rendered: Rendered, schemas_dir: Path) -> list[str]:
    registry = _registry(Path(schemas_dir))
    return [finding.line() for finding in registry.validate_all(rendered.manifests)]


def cel_findings(rendered: Rendered, schemas_dir: Path, progress: Progress) -> list[str]:
    """The CRDs' CEL rules (tools/cel.py); what it could not evaluate becomes a "not checked" line."""
    result = cel.check(_registry(Path(schemas_dir)), rendered.manifests)
    progress.skipped.extend(result.not_checked())
    return result.lines()


def findings(
    rendered: Rendered,
    schemas_dir: Path,
    policy_config: Mapping[str, policy_gate.RuleConfig] | None = None,
    progress: Progress | None = None,
) -> list[str]:
    progress = progress or Progress()
    lines = [
        *progress.stage("schemas", lambda: schema_findings(rendered, schemas_dir)),
        *progress.stage("cel", lambda: cel_findings(rendered, schemas_dir, progress)),
        *progress.stage("helm-values", lambda: helm_values.findings(rendered.resources, schemas_dir)),
        *progress.stage("promql", lambda: promql.findings(rendered.manifests)),
        *progress.stage("cross-references", lambda: xref.findings(rendered)),
    ]
    if vllm_parser.notes(rendered.manifests):
        progress.skipped.append("vllm-args: vLLM's own parser is not here (the note above says why)")
    elif vllm_parser.serve_arguments(rendered.manifests):
        lines += progress.stage("vllm-args", lambda: vllm_parser.findings(rendered.manifests), _vllm_used)
    lines += progress.stage("policy pack", lambda: policy_gate.findings(rendered, policy_config))
    return lines


def _vllm_used() -> str | None:
    used = vllm_parser.used()
    return f"checked by {used}" if used else None


def advisories(rendered: Rendered, policy_config: Mapping[str, policy_gate.RuleConfig] | None = None) -> list[str]:
    """Advisory policy violations, in the findings' format; printed, never failing the check."""
    return policy_gate.advisories(rendered, policy_config)


def notes(rendered: Rendered) -> list[str]:
    """What the gates could not check here; printed, but not findings."""
    return vllm_parser.notes(rendered.manifests)
