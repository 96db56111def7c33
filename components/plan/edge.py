"""The edge slices: what `Gateway` and `Secrets` read from the stack config (DESIGN.md
section 2, edge and guardrails), derived once by `plan_gateway` and `plan_secrets`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import conventions, upstream
from components.chart_images import ENVOY_GATEWAY_IMAGES, values_for, with_envoy_proxy_image
from components.secret_config import gateway_api_keys_name
from components.spec import GatewaySpec, PlatformSpec, PoolSpec


@dataclass(frozen=True)
class GatewayPlan:
    gateway: GatewaySpec
    pools: tuple[PoolSpec, ...]
    serving_namespace: str
    # The Envoy Gateway chart's values that bring its images through the mirror ({} when none changes).
    chart_values: dict[str, Any]
    # The edge's EnvoyProxy spec: replicas, the proxy Service, the proxy image through the mirror.
    proxy: dict[str, Any]
    # Knative pool name -> the cluster-local host Kourier serves that pool's route on.
    knative_route_hosts: dict[str, str]

    @property
    def hostnames(self) -> dict[str, str]:
        """Pool name -> the hostname its route answers on."""
        return {pool.name: pool.hostname for pool in self.pools}

    @property
    def tls_secret(self) -> str:
        """'<namespace>/<name>' of the edge's TLS Secret, the certificate its listener serves."""
        return f"{self.gateway.namespace}/{self.gateway.tls.secret_name}"

    @property
    def has_knative_pools(self) -> bool:
        return bool(self.knative_route_hosts)


@dataclass(frozen=True)
class SecretsPlan:
    gateway_namespace: str
    gateway_api_keys_name: str
    serving_namespace: str
    # The pools whose vLLM checks the key itself (gateway.vllmApiKey), each with a Secret of its
    # allowed clients' keys; none without it.
    vllm_api_key_pools: tuple[PoolSpec, ...]
    # Where the download that needs the hub token runs; None when none needs it.
    hub_token_namespace: str | None


def plan_gateway(spec: PlatformSpec) -> GatewayPlan:
    mirror = spec.image_mirror
    return GatewayPlan(
        gateway=spec.gateway,
        pools=spec.pools,
        serving_namespace=spec.namespaces.serving,
        chart_values=values_for(ENVOY_GATEWAY_IMAGES, mirror),
        proxy=with_envoy_proxy_image(edge_proxy_spec(spec.gateway, spec.on_eks, spec.pools), mirror),
        knative_route_hosts={pool.name: knative_route_host(spec, pool) for pool in spec.knative_pools},
    )


def plan_secrets(spec: PlatformSpec) -> SecretsPlan:
    return SecretsPlan(
        gateway_namespace=spec.gateway.namespace,
        gateway_api_keys_name=gateway_api_keys_name(spec.gateway),
        serving_namespace=spec.namespaces.serving,
        vllm_api_key_pools=spec.pools if spec.gateway.vllm_api_key else (),
        hub_token_namespace=hub_token_namespace(spec),
    )


# --- the edge proxies -----------------------------------------------------------------------


def edge_proxy_spec(gateway: GatewaySpec, on_eks: bool, pools: tuple[PoolSpec, ...]) -> dict[str, Any]:
    service: dict[str, Any] = {"name": gateway.name, "type": edge_service_type(gateway, on_eks)}
    if service["type"] == "LoadBalancer":
        service["annotations"] = load_balancer_annotations(gateway, on_eks)
        if gateway.source_ranges:
            service["loadBalancerSourceRanges"] = list(gateway.source_ranges)
    elif gateway.service_annotations:
        service["annotations"] = dict(sorted(gateway.service_annotations.items()))
    kubernetes = {"envoyDeployment": {"replicas": gateway.replicas}, "envoyService": service}
    return {
        "provider": {"type": "Kubernetes", "kubernetes": kubernetes},
        "shutdown": {"drainTimeout": f"{edge_drain_seconds(pools)}s"},
    }


def edge_drain_seconds(pools: tuple[PoolSpec, ...]) -> int:
    """How long a stopping edge proxy keeps serving the requests it holds: the longest any
    route lets a request take (a stack has at least one pool). Envoy Gateway's default drain
    is 60 s (EnvoyProxy `shutdown.drainTimeout`, ../shared/schemas/crds), after which a proxy
    rollout or a node drain would cut every longer request in flight. Its shutdown manager
    exits as soon as the proxy holds no connection (internal/cmd/envoy/shutdown_manager.go),
    so a quiet proxy stops at once, and it gives the pod terminationGracePeriodSeconds of
    the drain plus 300 s (internal/infrastructure/kubernetes/proxy/resource.go
    expectedTerminationGracePeriodSeconds; Envoy Gateway v1.9.0)."""
    return max(pool.request_timeout_seconds for pool in pools)


def edge_service_type(gateway: GatewaySpec, on_eks: bool) -> str:
    """A load balancer only where it can be kept internal: EKS's internal NLB, or source
    ranges on other clusters (no portable annotation makes their load balancers internal)."""
    if gateway.service_type:
        return gateway.service_type
    return "LoadBalancer" if on_eks or gateway.source_ranges else "ClusterIP"


def load_balancer_annotations(gateway: GatewaySpec, on_eks: bool) -> dict[str, str]:
    """Internal unless the spec says `internetFacing`; on clusters other than EKS the
    exposure is the cluster's load balancer's, set through `serviceAnnotations`."""
    if not on_eks:
        return dict(sorted(gateway.service_annotations.items()))
    scheme = "internet-facing" if gateway.internet_facing else "internal"
    annotations = {
        **gateway.service_annotations,
        **upstream.EKS_NLB_ANNOTATIONS,
        upstream.EKS_SCHEME_ANNOTATION: scheme,
    }
    return dict(sorted(annotations.items()))


# --- derived names --------------------------------------------------------------------------


def knative_route_host(spec: PlatformSpec, pool: PoolSpec) -> str:
    """The cluster-local host Kourier serves a Knative pool's route on (KServe names the
    Knative Service `<pool>-predictor`)."""
    return upstream.knative_cluster_local_host(conventions.predictor_service_name(pool.name), spec.namespaces.serving)


def hub_token_namespace(spec: PlatformSpec) -> str | None:
    """Where the download that needs the hub token runs, or None when none needs it: KServe's
    download Jobs for a local cache, our warm-up Jobs for a claim."""
    if not spec.hub_token_needed:
        return None
    return upstream.LOCAL_MODEL_JOB_NAMESPACE if spec.model_cache.kind == "local" else spec.namespaces.serving
