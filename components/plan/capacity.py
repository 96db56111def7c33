"""The capacity model's verdict on every pool, evaluated once per run: the ServingPools, the
`capacity` stack output, `capacity.json` and `tools capacity` all read these figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.capacity import PoolCapacity
from components.spec import PlatformSpec


def plan_capacity(spec: PlatformSpec) -> Mapping[str, PoolCapacity]:
    """Pool name -> its capacity figures, in the spec's pool order."""
    return spec.capacities


def capacity_report(capacity: Mapping[str, PoolCapacity]) -> dict[str, dict[str, Any]]:
    """What the stack output `capacity` and `capacity.json` hold: the same dict, one code path."""
    return {name: figures.to_dict() for name, figures in capacity.items()}
