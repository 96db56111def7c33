"""The resolved plan: everything the components, the stack outputs and the tools derive
from the stack config, computed once by pure functions (no Pulumi import).

Each area's slice lives in its own module (`components/plan/<area>.py`): a frozen dataclass
holding exactly what that area's component reads, and a `plan_<area>(spec)` function that
derives it from the validated `PlatformSpec`. Components take their slice plus the outputs
of the components they depend on, never the whole spec; only the composer (`Platform`)
and this package read across areas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.capacity import PoolCapacity
from components.plan.control_plane import ControlPlanePlan, plan_control_plane
from components.plan.edge import GatewayPlan, SecretsPlan, plan_gateway, plan_secrets
from components.plan.isolation import NetworkPoliciesPlan, plan_network_policies
from components.plan.mirror import GpuOperatorPlan, MirrorPlan, plan_gpu_operator, plan_mirror
from components.plan.monitoring import MonitoringPlan, plan_monitoring
from components.plan.pools import PoolPlan, plan_pools
from components.plan.weights import ModelCachePlan, WarmupPlan, plan_model_cache, plan_warmup
from components.spec import PlatformSpec


@dataclass(frozen=True)
class Plan:
    """One stack, resolved. `spec` stays for the composer, which alone reads across areas;
    a slice is None where its component is switched off."""

    spec: PlatformSpec
    capacity: Mapping[str, PoolCapacity]
    mirror: MirrorPlan
    gpu_operator: GpuOperatorPlan | None
    control_plane: ControlPlanePlan
    gateway: GatewayPlan
    secrets: SecretsPlan
    model_cache: ModelCachePlan
    warmup: WarmupPlan | None  # warm-up Jobs fill a claim; KServe fills a local cache itself
    network_policies: NetworkPoliciesPlan
    pools: Mapping[str, PoolPlan]
    monitoring: MonitoringPlan | None


def resolve(spec: PlatformSpec) -> Plan:
    capacity = spec.capacities
    return Plan(
        spec=spec,
        capacity=capacity,
        mirror=plan_mirror(spec),
        gpu_operator=plan_gpu_operator(spec) if spec.gpu_operator.enabled else None,
        control_plane=plan_control_plane(spec),
        gateway=plan_gateway(spec),
        secrets=plan_secrets(spec),
        model_cache=plan_model_cache(spec),
        warmup=plan_warmup(spec) if spec.model_cache.kind == "pvc" else None,
        network_policies=plan_network_policies(spec),
        pools=plan_pools(spec, capacity),
        monitoring=plan_monitoring(spec) if spec.monitoring.enabled else None,
    )
