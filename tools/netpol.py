"""NetworkPolicy cross-references: rules that select real pods and ports, and the paths
the platform needs (gateway to pool, activator and Kourier to Knative pool, Prometheus to
metrics, pool to DNS) allowed by some rule.

Policies are evaluated as Kubernetes does: a pod is isolated for ingress (egress) once a
policy of its namespace selects it with that policy type, and then only what some
rule of those policies allows gets through. The pods the paths start or end at outside
the render are those of the platform's neighbours, by their upstream labels:
- Envoy Gateway proxies (in the inventory, `tools/inventory.py`);
- Knative's activator: `app: activator` in `knative-serving`;
- Kourier's gateway, Knative's ingress (in the inventory);
- Prometheus (prometheus-operator): `app.kubernetes.io/name: prometheus`, in the
  namespace of the monitors that scrape (kube-prometheus-stack selects its own);
- cluster DNS: `k8s-app: kube-dns` in `kube-system`, port 53 over UDP and TCP;
- KServe's download Jobs of LocalModelCaches, in its local-model job namespace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components import upstream
from components.conventions import selects
from components.generated import is_knative
from tools.inventory import (
    ROUTE_KINDS,
    Inventory,
    PodGroup,
    Port,
    gateway_proxies,
)  # fmt: skip
from tools.k8s_objects import dig, labels_text, map_selects, namespace_of
from tools.schemas import describe_resource

DNS_PORT, DNS_TCP_PORT = (Port(*port) for port in upstream.CLUSTER_DNS_PORTS)
QUEUE_PORT = Port(upstream.QUEUE_PROXY_PORT_NAME, upstream.QUEUE_PROXY_PORT)

Problem = tuple[str, str]


def problems(inventory: Inventory) -> Iterator[Problem]:
    policies = list(inventory.objects("NetworkPolicy"))
    if not policies:
        return
    pods = [*inventory.pods, *platform_peers(inventory)]
    for policy in policies:
        yield from ((describe_resource(policy), m) for m in _rule_problems(inventory, policy, pods))
    for path, source, target, port in required_paths(inventory):
        if not any(allowed(inventory, policies, s, target, port) for s in source):
            subject = source[0] if target.external and source else target  # name the pool, not the neighbour
            yield (
                subject.source,
                f"no NetworkPolicy rule allows {path} (port {port.name or port.number}/{port.protocol})",
            )


# --- the neighbours' pods ----------------------------------------------------------------


def platform_peers(inventory: Inventory) -> list[PodGroup]:
    # key=str: a monitor without namespace (None) sorts beside the named ones.
    monitor_namespaces = sorted({namespace_of(m) for m in inventory.objects("PodMonitor", "ServiceMonitor")}, key=str)
    # KServe runs a LocalModelCache's download Jobs in its job namespace, labelled its own way.
    downloads = [LOCAL_MODEL_DOWNLOADS] if any(True for _ in inventory.objects("LocalModelCache")) else []
    return [
        CLUSTER_DNS,
        ACTIVATOR,
        *(prometheus(namespace) for namespace in monitor_namespaces),
        *downloads,
    ]


def prometheus(namespace: str | None) -> PodGroup:
    return _external("Prometheus", namespace, upstream.PROMETHEUS_POD_LABELS, ())


def _external(source: str, namespace: str | None, labels: Mapping[str, str], ports: tuple[Port, ...]) -> PodGroup:
    return PodGroup(source, namespace, dict(labels), ports, {}, external=True)


CLUSTER_DNS = _external(
    "cluster DNS", upstream.CLUSTER_DNS_NAMESPACE, upstream.CLUSTER_DNS_LABELS, (DNS_PORT, DNS_TCP_PORT)
)
LOCAL_MODEL_DOWNLOADS = _external("KServe's model download Jobs", upstream.LOCAL_MODEL_JOB_NAMESPACE, {}, ())
ACTIVATOR = _external(
    "Knative activator",
    upstream.KNATIVE_SERVING_NAMESPACE,
    upstream.KNATIVE_ACTIVATOR_LABELS,
    tuple(Port(name, number) for name, number in upstream.KNATIVE_ACTIVATOR_PORTS),
)


# --- each rule selects something real ---------------------------------------------------------


def _rule_problems(inventory: Inventory, policy: dict[str, Any], pods: list[PodGroup]) -> Iterator[str]:
    spec = policy.get("spec") or {}
    namespace = namespace_of(policy)
    selected = [p for p in pods if p.namespace == namespace and selects(spec.get("podSelector"), p.labels)]
    if not selected:
        yield f"podSelector {_selector_text(spec.get('podSelector'))} selects no pod in {namespace}"
        return
    for direction, peers_field in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or []):
            where = f"{direction}[{index}]"
            matched: list[PodGroup] = []
            for peer in rule.get(peers_field) or []:
                peer_pods = [p for p in pods if peer_matches(inventory, peer, namespace, p)]
                if "podSelector" in peer and not peer_pods:
                    yield f"{where} peer {_peer_text(peer)} selects no pod we declare, KServe generates or the platform runs"
                matched.extend(peer_pods)
            exposing = selected if direction == "ingress" else matched
            if direction == "egress" and not any("podSelector" in peer for peer in rule.get(peers_field) or []):
                continue  # a port of pods we cannot see
            for port in rule.get("ports") or []:
                if "port" in port and not any(_exposes(p, port) for p in exposing):
                    yield f"{where} port {port['port']}/{port.get('protocol', 'TCP')} is not a port of the pods it applies to"


def _exposes(pods: PodGroup, rule_port: Mapping[str, Any]) -> bool:
    return any(_port_allowed(rule_port, port) for port in pods.ports)


# --- the paths the platform needs ------------------------------------------------------------


def required_paths(inventory: Inventory) -> Iterator[tuple[str, list[PodGroup], PodGroup, Port]]:
    """(what, possible sources, target pods, target port) for every path the platform needs."""
    for route in inventory.objects(*ROUTE_KINDS):
        proxies = [p for ref in dig(route, "spec", "parentRefs") or [] for p in _proxies_of(inventory, route, ref)]
        for rule in dig(route, "spec", "rules") or []:
            for ref in rule.get("backendRefs") or []:
                service = inventory.service(ref.get("namespace", namespace_of(route)), ref.get("name", ""))
                if service is None or not proxies:
                    continue
                for target, port in _backends(inventory, service, ref.get("port")):
                    yield f"gateway to pool ({proxies[0].source} -> {target.source})", proxies, target, port
    for isvc in inventory.objects("InferenceService"):
        target = next(p for p in inventory.pods if p.source == f"{describe_resource(isvc)} predictor")
        if is_knative(isvc):
            yield "activator to Knative pool", [ACTIVATOR], target, QUEUE_PORT
            for kourier in kourier_gateways(inventory):
                yield "Kourier to Knative pool", [kourier], target, QUEUE_PORT
        yield "pool to DNS", [target], CLUSTER_DNS, DNS_PORT
    for monitor in inventory.objects("PodMonitor"):
        scrapers = [prometheus(namespace_of(monitor))]
        for target in (p for p in inventory.pods if _scraped_by(monitor, p)):
            for endpoint in dig(monitor, "spec", "podMetricsEndpoints") or []:
                metrics = next((q for q in target.ports if q.name == endpoint.get("port")), None)
                if metrics is not None:
                    yield f"Prometheus to metrics ({describe_resource(monitor)})", scrapers, target, metrics


def kourier_gateways(inventory: Inventory) -> list[PodGroup]:
    return [p for p in inventory.pods if p.external and dict(p.labels) == upstream.KOURIER_GATEWAY_LABELS]


def _proxies_of(inventory: Inventory, route: dict[str, Any], ref: Mapping[str, Any]) -> list[PodGroup]:
    gateway = inventory.find("Gateway", ref.get("namespace", namespace_of(route)), ref.get("name", ""))
    return gateway_proxies(gateway) if gateway else []


def _backends(inventory: Inventory, service, port_number: Any) -> Iterator[tuple[PodGroup, Port]]:
    service_port = next((p for p in service.ports if p.port == port_number), None)
    if service_port is None:
        return
    targets = [service.generated_for] if service.generated_for else [
        p for p in inventory.pods_in(service.namespace) if service.selector and map_selects(service.selector, p.labels)
    ]  # fmt: skip
    for target in targets:
        port = next((q for q in target.ports if service_port.target in (q.number, q.name)), None)
        if target.ports and port is not None:
            yield target, (QUEUE_PORT if port.name == upstream.KNATIVE_USER_PORT else port)


def _scraped_by(monitor: dict[str, Any], pods: PodGroup) -> bool:
    chosen = dig(monitor, "spec", "namespaceSelector") or {}
    in_scope = chosen.get("any") or pods.namespace in (chosen.get("matchNames") or [namespace_of(monitor)])
    return bool(in_scope) and selects(dig(monitor, "spec", "selector"), pods.labels)


# --- evaluation -----------------------------------------------------------------------------


def allowed(
    inventory: Inventory, policies: list[dict[str, Any]], source: PodGroup, target: PodGroup, port: Port
) -> bool:
    return _direction_allows(inventory, policies, "ingress", target, source, port) and _direction_allows(
        inventory, policies, "egress", source, target, port
    )


def _direction_allows(
    inventory: Inventory, policies: list[dict[str, Any]], direction: str, subject: PodGroup, peer: PodGroup, port: Port
) -> bool:
    policy_type = direction.capitalize()
    applying = [
        p for p in policies
        if namespace_of(p) == subject.namespace and selects(dig(p, "spec", "podSelector"), subject.labels)
        and policy_type in _policy_types(p)
    ]  # fmt: skip
    if not applying:
        return True
    peers_field = "from" if direction == "ingress" else "to"
    return any(
        _rule_allows(inventory, rule, peers_field, namespace_of(policy), peer, port)
        for policy in applying
        for rule in dig(policy, "spec", direction) or []
    )


def _policy_types(policy: dict[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    return spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])


def _rule_allows(
    inventory: Inventory, rule: Mapping[str, Any], peers_field: str, namespace: str | None, peer: PodGroup, port: Port
) -> bool:
    peers = rule.get(peers_field)
    peer_ok = not peers or any(peer_matches(inventory, p, namespace, peer) for p in peers)
    ports = rule.get("ports")
    return peer_ok and (not ports or any(_port_allowed(p, port) for p in ports))


def peer_matches(inventory: Inventory, peer: Mapping[str, Any], policy_namespace: str | None, pods: PodGroup) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], inventory.namespace_labels(pods.namespace))
    else:
        in_namespace = pods.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector"), pods.labels)


def _port_allowed(rule_port: Mapping[str, Any], port: Port) -> bool:
    if rule_port.get("protocol", "TCP") != port.protocol:
        return False
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str) and not wanted.isdigit():
        return wanted == port.name
    return int(wanted) <= port.number <= int(rule_port.get("endPort", wanted))


def _selector_text(selector: Mapping[str, Any] | None) -> str:
    return labels_text((selector or {}).get("matchLabels") or {})


def _peer_text(peer: Mapping[str, Any]) -> str:
    parts = [
        f"{field} {_selector_text(peer[field])}" for field in ("namespaceSelector", "podSelector") if field in peer
    ]
    return " ".join(parts)
