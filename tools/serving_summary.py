"""What a change does to serving, per pool, for the top of each stack's pull-request comment.

A reviewer of a model change should not have to find it in a manifests diff: per pool, the
model and its revision before and after, the context cap, the replicas, the capacity the pool
was admitted with (KV-cache tokens, concurrent sequences at the cap, from `capacity.json`)
and the approval on record (the InferenceService's `llmserving.io/model-*` annotations,
`components/conventions.py`); below the table, a pool that newly accepts, or accepts anew,
that a restart of Knative's proxies may cut its requests (`acceptedRisks.knativeProxyRestart`), with the
reason and how long a request may be held. Read from two render outputs (base branch and pull request);
a base rendered by older code without those annotations still shows its revision, read from
the model's `storageUri`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components import conventions, upstream
from components.vllm_args import MAX_MODEL_LEN, SERVED_MODEL_NAME

MANIFESTS, CAPACITY = "manifests.yaml", "capacity.json"
_COMMIT = re.compile(r"(?:^|/)([0-9a-f]{40})(?:/|$)")
SHORT_REVISION = 12
NO_APPROVAL = "none on record"


@dataclass(frozen=True)
class PoolServing:
    """One pool as a reviewer compares it; every field is display text."""

    model: str = ""
    revision: str = ""
    quantization: str = ""
    context_cap: str = ""
    replicas: str = ""
    kv_tokens: str = ""
    seqs_at_cap: str = ""
    approval: str = NO_APPROVAL
    # Not columns: read for the warnings below the table.
    request_timeout: str = ""
    knative_proxy_restart_accepted: str = ""


COLUMNS = {
    "model": "model",
    "revision": "revision",
    "quantization": "quantization",
    "context_cap": "context cap",
    "replicas": "replicas",
    "kv_tokens": "KV tokens",
    "seqs_at_cap": "seqs at cap",
    "approval": "approval",
}


def read_pools(render_dir: Path | None) -> dict[str, PoolServing]:
    """Pool name -> what it serves, from a render output folder ({} when there is none)."""
    if render_dir is None or not (render_dir / MANIFESTS).is_file():
        return {}
    manifests = [doc for doc in yaml.safe_load_all((render_dir / MANIFESTS).read_text(encoding="utf-8")) if doc]
    capacity_file = render_dir / CAPACITY
    capacity = json.loads(capacity_file.read_text(encoding="utf-8")) if capacity_file.is_file() else {}
    return {
        str(isvc["metadata"]["name"]): _pool(isvc, capacity.get(str(isvc["metadata"]["name"])) or {})
        for isvc in _inference_services(manifests)
    }


def _inference_services(manifests: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for doc in manifests:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "InferenceService"
            and str(doc.get("apiVersion", "")).startswith(f"{upstream.KSERVE_API_GROUP}/")
        ):
            yield doc


def _pool(isvc: Mapping[str, Any], capacity: Mapping[str, Any]) -> PoolServing:
    metadata = isvc.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    model = predictor.get("model") or {}
    args = [str(arg) for arg in model.get("args") or []]
    revision = annotations.get(conventions.MODEL_REVISION_ANNOTATION) or _commit_in(str(model.get("storageUri", "")))
    served = _flag(args, SERVED_MODEL_NAME.name) or (metadata.get("labels") or {}).get(conventions.MODEL_LABEL, "")
    return PoolServing(
        model=str(served),
        revision=str(revision)[:SHORT_REVISION],
        quantization=str(annotations.get(conventions.MODEL_QUANTIZATION_ANNOTATION, "")),
        context_cap=_flag(args, MAX_MODEL_LEN.name),
        replicas=f"{_count(predictor.get('minReplicas'))}-{_count(predictor.get('maxReplicas'))}",
        kv_tokens=_thousands(capacity.get("kvCacheTokens")),
        seqs_at_cap=_thousands(capacity.get("concurrentSequencesAtCap")),
        approval=_approval(annotations),
        request_timeout=_count(predictor["timeout"]) if "timeout" in predictor else "",
        knative_proxy_restart_accepted=str(
            annotations.get(conventions.KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION) or ""
        ),
    )


def _flag(args: list[str], name: str) -> str:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return ""


def _commit_in(uri: str) -> str:
    match = _COMMIT.search(uri)
    return match.group(1) if match else ""


def _count(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) else "?"


def _thousands(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, (int, float)) else ""


def _approval(annotations: Mapping[str, Any]) -> str:
    owner = annotations.get(conventions.MODEL_APPROVED_BY_ANNOTATION)
    if not owner:
        return NO_APPROVAL
    reference = annotations.get(conventions.MODEL_APPROVAL_REF_ANNOTATION, "?")
    return f"{owner} ({reference}, {annotations.get(conventions.MODEL_APPROVED_ON_ANNOTATION, '?')})"


# --- the Markdown -----------------------------------------------------------------------


def section(base_dir: Path | None, head_dir: Path) -> str:
    """The serving summary of one stack: a table, one row per pool, `before → after` where a
    value changes; '' when the pull request's render has no InferenceService and the base none."""
    base, head = read_pools(base_dir), read_pools(head_dir)
    names = [*head, *(name for name in base if name not in head)]
    if not names:
        return ""
    changed = [name for name in names if base.get(name) != head.get(name)]
    title = f"**Serving:** {len(changed)} of {len(names)} pools change" if changed else "**Serving:** unchanged"
    lines = [title, "", "| pool | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name in names:
        lines.append(f"| `{name}` | " + " | ".join(_cells(base.get(name), head.get(name))) + " |")
    lines += [f"- {warning}" for name in changed for warning in _warnings(name, base.get(name), head.get(name))]
    return "\n".join([*lines, ""])


def _cells(before: PoolServing | None, after: PoolServing | None) -> list[str]:
    if after is None:
        return ["removed", *([""] * (len(COLUMNS) - 1))]
    cells = []
    for column in COLUMNS:
        new = getattr(after, column)
        old = getattr(before, column) if before is not None else None
        cells.append(_cell(old, new))
    return cells


def _cell(old: str | None, new: str) -> str:
    if old is None:
        return f"**{_code(new)}** (new)" if new else ""
    if old == new:
        return _code(new)
    return f"{_code(old) or '–'} → **{_code(new) or '–'}**"


def _code(value: str) -> str:
    return f"`{value}`" if value and value != NO_APPROVAL and " " not in value else value


def _warnings(name: str, before: PoolServing | None, after: PoolServing | None) -> list[str]:
    if after is None:
        return []
    warnings = []
    if after.approval == NO_APPROVAL:
        warnings.append(f"`{name}`: no approval on record for `{after.model}` (policy rule model-approved)")
    elif before is not None and before.approval == after.approval and _model_changed(before, after):
        warnings.append(f"`{name}`: the model changes but its approval is the previous one's ({after.approval})")
    accepted = after.knative_proxy_restart_accepted
    if accepted and (
        before is None
        or (before.knative_proxy_restart_accepted, before.request_timeout) != (accepted, after.request_timeout)
    ):
        warnings.append(
            f"`{name}`: accepts that a restart of Knative's proxies cuts its requests, which may take up to "
            f"{after.request_timeout} s (acceptedRisks.knativeProxyRestart, policy rule knative-timeouts-drainable): "
            f"“{accepted}”"
        )
    return warnings


def _model_changed(before: PoolServing, after: PoolServing) -> bool:
    return (before.model, before.revision, before.quantization) != (after.model, after.revision, after.quantization)
