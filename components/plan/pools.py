"""The serving pools' slices: one per pool, everything its `ServingPool` reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components import conventions, versions
from components.capacity import PoolCapacity
from components.images import mirrored
from components.plan.control_plane import zero_initial_scale
from components.plan.weights import storage_uri
from components.rollout import Rollout, rollout_for
from components.secret_config import vllm_api_keys_name
from components.spec import ModelSpec, NodePoolSpec, PlatformSpec, PoolSpec


@dataclass(frozen=True)
class PoolPlan:
    pool: PoolSpec
    model: ModelSpec
    node_pool: NodePoolSpec
    namespace: str
    model_cache_claim: str
    prometheus_url: str
    capacity: PoolCapacity
    image: str = versions.VLLM_IMAGE  # already through the registry mirror
    # Secret with vLLM's --config file of allowed API keys (Secrets component); None: vLLM checks none.
    api_key_secret: str | None = None
    # Where the weights are (ModelCache's storage_uri); None: the revision's path in the claim.
    storage_uri: str | None = None
    # Standard pools: how the Deployment rolls out on its node pool (components/rollout.py).
    rollout: Rollout | None = None
    # Knative pools at zero: each revision starts with no pod (plan/control_plane.py zero_initial_scale).
    zero_initial_scale: bool = False


def plan_pools(spec: PlatformSpec, capacity: Mapping[str, PoolCapacity]) -> dict[str, PoolPlan]:
    """Pool name -> its slice, in the spec's pool order; `capacity` is the plan's verdicts."""
    return {pool.name: _pool_plan(spec, pool, capacity[pool.name]) for pool in spec.pools}


def _pool_plan(spec: PlatformSpec, pool: PoolSpec, capacity: PoolCapacity) -> PoolPlan:
    model = spec.model(pool.model)
    return PoolPlan(
        pool=pool,
        model=model,
        node_pool=spec.node_pool(pool.node_pool),
        namespace=spec.namespaces.serving,
        model_cache_claim=spec.model_cache.claim_name,
        prometheus_url=spec.monitoring.prometheus_url,
        capacity=capacity,
        image=mirrored(versions.VLLM_IMAGE, spec.image_mirror),
        api_key_secret=vllm_api_keys_name(pool) if spec.gateway.vllm_api_key else None,
        storage_uri=storage_uri(spec, model),
        rollout=rollout_for(spec, pool) if pool.mode == "standard" else None,
        zero_initial_scale=zero_initial_scale(spec, pool),
    )


def model_annotations(model: ModelSpec) -> dict[str, str]:
    """What the InferenceService records about its model: the pinned source, revision and
    quantization always; the provenance (license, approval, evaluation, quantization source)
    where the spec gives it. The `model-approved` rule reads these."""
    quantization = conventions.QUANTIZED_AT_LOAD if model.quantize_on_load else model.quantization
    recorded = {
        conventions.MODEL_SOURCE_ANNOTATION: model.source,
        conventions.MODEL_REVISION_ANNOTATION: model.revision,
        conventions.MODEL_QUANTIZATION_ANNOTATION: quantization,
        conventions.MODEL_LICENSE_ANNOTATION: model.license,
        conventions.MODEL_EVALUATION_ANNOTATION: model.evaluation,
        conventions.MODEL_QUANTIZATION_SOURCE_ANNOTATION: model.quantization_source,
    }
    if model.approval is not None:
        recorded[conventions.MODEL_APPROVED_BY_ANNOTATION] = model.approval.owner
        recorded[conventions.MODEL_APPROVAL_REF_ANNOTATION] = model.approval.reference
        recorded[conventions.MODEL_APPROVED_ON_ANNOTATION] = model.approval.date.isoformat()
    return {key: value for key, value in recorded.items() if value is not None}
