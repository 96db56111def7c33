"""`load_platform`: a stack's raw platform config in, a checked `PlatformSpec` out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from components.redact import looks_like_secret
from components.spec.base import Problem
from components.spec.errors import SpecError, validation_problems
from components.spec.platform import PlatformSpec
from components.spec.rules import capacity_problems, cross_field_problems

# The platform config is committed in plain text and rendered into objects anyone with read
# access to the cluster (or the pull request) sees; secrets go in secret config only.
_PASTED_SECRET = (
    "looks like a secret (a token or key); secrets never go in the platform config: use secret config, "
    "pulumi config set --secret <key> <value>, and refer to it"
)


def secret_like_values(raw: Any, path: str = "", depth: int = 0) -> Iterator[Problem]:
    """The config paths of strings (keys too) that look like tokens; never the values."""
    if depth > 64:
        return
    if isinstance(raw, str):
        if looks_like_secret(raw):
            yield path, _PASTED_SECRET
    elif isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(key, str) and looks_like_secret(key):
                yield path, f"a key of this mapping {_PASTED_SECRET}"
                continue
            yield from secret_like_values(value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            yield from secret_like_values(item, f"{path}[{index}]", depth + 1)


def load_platform(raw: Any, source: str, capacity_gate: bool = True) -> PlatformSpec:
    """Parse and check a stack's platform config; raise SpecError naming `source` on any problem.

    `capacity_gate=False` skips only the capacity verdicts, so a capacity report can still
    show the figures of a pool that the gate would reject.
    """
    if not isinstance(raw, dict):
        raise SpecError(source, [("", f"must be a mapping, got {type(raw).__name__}")])
    pasted = list(secret_like_values(raw))
    try:
        spec = PlatformSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(source, [*pasted, *validation_problems(error)]) from None
    # The capacity gate needs every reference resolved, so it runs on a consistent spec.
    problems = [*pasted, *cross_field_problems(spec)]
    if not problems and capacity_gate:
        problems = list(capacity_problems(spec))
    if problems:
        raise SpecError(source, problems)
    return spec
