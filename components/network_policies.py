"""`NetworkPolicies`: who may talk to the pools (DESIGN.md section 2, guardrails).

In every serving namespace: a default deny of ingress and egress; egress to the cluster DNS
only; and per pool, ingress on the serving port from exactly what fronts it. Pool pods are
selected by our labels (`llmserving.io/pool` + the serving-pool component), the gateway's
proxies by the labels Envoy Gateway puts on them, so every rule keeps matching as pods
come and go.

- Standard pool: the edge proxies, on vLLM's port.
- Knative pool: Knative's activator and Kourier's gateway (Knative's ingress, which the
  edge forwards Knative pools to), on queue-proxy's port (Knative puts queue-proxy in
  front of vLLM); Knative's control plane namespace on queue-proxy's autoscaling-metrics
  port, which the autoscaler scrapes.
- Every pool: the Prometheus namespace on vLLM's port, which also serves /metrics.

Kourier has no auth of its own, and Knative gives every Knative pool a Service in the
serving namespace that any pod can resolve to it; so where we install Knative, Kourier's
gateway pods accept only the edge proxies (on the port of cluster-local routes), Knative's
own namespace (net-kourier's prober) and Prometheus (on its metrics port).

The model-cache warm-up Jobs run in the serving namespace too (they fill the claim the pools
mount): they may reach DNS and the model mirror's port, nothing else
(`model_warmup.warmup_egress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import conventions, vllm_args
from components.control_plane import (
    KNATIVE_SERVING_NAMESPACE,
    KOURIER_GATEWAY_LABELS,
    KOURIER_INTERNAL_POD_PORT,
    KOURIER_METRICS_PORT,
)
from components.gateway import NAMESPACE_NAME_LABEL
from components.model_warmup import warmup_egress
from components.serving_pool import COMPONENT as POOL_COMPONENT
from components.spec import PlatformSpec, PoolSpec

DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}  # CoreDNS keeps kube-dns's label (EKS, kubeadm)
DNS_PORT = 53
ACTIVATOR_LABELS = {"app": "activator"}
# knative/serving pkg/networking: queue-proxy's HTTP/1 port, which the activator and the
# gateways send to, and its autoscaling metrics port, which the autoscaler scrapes.
QUEUE_PROXY_PORT = 8012
QUEUE_PROXY_METRICS_PORT = 9090
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    spec: PlatformSpec


class NetworkPolicies(pulumi.ComponentResource):
    """Exposes `default_deny` and `dns_egress` (serving namespace -> policy), `pool_ingress`
    (pool name -> policy), `kourier_ingress` (None without Knative pools or when the cluster
    runs its own Knative) and `warmup_egress` (None without warm-up Jobs)."""

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:guardrails:NetworkPolicies", name, None, opts)
        spec = args.spec
        namespaces = serving_namespaces(spec)
        self.default_deny = {ns: self._policy(ns, "default-deny", default_deny()) for ns in namespaces}
        self.dns_egress = {ns: self._policy(ns, "dns-egress", dns_egress()) for ns in namespaces}
        serving = spec.namespaces.serving
        self.pool_ingress = {
            pool.name: self._policy(serving, f"{pool.name}-ingress", pool_ingress(spec, pool)) for pool in spec.pools
        }
        self.kourier_ingress = None
        if spec.knative_pools and spec.control_plane.knative.enabled:
            self.kourier_ingress = self._policy(
                KNATIVE_SERVING_NAMESPACE, "kourier-gateway-ingress", kourier_ingress(spec)
            )
        self.warmup_egress = None
        if spec.model_cache.kind == "pvc":
            self.warmup_egress = self._policy(serving, "model-warmup-egress", warmup_egress(spec))
        self.register_outputs({"namespaces": namespaces})

    def _policy(self, namespace: str, name: str, spec: dict[str, Any]) -> k8s.networking.v1.NetworkPolicy:
        labels = conventions.standard_labels("network-policy", name, "guardrails")
        return k8s.networking.v1.NetworkPolicy(
            f"{namespace}-{name}",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            # Kubernetes' camelCase JSON, which pulumi-kubernetes types as a TypedDict of its Python
            # names but sends as is (pulumi runtime/rpc.py serialize_property keeps unknown keys).
            spec=cast("k8s.networking.v1.NetworkPolicySpecArgsDict", spec),
            opts=pulumi.ResourceOptions(parent=self),
        )


def serving_namespaces(spec: PlatformSpec) -> list[str]:
    return [spec.namespaces.serving]


def default_deny() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress() -> dict[str, Any]:
    dns = {"namespaceSelector": namespace_selector(DNS_NAMESPACE), "podSelector": {"matchLabels": DNS_POD_LABELS}}
    ports = [{"protocol": protocol, "port": DNS_PORT} for protocol in ("UDP", "TCP")]
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [dns], "ports": ports}]}


def pool_pods(pool: PoolSpec) -> dict[str, Any]:
    return {"matchLabels": {conventions.POOL_LABEL: pool.name, COMPONENT_LABEL: POOL_COMPONENT}}


def pool_ingress(spec: PlatformSpec, pool: PoolSpec) -> dict[str, Any]:
    if pool.mode == "knative":
        fronts = [
            _rule([knative_pod(KOURIER_GATEWAY_LABELS), knative_pod(ACTIVATOR_LABELS)], QUEUE_PROXY_PORT),
            _rule([{"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE)}], QUEUE_PROXY_METRICS_PORT),
        ]
    else:
        fronts = [_rule([proxies_of(spec.gateway.name, spec.gateway.namespace)], vllm_args.HTTP_PORT)]
    scrape = _rule([{"namespaceSelector": namespace_selector(spec.monitoring.namespace)}], vllm_args.HTTP_PORT)
    return {"podSelector": pool_pods(pool), "policyTypes": ["Ingress"], "ingress": [*fronts, scrape]}


def kourier_ingress(spec: PlatformSpec) -> dict[str, Any]:
    edge = proxies_of(spec.gateway.name, spec.gateway.namespace)
    return {
        "podSelector": {"matchLabels": KOURIER_GATEWAY_LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [
            _rule([edge], KOURIER_INTERNAL_POD_PORT),
            {"from": [{"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE)}]},
            _rule([{"namespaceSelector": namespace_selector(spec.monitoring.namespace)}], KOURIER_METRICS_PORT),
        ],
    }


def proxies_of(gateway: str, namespace: str) -> dict[str, Any]:
    """The Envoy proxies of one Gateway: in its namespace, where our Envoy Gateway runs them."""
    labels = conventions.envoy_proxy_labels(gateway, namespace)
    return {"namespaceSelector": namespace_selector(namespace), "podSelector": {"matchLabels": labels}}


def knative_pod(labels: dict[str, str]) -> dict[str, Any]:
    """Pods of Knative's own, in the namespace the Knative Operator installs Knative Serving into."""
    return {"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE), "podSelector": {"matchLabels": labels}}


def namespace_selector(namespace: str) -> dict[str, Any]:
    return {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}


def _rule(sources: list[dict[str, Any]], port: int) -> dict[str, Any]:
    return {"from": sources, "ports": [{"protocol": "TCP", "port": port}]}
