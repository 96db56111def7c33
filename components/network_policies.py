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
- Every pool: the Prometheus pods (prometheus-operator's labels, in the monitoring
  namespace) on vLLM's port, which also serves /metrics. Not every pod of that namespace:
  vLLM answers `/invocations`, `/tokenize` and `/detokenize` without its API key, so any pod
  that reaches the port bypasses the edge; Prometheus itself is the residual exposure
  (NetworkPolicies are L4: they cannot confine it to `/metrics`).

Kourier and the activator have no auth of their own and forward to every Knative pool, and
Knative gives every Knative pool a Service in the serving namespace that any pod can resolve
to them; so where we install Knative, Kourier's gateway pods accept only the edge proxies (on
the port of cluster-local routes), Knative's own namespace (net-kourier's prober) and
Prometheus (on its metrics port), and the activator only Knative's own namespace (Kourier
forwards to it while a pool is scaled to zero) and Prometheus (on its metrics port).

The edge proxies accept clients on the listener's port from anywhere (the load balancer
preserves client addresses) and Prometheus on their stats port; their other ports (admin,
readiness) stay closed to other pods.

The model-cache warm-up Jobs run in the serving namespace too (they fill the claim the pools
mount): they may reach DNS and the model mirror's port, nothing else
(`warmup_egress`). With a local cache KServe's own download Jobs fill it, in KServe's
download-Job namespace, which gets the same default deny, DNS and mirror egress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components import conventions, vllm_args
from components.plan.isolation import NetworkPoliciesPlan, WarmupEgressPlan
from components.spec import PoolSpec
from components.upstream import (
    CLUSTER_DNS_LABELS,
    CLUSTER_DNS_NAMESPACE,
    CLUSTER_DNS_PORT,
    EKS_POD_IDENTITY_AGENT,
    ENVOY_PROXY_METRICS_PORT,
    KNATIVE_ACTIVATOR_LABELS,
    KNATIVE_ACTIVATOR_METRICS_PORT,
    KNATIVE_SERVING_NAMESPACE,
    KOURIER_GATEWAY_LABELS,
    KOURIER_INTERNAL_POD_PORT,
    KOURIER_METRICS_PORT,
    LOCAL_MODEL_JOB_NAMESPACE,
    NAMESPACE_NAME_LABEL,
    PROMETHEUS_POD_LABELS,
    QUEUE_PROXY_METRICS_PORT,
    QUEUE_PROXY_PORT,
    envoy_proxy_port,
)

COMPONENT_LABEL = "app.kubernetes.io/component"
NAME_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    plan: NetworkPoliciesPlan


class NetworkPolicies(pulumi.ComponentResource):
    """Exposes `namespaces` (the serving namespaces), `default_deny` and `dns_egress` (serving
    namespace -> policy), `pool_ingress` (pool name -> policy), `kourier_ingress` and
    `activator_ingress` (None without Knative pools or when the cluster runs its own Knative),
    `gateway_ingress` (the edge proxies), `warmup_egress` (None without warm-up Jobs) and
    `local_cache_egress` (KServe's download Jobs with a local cache, else None)."""

    namespaces: list[str]
    default_deny: dict[str, k8s.networking.v1.NetworkPolicy]
    dns_egress: dict[str, k8s.networking.v1.NetworkPolicy]
    pool_ingress: dict[str, k8s.networking.v1.NetworkPolicy]
    kourier_ingress: k8s.networking.v1.NetworkPolicy | None
    activator_ingress: k8s.networking.v1.NetworkPolicy | None
    gateway_ingress: k8s.networking.v1.NetworkPolicy
    warmup_egress: k8s.networking.v1.NetworkPolicy | None
    local_cache_egress: k8s.networking.v1.NetworkPolicy | None

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:guardrails:NetworkPolicies", name, None, opts)
        plan = args.plan
        self.namespaces = list(plan.namespaces)
        self.default_deny = {ns: self._policy(ns, "default-deny", default_deny()) for ns in self.namespaces}
        self.dns_egress = {ns: self._policy(ns, "dns-egress", dns_egress()) for ns in self.namespaces}
        serving = plan.serving_namespace
        self.pool_ingress = {
            pool.name: self._policy(serving, f"{pool.name}-ingress", pool_ingress(plan, pool)) for pool in plan.pools
        }
        self.kourier_ingress = self.activator_ingress = None
        if plan.kourier_ingress:
            self.kourier_ingress = self._policy(
                KNATIVE_SERVING_NAMESPACE, "kourier-gateway-ingress", kourier_ingress(plan)
            )
            self.activator_ingress = self._policy(
                KNATIVE_SERVING_NAMESPACE, "activator-ingress", activator_ingress(plan)
            )
        self.gateway_ingress = self._policy(plan.gateway_namespace, "edge-proxy-ingress", gateway_ingress(plan))
        self.warmup_egress = None
        if plan.warmup_egress is not None:
            self.warmup_egress = self._policy(serving, "model-warmup-egress", warmup_egress(plan.warmup_egress))
        self.local_cache_egress = None
        if plan.local_cache_egress is not None:
            self.local_cache_egress = self._policy(
                LOCAL_MODEL_JOB_NAMESPACE, "model-download-egress", download_egress(plan.local_cache_egress, {})
            )
        self.register_outputs({"namespaces": self.namespaces})

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


def default_deny() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress() -> dict[str, Any]:
    dns = {
        "namespaceSelector": namespace_selector(CLUSTER_DNS_NAMESPACE),
        "podSelector": {"matchLabels": CLUSTER_DNS_LABELS},
    }
    ports = [{"protocol": protocol, "port": CLUSTER_DNS_PORT} for protocol in ("UDP", "TCP")]
    return {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [dns], "ports": ports}]}


def pool_pods(pool: PoolSpec) -> dict[str, Any]:
    return {"matchLabels": {conventions.POOL_LABEL: pool.name, COMPONENT_LABEL: conventions.SERVING_POOL_COMPONENT}}


def pool_ingress(plan: NetworkPoliciesPlan, pool: PoolSpec) -> dict[str, Any]:
    if pool.mode == "knative":
        fronts = [
            _rule([knative_pod(KOURIER_GATEWAY_LABELS), knative_pod(KNATIVE_ACTIVATOR_LABELS)], QUEUE_PROXY_PORT),
            _rule([{"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE)}], QUEUE_PROXY_METRICS_PORT),
        ]
    else:
        fronts = [_rule([proxies_of(plan.gateway_name, plan.gateway_namespace)], vllm_args.HTTP_PORT)]
    scrape = _rule([prometheus_pods(plan)], vllm_args.HTTP_PORT)
    return {"podSelector": pool_pods(pool), "policyTypes": ["Ingress"], "ingress": [*fronts, scrape]}


def kourier_ingress(plan: NetworkPoliciesPlan) -> dict[str, Any]:
    edge = proxies_of(plan.gateway_name, plan.gateway_namespace)
    return {
        "podSelector": {"matchLabels": KOURIER_GATEWAY_LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [
            _rule([edge], KOURIER_INTERNAL_POD_PORT),
            {"from": [{"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE)}]},
            _rule([prometheus_pods(plan)], KOURIER_METRICS_PORT),
        ],
    }


def activator_ingress(plan: NetworkPoliciesPlan) -> dict[str, Any]:
    """Knative's activator: Knative's own pods (Kourier forwards to it while a revision is
    scaled to zero or in proxy mode), and Prometheus on its metrics port."""
    return {
        "podSelector": {"matchLabels": KNATIVE_ACTIVATOR_LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": namespace_selector(KNATIVE_SERVING_NAMESPACE)}]},
            _rule([prometheus_pods(plan)], KNATIVE_ACTIVATOR_METRICS_PORT),
        ],
    }


def gateway_ingress(plan: NetworkPoliciesPlan) -> dict[str, Any]:
    """The edge proxies: clients from anywhere on the listener's port, Prometheus on the stats port."""
    labels = conventions.envoy_proxy_labels(plan.gateway_name, plan.gateway_namespace)
    listener = {"protocol": "TCP", "port": envoy_proxy_port(plan.gateway_listener_port)}
    return {
        "podSelector": {"matchLabels": labels},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [listener]}, _rule([prometheus_pods(plan)], ENVOY_PROXY_METRICS_PORT)],
    }


def prometheus_pods(plan: NetworkPoliciesPlan) -> dict[str, Any]:
    """The Prometheus pods of the monitoring namespace, by the labels prometheus-operator gives them."""
    return {
        "namespaceSelector": namespace_selector(plan.prometheus_namespace),
        "podSelector": {"matchLabels": PROMETHEUS_POD_LABELS},
    }


def warmup_egress(warmup: WarmupEgressPlan) -> dict[str, Any]:
    """The warm-up pods may reach the model mirror's port (its addresses are not known in
    advance) and, for s3, the node-local EKS Pod Identity agent."""
    selector = {NAME_LABEL: conventions.MODEL_WARMUP_APP_NAME, COMPONENT_LABEL: conventions.MODEL_CACHE_COMPONENT}
    return download_egress(warmup, {"matchLabels": selector})


def download_egress(warmup: WarmupEgressPlan, pods: dict[str, Any]) -> dict[str, Any]:
    """Egress of the pods that fill the model cache (`pods`: our warm-up Jobs, or every pod of
    KServe's download-Job namespace, whose labels are KServe's)."""
    rules = [_egress("0.0.0.0/0", warmup.mirror_port)]
    if warmup.pod_identity_agent:
        rules.append(_egress(*EKS_POD_IDENTITY_AGENT))
    return {"podSelector": pods, "policyTypes": ["Egress"], "egress": rules}


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


def _egress(cidr: str, port: int) -> dict[str, Any]:
    return {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
