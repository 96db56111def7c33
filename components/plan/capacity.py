"""The capacity figures as the stack output `capacity` and `capacity.json` hold them. The
verdicts themselves are `PlatformSpec.capacities`, evaluated once per spec and shared by the
capacity gate, the plan, the ServingPools and `tools capacity`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.capacity import PoolCapacity


def capacity_report(capacity: Mapping[str, PoolCapacity]) -> dict[str, dict[str, Any]]:
    """What the stack output `capacity` and `capacity.json` hold: the same dict, one code path."""
    return {name: figures.to_dict() for name, figures in capacity.items()}
