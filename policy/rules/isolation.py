"""Isolation rules: what the NetworkPolicies of a stack let reach the model pods and the
platform's fronts, judged by effect (the union of every policy selecting a pod,
`policy/netpol_effect.py`) on the pods found by what they run (`policy/workloads.py`).

Inside the cluster the edge's auth and rate limits hold only if nothing else reaches a
serving port: vLLM answers `/invocations`, `/tokenize` and `/detokenize` without its API key.
So a serving port admits only
- the proxies of a Gateway of the stack (Envoy Gateway labels them
  `gateway.envoyproxy.io/owning-gateway-{name,namespace}`), in the namespace they run in;
- for Knative pods, Knative's activator and Kourier's gateway, in `knative-serving`;
- the Prometheus pods (prometheus-operator's labels) of a namespace that holds a monitor.
No model pod takes ingress from an `ipBlock`; its egress goes to cluster DNS only, and a
downloader's (a warm-up Job's) also to its mirror's ports through an `ipBlock`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from components import upstream
from policy.kube import GATEWAY, KNATIVE_SERVING, at, kind_of, mapping, name_of, namespace_of, sequence
from policy.netpol_effect import Peer, Rule, applying, peer_is, rules
from policy.rule import StackValidationArgs, stack_rule
from policy.workloads import ModelPod, model_pods

_NETWORK_POLICY = ("networking.k8s.io", "NetworkPolicy")
_MONITORS = {("monitoring.coreos.com", "PodMonitor"), ("monitoring.coreos.com", "ServiceMonitor")}
_DNS_PORTS: frozenset[int | str] = frozenset({upstream.CLUSTER_DNS_PORT, "dns", "dns-tcp"})
_POD_IDENTITY_CIDR, _POD_IDENTITY_PORT = upstream.EKS_POD_IDENTITY_AGENT
_OPEN_CIDRS = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Front:
    """Pods that may reach a serving port: their labels in one of some namespaces."""

    what: str
    namespaces: frozenset[str]
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Stack:
    policies: list[Mapping]
    pods: list[ModelPod]
    proxies: list[Front]  # per Gateway
    listener_ports: dict[str, frozenset[int | str]]  # Front.what of each Gateway's proxies -> their listener ports
    prometheus: Front | None
    knative_namespaces: frozenset[str]  # where a KnativeServing runs Knative's pods (activator, Kourier)
    urns: dict[str, str]  # "namespace/name" of each NetworkPolicy -> its URN


def read_stack(args: StackValidationArgs) -> Stack:
    policies, urns, proxies, monitors, knative = [], {}, [], set(), set()
    listeners: dict[str, frozenset[int | str]] = {}
    for resource in args.resources:
        kind, props = kind_of(resource.resource_type), resource.props
        if kind == _NETWORK_POLICY:
            policies.append(props)
            urns[f"{namespace_of(props)}/{name_of(props, resource.name)}"] = resource.urn
        elif kind == GATEWAY:
            name, namespace = name_of(props, resource.name), namespace_of(props)
            where = frozenset({namespace, upstream.ENVOY_GATEWAY_NAMESPACE})
            front = Front(f"proxies of Gateway {namespace}/{name}", where, upstream.envoy_proxy_labels(name, namespace))
            proxies.append(front)
            listeners[front.what] = frozenset(
                upstream.envoy_proxy_port(int(float(mapping(item).get("port") or 0)))
                for item in sequence(at(props, "spec", "listeners"))
            )
        elif kind in _MONITORS:
            monitors.add(namespace_of(props))
        elif kind == KNATIVE_SERVING and at(props, "spec", "ingress", "kourier", "enabled"):
            knative.add(namespace_of(props))
    prometheus = Front("Prometheus", frozenset(monitors), upstream.PROMETHEUS_POD_LABELS) if monitors else None
    return Stack(policies, model_pods(args.resources), proxies, listeners, prometheus,
                 frozenset(knative or {upstream.KNATIVE_SERVING_NAMESPACE}), urns)  # fmt: skip


def _knative_fronts(stack: Stack) -> list[Front]:
    return [
        Front("Knative's activator", stack.knative_namespaces, upstream.KNATIVE_ACTIVATOR_LABELS),
        Front("Kourier's gateway", stack.knative_namespaces, upstream.KOURIER_GATEWAY_LABELS),
    ]


def _is_front(peer: Peer, fronts: list[Front]) -> bool:
    return any(peer_is(peer, set(front.namespaces), front.labels) for front in fronts)


def _open(peer: Peer, everyone: str = "every source") -> str | None:
    """Why a peer is open to more than pods of known namespaces, or None."""
    if peer.everyone:
        return everyone
    if peer.cidr is not None:
        return f"addresses {peer.cidr} (ipBlock)"
    if peer.namespace is None:
        return peer.text
    return None


# --- model-ingress-restricted ---------------------------------------------------------


def _ingress_problems(stack: Stack, pod: ModelPod) -> Iterator[str]:
    policies = applying(stack.policies, pod.namespace, pod.labels, "ingress")
    if not policies:
        yield "no NetworkPolicy isolates it for ingress, so every pod of the cluster reaches its serving port"
        return
    fronts = [*stack.proxies, *(_knative_fronts(stack) if pod.knative else []),
              *([stack.prometheus] if stack.prometheus else [])]  # fmt: skip
    platform = {*stack.knative_namespaces, *(stack.prometheus.namespaces if stack.prometheus else ())}
    for rule in rules(policies, "ingress"):
        serving = rule.reaches(pod.serving_ports) or not rule.ports_within(pod.other_ports)
        for peer in rule.peers:
            opened = _open(peer)
            if opened:
                yield f"NetworkPolicy {rule.policy} admits {opened} to {_ports_text(rule)}"
            elif serving and not _is_front(peer, fronts):
                yield (
                    f"NetworkPolicy {rule.policy} admits {peer.text} to its serving port ({_ports_text(rule)}); only "
                    "the gateway's proxies, Knative's activator and Kourier (Knative pools) and Prometheus may reach it"
                )
            elif not serving and peer.namespace not in platform | {pod.namespace}:
                yield f"NetworkPolicy {rule.policy} admits {peer.text} to {_ports_text(rule)}"


def _ports_text(rule: Rule) -> str:
    if not rule.ports:
        return "every port"
    return "port " + ", ".join(f"{int(p['port']) if isinstance(p.get('port'), float) else p.get('port', 'any')}"
                               f"/{p.get('protocol', 'TCP')}" for p in rule.ports)  # fmt: skip


def _model_ingress_restricted(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    stack = read_stack(args)
    for pod in stack.pods:
        for problem in dict.fromkeys(_ingress_problems(stack, pod)):
            yield f"{pod.where}: {problem}", pod.urn


MODEL_INGRESS_RESTRICTED = stack_rule(
    "model-ingress-restricted",
    "Every model pod (found by what it runs: InferenceService, LLMInferenceService, vLLM or a "
    "weights download in any workload) is isolated for ingress, and the union of the "
    "NetworkPolicies selecting it admits to its serving ports only the Gateway's proxies, "
    "Knative's activator and Kourier (Knative pods) and the Prometheus pods of a monitored "
    "namespace; no ipBlock, no rule open to every source or every namespace.",
    _model_ingress_restricted,
    "Keep the default deny and allow each front by namespaceSelector (kubernetes.io/metadata.name) "
    "plus podSelector (the proxies' owning-gateway labels, app: activator, app: 3scale-kourier-gateway, "
    "app.kubernetes.io/name: prometheus); remove allow-all, ipBlock and namespace-wide rules.",
)


# --- model-egress-restricted ----------------------------------------------------------


def _egress_problems(stack: Stack, pod: ModelPod) -> Iterator[str]:
    policies = applying(stack.policies, pod.namespace, pod.labels, "egress")
    if not policies:
        yield "no NetworkPolicy isolates it for egress, so it reaches every address"
        return
    for rule in rules(policies, "egress"):
        for peer in rule.peers:
            if peer_is(peer, {upstream.CLUSTER_DNS_NAMESPACE}, upstream.CLUSTER_DNS_LABELS) and rule.ports_within(
                _DNS_PORTS
            ):
                continue
            if peer.cidr is not None and pod.downloader and _to_mirror(peer, rule, pod):
                continue
            yield (
                f"NetworkPolicy {rule.policy} lets it reach {_open(peer, 'every destination') or peer.text} on {_ports_text(rule)}; "
                "model pods reach only cluster DNS, and downloaders their mirror's ports"
            )


def _to_mirror(peer: Peer, rule: Rule, pod: ModelPod) -> bool:
    if peer.cidr == _POD_IDENTITY_CIDR:
        return rule.ports_within(frozenset({_POD_IDENTITY_PORT}))
    return rule.ports_within(frozenset(pod.mirror_ports))


def _model_egress_restricted(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    stack = read_stack(args)
    for pod in stack.pods:
        for problem in dict.fromkeys(_egress_problems(stack, pod)):
            yield f"{pod.where}: {problem}", pod.urn


MODEL_EGRESS_RESTRICTED = stack_rule(
    "model-egress-restricted",
    "Every model pod is isolated for egress, and the union of the NetworkPolicies selecting it "
    "lets it reach only cluster DNS (kube-dns pods in kube-system, port 53); a pod that "
    "downloads weights may also reach addresses on its mirror's port (from HF_ENDPOINT / "
    "AWS_ENDPOINT_URL, else 443) and the EKS Pod Identity agent.",
    _model_egress_restricted,
    "Keep the default deny and the DNS egress; give only the warm-up Jobs an ipBlock egress, "
    "on the mirror's port alone; never open pool egress to other pods or addresses.",
)


# --- platform-ingress-restricted ------------------------------------------------------


def _platform_targets(stack: Stack) -> Iterator[tuple[str, str, Mapping[str, str], list[Front]]]:
    """(what, namespace, pod labels, who may reach it) of each front between the edge and the Knative pools."""
    prometheus = [stack.prometheus] if stack.prometheus else []
    for namespace in sorted(stack.knative_namespaces):
        knative = Front("Knative's own pods", frozenset({namespace}), {})
        kourier = Front("Kourier's gateway", frozenset({namespace}), upstream.KOURIER_GATEWAY_LABELS)
        yield "Knative's activator", namespace, upstream.KNATIVE_ACTIVATOR_LABELS, [knative, kourier, *prometheus]
        yield "Kourier's gateway", namespace, upstream.KOURIER_GATEWAY_LABELS, [knative, *stack.proxies, *prometheus]


def _platform_problems(stack: Stack, namespace: str, labels: Mapping, fronts: list[Front]) -> Iterator[str]:
    policies = applying(stack.policies, namespace, labels, "ingress")
    if not policies:
        yield "no NetworkPolicy isolates it for ingress, so every pod of the cluster reaches it (and the pools behind it)"
        return
    for rule in rules(policies, "ingress"):
        for peer in rule.peers:
            opened = _open(peer)
            allowed = any(
                peer.namespace in front.namespaces
                and (not front.labels or peer_is(peer, set(front.namespaces), front.labels))
                for front in fronts
            )
            if opened or not allowed:
                yield f"NetworkPolicy {rule.policy} admits {opened or peer.text} to {_ports_text(rule)}"


def _proxy_problems(stack: Stack, proxies: Front) -> Iterator[tuple[str, str]]:
    """(namespace, problem) for a Gateway's proxies: clients may reach the listener ports from
    anywhere; every other port only Prometheus's pods and the proxies' own namespace."""
    isolated = [ns for ns in sorted(proxies.namespaces) if applying(stack.policies, ns, proxies.labels, "ingress")]
    if not isolated:
        yield (
            "/".join(sorted(proxies.namespaces)),
            "no NetworkPolicy isolates them for ingress: every pod reaches every port",
        )
    listeners = stack.listener_ports.get(proxies.what, frozenset())
    for namespace in isolated:
        inside = [
            Front("their namespace", frozenset({namespace}), {}),
            *([stack.prometheus] if stack.prometheus else []),
        ]
        for rule in rules(applying(stack.policies, namespace, proxies.labels, "ingress"), "ingress"):
            if rule.ports_within(listeners):
                continue
            for peer in rule.peers:
                if _open(peer) or not any(
                    peer.namespace in f.namespaces and (not f.labels or peer_is(peer, set(f.namespaces), f.labels))
                    for f in inside
                ):
                    yield (
                        namespace,
                        f"NetworkPolicy {rule.policy} admits {_open(peer) or peer.text} to {_ports_text(rule)}",
                    )


def _platform_ingress_restricted(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    stack = read_stack(args)
    for proxies in stack.proxies:
        for namespace, problem in dict.fromkeys(_proxy_problems(stack, proxies)):
            urn = next((stack.urns[p] for p in stack.urns if p.startswith(f"{namespace}/")), None)
            yield f"{proxies.what} in {namespace}: {problem}", urn
    if not any(pod.knative for pod in stack.pods):
        return
    for what, namespace, labels, fronts in _platform_targets(stack):
        for problem in dict.fromkeys(_platform_problems(stack, namespace, labels, fronts)):
            urn = next((stack.urns[p] for p in stack.urns if p.startswith(f"{namespace}/")), None)
            yield f"{what} in {namespace}: {problem}", urn


PLATFORM_INGRESS_RESTRICTED = stack_rule(
    "platform-ingress-restricted",
    "Every Gateway's proxies are isolated for ingress: anyone may reach their listener ports, only "
    "Prometheus's pods and their own namespace any other port. Where Knative pools run, Knative's activator and Kourier's gateway (which forward to every "
    "Knative pool without auth) are isolated for ingress: the activator admits Knative's own "
    "pods, Kourier and Prometheus; Kourier admits Knative's own pods, the Gateway's proxies and "
    "Prometheus.",
    _platform_ingress_restricted,
    "Let the NetworkPolicies component declare the proxies', the activator's and Kourier's policies "
    "(it does, the latter two when it installs Knative); on a cluster's own Knative, add equivalent policies there.",
)
