"""`load_platform`: a stack's raw platform config in, a checked `PlatformSpec` out."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from components.spec.errors import SpecError, validation_problems
from components.spec.platform import PlatformSpec
from components.spec.rules import capacity_problems, cross_field_problems


def load_platform(raw: Any, source: str, capacity_gate: bool = True) -> PlatformSpec:
    """Parse and check a stack's platform config; raise SpecError naming `source` on any problem.

    `capacity_gate=False` skips only the capacity verdicts, so a capacity report can still
    show the figures of a pool that the gate would reject.
    """
    if not isinstance(raw, dict):
        raise SpecError(source, [("", f"must be a mapping, got {type(raw).__name__}")])
    try:
        spec = PlatformSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(source, validation_problems(error)) from None
    # The capacity gate needs every reference resolved, so it runs on a consistent spec.
    problems = list(cross_field_problems(spec))
    if not problems and capacity_gate:
        problems = list(capacity_problems(spec))
    if problems:
        raise SpecError(source, problems)
    return spec
