"""How a Standard pool's Deployment rolls out without stranding a GPU pod (pure, no Pulumi).

KServe copies the predictor's `deploymentStrategy` onto the Deployment it creates for a
Standard-mode InferenceService and otherwise leaves the Deployment default, RollingUpdate
with 25 % surge and 25 % unavailable (kserve v0.20.0 pkg/controller/v1beta1/
inferenceservice/reconcilers/deployment/deployment_reconciler.go: `if
componentExt.DeploymentStrategy != nil { deployment.Spec.Strategy = ... }`). A surge pod
needs a free slot of `tensorParallelSize` GPUs: on a node pool at its limit it stays
Pending and the rollout stalls; taking a pod down first (maxUnavailable) drops a chat pool
below its warm minimum. So each Standard pool gets:

- surge (maxSurge 1, maxUnavailable 0) when its node pool can hold one more pod with every
  pool on it at its maximum replicas (managed and Karpenter node pools: `scaling.max` nodes);
- otherwise replace in place (maxSurge 0, maxUnavailable 1), which never leaves a Pending
  pod: allowed for a chat pool only when at least one warm replica stays up during the
  rollout (`replicas.min` of 2 or more); a chat pool with neither is rejected at preview.

Existing node pools declare no size, so the stack cannot know either way: they surge, since
a surge pod that finds no GPU stays Pending with the old pods still serving (the rollout
waits, visibly), where taking a pod down first could leave a chat pool with none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the spec's rules call rollout_problems: no import of the spec package at run time
    from components.spec.platform import PlatformSpec
    from components.spec.pools import PoolSpec


@dataclass(frozen=True)
class Rollout:
    max_surge: int
    max_unavailable: int

    def strategy(self) -> dict[str, Any]:
        """The Deployment strategy as KServe's predictor `deploymentStrategy` takes it."""
        return {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": self.max_surge, "maxUnavailable": self.max_unavailable},
        }


SURGE = Rollout(max_surge=1, max_unavailable=0)
IN_PLACE = Rollout(max_surge=0, max_unavailable=1)


def node_pool_gpus(spec: PlatformSpec, node_pool_name: str) -> int | None:
    """The most GPUs the node pool can have (`scaling.max` nodes); None for existing nodes."""
    node_pool = spec.node_pool(node_pool_name)
    return None if node_pool.kind == "existing" else node_pool.scaling.max * node_pool.gpus_per_node


def peak_gpus(spec: PlatformSpec, node_pool_name: str) -> int:
    """GPUs every pool on the node pool takes at its maximum replicas."""
    return sum(p.replicas.max * p.tensor_parallel_size for p in spec.pools if p.node_pool == node_pool_name)


def headroom_gpus(spec: PlatformSpec, pool: PoolSpec) -> int | None:
    """GPUs left on the pool's node pool with every pool on it at its maximum; None if unknown."""
    total = node_pool_gpus(spec, pool.node_pool)
    return None if total is None else total - peak_gpus(spec, pool.node_pool)


def rollout_for(spec: PlatformSpec, pool: PoolSpec) -> Rollout:
    headroom = headroom_gpus(spec, pool)
    return SURGE if headroom is None or headroom >= pool.tensor_parallel_size else IN_PLACE


def rollout_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    """Chat pools on Standard mode that no rollout strategy can roll without an outage."""
    for index, pool in enumerate(spec.pools):
        if pool.mode != "standard" or pool.workload_class != "chat" or rollout_for(spec, pool) == SURGE:
            continue
        if pool.replicas.min >= 2:
            continue
        node_pool = spec.node_pool(pool.node_pool)
        spare = max(headroom_gpus(spec, pool) or 0, 0)
        yield (
            f"pools[{index}].replicas.min",
            f"{pool.replicas.min}: a rollout of this chat pool can neither add a pod first (node pool "
            f"'{pool.node_pool}', at most {node_pool.scaling.max} nodes, has {spare} GPUs spare with every pool "
            f"at its maximum replicas; a new pod needs {pool.tensor_parallel_size}) nor take one down and keep a "
            "warm replica: set replicas.min to 2 or more, lower the pools' replicas.max, or raise the node "
            "pool's scaling.max",
        )
