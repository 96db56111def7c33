"""What NetworkPolicies allow, as Kubernetes evaluates them (networking.k8s.io/v1): a pod is
isolated for a direction once any policy of its namespace selects it with that policy type,
and then exactly the union of those policies' rules gets through, so an allow-all policy
beside a default deny cancels the deny. Each rule of the union is read as what it admits:
every source (no peers), address blocks (`ipBlock`), every pod of some namespaces, or pods
with some labels in one namespace; on some ports or on all of them.

Pure: the props of NetworkPolicy resources in, plain data out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.conventions import selects
from components.upstream import NAMESPACE_NAME_LABEL
from policy.kube import at, mapping, namespace_of, sequence

EVERY_PORT: frozenset[int | str] = frozenset()


@dataclass(frozen=True)
class Peer:
    """One source (ingress) or destination (egress) a rule admits."""

    text: str  # as messages name it
    everyone: bool = False  # no peers: every pod and every address
    cidr: str | None = None  # an ipBlock
    namespace: str | None = None  # the one namespace its pods are confined to; None: several
    pod_labels: Mapping[str, Any] | None = None  # required pod labels; None: every pod


@dataclass(frozen=True)
class Rule:
    policy: str  # namespace/name of the NetworkPolicy, for messages
    peers: tuple[Peer, ...]
    ports: tuple[Mapping[str, Any], ...]  # () means every port

    def reaches(self, ports: frozenset[int | str]) -> bool:
        """Whether the rule admits traffic to any of `ports` (numbers and port names)."""
        if not self.ports:
            return True
        return any(_port_matches(rule_port, port) for rule_port in self.ports for port in ports)

    def ports_within(self, allowed: frozenset[int | str]) -> bool:
        """Whether every port the rule admits is one of `allowed` (an all-ports rule never is)."""
        return bool(self.ports) and all(
            p.get("endPort") in (None, p.get("port")) and p.get("port") in allowed for p in self.ports
        )


def policy_types(spec: Mapping) -> list[str]:
    # Without policyTypes, Kubernetes applies Ingress, and Egress only when egress rules exist.
    declared = [str(t) for t in sequence(spec.get("policyTypes"))]
    return declared or ["Ingress", *(["Egress"] if "egress" in spec else [])]


def applying(policies: Sequence[Mapping], namespace: str, labels: Mapping, direction: str) -> list[Mapping]:
    """The NetworkPolicies (props) that isolate pods with `labels` in `namespace` for `direction`."""
    wanted = direction.capitalize()
    return [
        policy
        for policy in policies
        if namespace_of(policy) == namespace
        and selects(_plain(at(policy, "spec", "podSelector")), labels)
        and wanted in policy_types(mapping(policy.get("spec")))
    ]


def rules(policies: Sequence[Mapping], direction: str) -> Iterator[Rule]:
    """The union of the rules of `policies` in `direction` ('ingress' or 'egress')."""
    peers_field = "from" if direction == "ingress" else "to"
    for policy in policies:
        where = f"{namespace_of(policy)}/{at(policy, 'metadata', 'name')}"
        for rule in map(mapping, sequence(at(policy, "spec", direction))):
            found = tuple(_peer(mapping(peer), namespace_of(policy)) for peer in sequence(rule.get(peers_field)))
            yield Rule(where, found or (Peer("every source and destination", everyone=True),),
                       tuple(map(mapping, sequence(rule.get("ports")))))  # fmt: skip


def _peer(peer: Mapping, policy_namespace: str) -> Peer:
    block = mapping(peer.get("ipBlock"))
    if block:
        return Peer(f"ipBlock {block.get('cidr')}", cidr=str(block.get("cidr")))
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    namespace = policy_namespace if namespaces is None else pinned_namespace(mapping(namespaces))
    labels = _required_labels(mapping(pods)) if pods is not None else None
    where = f"namespace {namespace}" if namespace else f"every namespace matching {_text(namespaces)}"
    what = f"pods {_text(pods)}" if labels else "every pod"
    return Peer(f"{what} of {where}", namespace=namespace, pod_labels=labels)


def pinned_namespace(selector: Mapping) -> str | None:
    """The one namespace a namespaceSelector can select (by the name label Kubernetes sets), or None."""
    name = mapping(selector.get("matchLabels")).get(NAMESPACE_NAME_LABEL)
    if name is not None:
        return str(name)
    for expression in map(mapping, sequence(selector.get("matchExpressions"))):
        values = list(sequence(expression.get("values")))
        if expression.get("key") == NAMESPACE_NAME_LABEL and expression.get("operator") == "In" and len(values) == 1:
            return str(values[0])
    return None


def _required_labels(selector: Mapping) -> Mapping[str, Any] | None:
    """The labels a podSelector requires (matchLabels, and In with one value); None when it
    requires none, i.e. selects every pod. Other expressions only narrow the match further."""
    required = dict(mapping(selector.get("matchLabels")))
    for expression in map(mapping, sequence(selector.get("matchExpressions"))):
        values = list(sequence(expression.get("values")))
        if expression.get("operator") == "In" and len(values) == 1:
            required[str(expression.get("key"))] = values[0]
    return required or None


def peer_is(peer: Peer, namespaces: set[str], labels: Mapping[str, Any]) -> bool:
    """Whether a peer admits only pods that carry `labels` in one of `namespaces`."""
    if peer.everyone or peer.cidr is not None or peer.namespace not in namespaces or peer.pod_labels is None:
        return False
    return all(peer.pod_labels.get(key) == value for key, value in labels.items())


def _port_matches(rule_port: Mapping, port: int | str) -> bool:
    wanted = rule_port.get("port")
    if wanted is None:
        return True
    if isinstance(port, str) or (isinstance(wanted, str) and not str(wanted).isdigit()):
        return str(wanted) == str(port)
    low = int(float(wanted))
    return low <= port <= int(float(rule_port.get("endPort") or low))


def _plain(selector: Any) -> dict[str, Any]:
    found = mapping(selector)
    return {
        "matchLabels": dict(mapping(found.get("matchLabels"))),
        "matchExpressions": [
            {**mapping(e), "values": list(sequence(mapping(e).get("values")))}
            for e in sequence(found.get("matchExpressions"))
        ],
    }


def _text(selector: Any) -> str:
    found = mapping(selector)
    parts = [f"{k}={v}" for k, v in mapping(found.get("matchLabels")).items()]
    parts += [
        f"{mapping(e).get('key')} {mapping(e).get('operator')} {list(sequence(mapping(e).get('values')))}"
        for e in sequence(found.get("matchExpressions"))
    ]
    return "{" + ", ".join(parts) + "}"
