"""The isolation slice: what `NetworkPolicies` reads from the stack config (DESIGN.md
section 2, guardrails), derived once by `plan_network_policies`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from components.conventions import EDGE_HTTPS_PORT
from components.spec import HubMirrorModelMirror, PlatformSpec, PoolSpec, S3ModelMirror
from components.upstream import LOCAL_MODEL_JOB_NAMESPACE


@dataclass(frozen=True)
class WarmupEgressPlan:
    """Where the model-cache warm-up Jobs may go: the model mirror's port (its addresses are
    not known in advance) and, for an s3 mirror, the node-local EKS Pod Identity agent."""

    mirror_port: int
    pod_identity_agent: bool


@dataclass(frozen=True)
class NetworkPoliciesPlan:
    serving_namespace: str
    # Every namespace that gets the default deny and the DNS egress.
    namespaces: tuple[str, ...]
    pools: tuple[PoolSpec, ...]
    # The edge: its Envoy proxies are the only front of a Standard pool and of Kourier.
    gateway_name: str
    gateway_namespace: str
    prometheus_namespace: str
    # Knative pools on a Knative we install: Kourier's gateway pods and Knative's activator get a
    # policy each (a cluster's own Knative is its operator's to guard).
    kourier_ingress: bool
    # The edge's listener port, which the proxies open to clients (and nothing else but metrics).
    gateway_listener_port: int
    # None without warm-up Jobs (modelCache.kind local: KServe's Jobs fill the cache).
    warmup_egress: WarmupEgressPlan | None
    # modelCache.kind local: KServe's download Jobs run in their own namespace
    # (upstream.LOCAL_MODEL_JOB_NAMESPACE), which gets the default deny, DNS and this way out.
    local_cache_egress: WarmupEgressPlan | None = None


def plan_network_policies(spec: PlatformSpec) -> NetworkPoliciesPlan:
    return NetworkPoliciesPlan(
        serving_namespace=spec.namespaces.serving,
        namespaces=tuple(serving_namespaces(spec)),
        pools=spec.pools,
        gateway_name=spec.gateway.name,
        gateway_namespace=spec.gateway.namespace,
        prometheus_namespace=spec.monitoring.namespace,
        kourier_ingress=bool(spec.knative_pools) and spec.control_plane.knative.enabled,
        gateway_listener_port=EDGE_HTTPS_PORT,
        warmup_egress=plan_warmup_egress(spec) if spec.model_cache.kind == "pvc" else None,
        local_cache_egress=plan_warmup_egress(spec) if spec.model_cache.kind == "local" else None,
    )


def serving_namespaces(spec: PlatformSpec) -> list[str]:
    """Every namespace that runs model pods: the pools' and warm-up Jobs', and KServe's
    local-model download Jobs' with a local cache."""
    local = [LOCAL_MODEL_JOB_NAMESPACE] if spec.model_cache.kind == "local" else []
    return [spec.namespaces.serving, *local]


def plan_warmup_egress(spec: PlatformSpec) -> WarmupEgressPlan:
    mirror = spec.model_mirror
    return WarmupEgressPlan(mirror_port=mirror_port(spec), pod_identity_agent=isinstance(mirror, S3ModelMirror))


def mirror_port(spec: PlatformSpec) -> int:
    """The port the warm-up reaches its model mirror on: a hub mirror's endpoint port, or
    HTTPS (the public hub, S3)."""
    mirror = spec.model_mirror
    if isinstance(mirror, HubMirrorModelMirror):
        parts = urlsplit(mirror.endpoint)
        return parts.port or (80 if parts.scheme == "http" else 443)
    return 443
