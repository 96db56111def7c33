"""The control plane's slice of the plan, and the chart values and `KnativeServing` spec
derived from it (pure: components/control_plane.py only installs what these say).

Knative's ingress is Kourier, kept cluster-internal (a ClusterIP Service) and with every
Knative route cluster-local: the edge Gateway forwards each Knative pool's hostname to it
after auth (components/gateway.py says why not Knative's Gateway API layer), so the edge's
auth and rate limits cover Knative pools as well and the one Gateway is the only way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import conventions, upstream, versions
from components.chart_images import (
    CERT_MANAGER_IMAGES,
    KEDA_IMAGES,
    KNATIVE_OPERATOR_IMAGES,
    KNATIVE_SERVING_IMAGES,
    KSERVE_IMAGES,
    KSERVE_LOCALMODEL_IMAGES,
    QUEUE_PROXY,
    deep_merge,
    knative_registry,
    values_for,
)
from components.images import NO_MIRROR, Mirror, mirrored, parse
from components.spec import PlatformSpec, PoolSpec
from components.spec.cluster import ControlPlaneSpec

# A Knative revision whose pods are not ready by config-deployment's progress-deadline fails,
# so the deadline outlasts the slowest model load (the startup probe's budget) by what comes
# before the probe starts: pulling the multi-GB vLLM image (any node), and on node pools that
# add nodes on demand, launching the GPU node and the GPU Operator's driver checks, device
# plugin and feature discovery coming up on it (minutes each on EKS).
PROGRESS_DEADLINE_MARGIN_SECONDS = {"existing": 300, "managed": 900, "karpenter": 900}


@dataclass(frozen=True)
class ControlPlanePlan:
    """What `ServingControlPlane` reads: which pieces to install and what configures them."""

    switches: ControlPlaneSpec  # controlPlane.<piece>.enabled
    mirror: Mirror  # every chart's images come through it
    kserve_gateway: str  # `<namespace>/<name>` of the edge Gateway, for KServe's ingress config
    kourier_gateway_replicas: int  # as many Kourier gateways as edge proxies
    knative_max_revision_timeout_seconds: int
    knative_progress_deadline_seconds: int
    local_model_cache: bool  # modelCache.kind == "local": KServe's local model cache is installed
    local_model_path: str  # modelCache.localPath, the node directory that holds that cache
    # Registries of the Knative pools' images given by tag only, which Knative must not resolve.
    knative_tag_registries: tuple[str, ...] = ()
    # Some Knative pool may scale to zero and so starts its revisions at zero.
    knative_zero_initial_scale: bool = False


def plan_control_plane(spec: PlatformSpec) -> ControlPlanePlan:
    return ControlPlanePlan(
        switches=spec.control_plane,
        mirror=spec.image_mirror,
        kserve_gateway=f"{spec.gateway.namespace}/{spec.gateway.name}",
        kourier_gateway_replicas=spec.gateway.replicas,
        knative_max_revision_timeout_seconds=spec.knative_max_revision_timeout_seconds,
        knative_progress_deadline_seconds=knative_progress_deadline_seconds(spec),
        local_model_cache=spec.model_cache.kind == "local",
        local_model_path=spec.model_cache.local_path,
        knative_tag_registries=knative_tag_registries(spec),
        knative_zero_initial_scale=any(zero_initial_scale(spec, pool) for pool in spec.knative_pools),
    )


def zero_initial_scale(spec: PlatformSpec, pool: PoolSpec) -> bool:
    """A Knative pool that may scale to zero starts each new revision at zero, so a config
    change does not start a GPU pod nobody asked for; only with our KnativeServing, which
    allows it (a cluster's own Knative may not: Knative would refuse the revision)."""
    return pool.mode == "knative" and pool.replicas.min == 0 and spec.control_plane.knative.enabled


def knative_tag_registries(spec: PlatformSpec) -> tuple[str, ...]:
    """The registries Knative's controller would resolve tags against for our Knative pools.

    Why skip rather than pin: Knative resolves with its own credentials, not the nodes'
    (components/upstream.py), which a private mirror (ECR pull-through, Harbor) does not give
    it, so the revision never becomes Ready (knative/serving#14117 on private ECR). Pinning by
    digest at preview time would need registry access from the machine that runs the
    preview; a digest the spec pins (`registryMirror.digests`) is honoured as it is (a digest
    reference is never resolved). Skipping costs Knative's guarantee that every pod of a
    revision runs the same bytes; our tags are exact releases in a mirror we control.
    """
    images = {parse(mirrored(versions.VLLM_IMAGE, spec.image_mirror))} if spec.knative_pools else set()
    # Without a mirror the image is public upstream, which Knative resolves anonymously.
    private = {spec.image_mirror.host}
    return tuple(sorted({image.registry for image in images if image.digest is None and image.registry in private}))


def knative_progress_deadline_seconds(spec: PlatformSpec) -> int:
    """Knative's default, or longer when a Knative pool may take longer to start."""
    startups = [
        pool.startup_timeout_seconds + PROGRESS_DEADLINE_MARGIN_SECONDS[spec.node_pool(pool.node_pool).kind]
        for pool in spec.knative_pools
    ]
    return max([upstream.KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS, *startups])


def cert_manager_values(mirror: Mirror = NO_MIRROR) -> dict[str, Any]:
    values = {
        "crds": {"enabled": True, "keep": True},
        # A post-install Helm hook that only waits for the webhook; Pulumi awaits the
        # Deployments itself, and a hook Job applied as a plain object would rerun on changes.
        "startupapicheck": {"enabled": False},
    }
    return deep_merge(values, values_for(CERT_MANAGER_IMAGES, mirror))


def keda_values(mirror: Mirror = NO_MIRROR) -> dict[str, Any]:
    """Only the images, through the mirror: the chart's defaults (CRDs, operator, metrics server
    in `keda`) are what we want, and ../shared/schemas has no KEDA defaults file, so its image
    keys were checked by hand (components/chart_images.py)."""
    return values_for(KEDA_IMAGES, mirror)


def knative_operator_values(mirror: Mirror = NO_MIRROR) -> dict[str, Any]:
    """Only the images, through the mirror: Serving itself is configured by the KnativeServing."""
    return values_for(KNATIVE_OPERATOR_IMAGES, mirror)


def localmodel_values(plan: ControlPlanePlan) -> dict[str, Any]:
    """The local-model controller on, and its node agent (a DaemonSet, on every node unless
    told otherwise) on the GPU nodes only: the GPU Operator labels each `nvidia.com/gpu.present`,
    and the agent tolerates their taint. It keeps the cache in `modelCache.localPath`."""
    agent = {
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": conventions.gpu_tolerations(),
        "hostPath": plan.local_model_path,
    }
    localmodel = {"enabled": True, "jobNamespace": upstream.LOCAL_MODEL_JOB_NAMESPACE, "agent": agent}
    return deep_merge({"kserve": {"localmodel": localmodel}}, values_for(KSERVE_LOCALMODEL_IMAGES, plan.mirror))


def kserve_values(plan: ControlPlanePlan) -> dict[str, Any]:
    values = deep_merge(_kserve_controller_values(plan), values_for(KSERVE_IMAGES, plan.mirror))
    if plan.local_model_cache:
        # The controller's inferenceservice-config turns the local model cache on.
        localmodel = {"enabled": True, "jobNamespace": upstream.LOCAL_MODEL_JOB_NAMESPACE}
        values = deep_merge(values, {"kserve": {"localmodel": localmodel}})
    return values


def _kserve_controller_values(plan: ControlPlanePlan) -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                # Every pool sets its mode explicitly; an InferenceService without one then
                # runs as a Deployment and needs no Knative.
                "deploymentMode": "Standard",
                "gateway": {
                    "urlScheme": "https",
                    # Our Gateway component owns the HTTPRoutes of Standard pools (one per pool hostname).
                    "disableIngressCreation": True,
                    # No Istio: Knative pools route through Kourier.
                    "disableIstioVirtualHost": True,
                    "ingressGateway": {"kserveGateway": plan.kserve_gateway},
                },
            }
        }
    }


def _deployment_config(plan: ControlPlanePlan) -> dict[str, str]:
    config = {"progress-deadline": f"{plan.knative_progress_deadline_seconds}s"}
    if plan.knative_tag_registries:
        # Setting the key replaces Knative's default list, so the defaults stay in it.
        skipped = [*upstream.KNATIVE_DEFAULT_REGISTRIES_SKIPPING_TAG_RESOLVING, *plan.knative_tag_registries]
        config["registries-skipping-tag-resolving"] = ",".join(skipped)
    return config


def knative_serving_spec(plan: ControlPlanePlan) -> dict[str, Any]:
    serving: dict[str, Any] = {
        "version": versions.KNATIVE_VERSION.removeprefix("v"),
        # No load balancer: only the edge Gateway reaches Kourier.
        "ingress": {"kourier": {"enabled": True, "service-type": "ClusterIP"}},
        "config": {
            "network": {"ingress-class": upstream.KOURIER_INGRESS_CLASS},
            # The cluster-local domain made the only one: every Knative route is cluster-local.
            "domain": {upstream.CLUSTER_LOCAL_DOMAIN: ""},
            # GPU pods select their node pool, tolerate its taint and may mount the model cache.
            "features": {
                "kubernetes.podspec-nodeselector": "enabled",
                "kubernetes.podspec-tolerations": "enabled",
                "kubernetes.podspec-persistent-volume-claim": "enabled",
            },
            "defaults": {"max-revision-timeout-seconds": str(plan.knative_max_revision_timeout_seconds)},
            "deployment": _deployment_config(plan),
            "autoscaler": {
                "enable-scale-to-zero": "true",
                # How long the last pod keeps running once traffic stopped, after its
                # per-pool retention period; short, since the retention period already waited.
                "scale-to-zero-grace-period": "30s",
                **({upstream.KNATIVE_ALLOW_ZERO_INITIAL_SCALE: "true"} if plan.knative_zero_initial_scale else {}),
            },
        },
        # At least as many Kourier gateways as edge proxies, so Knative pools are no less
        # redundant (the operator makes this the minReplicas of the gateway's CPU autoscaler).
        "workloads": [{"name": upstream.KOURIER_GATEWAY_DEPLOYMENT, "replicas": plan.kourier_gateway_replicas}],
        "registry": knative_registry(plan.mirror),
    }
    queue_proxy = serving["registry"]["override"].get(QUEUE_PROXY, KNATIVE_SERVING_IMAGES[QUEUE_PROXY])
    if queue_proxy != KNATIVE_SERVING_IMAGES[QUEUE_PROXY]:
        # Knative reads the sidecar every Knative pod gets from config-deployment.
        serving["config"]["deployment"]["queue-sidecar-image"] = queue_proxy
    return serving
