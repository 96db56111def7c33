"""Edge rules: what the Gateway lets clients reach, judged on the Gateway API and Envoy Gateway
objects themselves (Gateway API v1.6.1, Envoy Gateway v1.9.0).

- Every listener of a Gateway is reachable by the clients of its load balancer, so each is
  HTTPS terminating our certificate (a Secret that a cert-manager Certificate of the stack
  issues, or the one the Gateway component names), and admits routes from our namespaces only.
- Every route that reaches a pool is rate limited: by a BackendTrafficPolicy with a
  `rateLimit` on the route, or on its Gateway when no route-level policy replaces that one
  (Envoy Gateway applies the most specific BackendTrafficPolicy, unless it sets `mergeType`).
- A route's hostnames reach exactly the pool that owns them (the Gateway component's
  `hostnames` output: pool -> hostname).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from components import upstream
from components.conventions import GATEWAY_COMPONENT_TYPE, POOL_LABEL, selects
from policy.kube import (
    GATEWAY,
    INFERENCE_SERVICE,
    LISTENER_SETS,
    ROUTES,
    at,
    kind_of,
    labels_of,
    mapping,
    name_of,
    namespace_of,
    sequence,
)
from policy.netpol_effect import pinned_namespace
from policy.rule import PolicyResource, StackValidationArgs, stack_rule
from policy.rules.stack import route_targets

_CERTIFICATE = ("cert-manager.io", "Certificate")
_NAMESPACE = ("", "Namespace")
_BACKEND_TRAFFIC_POLICY = (upstream.ENVOY_GATEWAY_API_GROUP, "BackendTrafficPolicy")
# Our Gateway component, and what it registers: the pool -> hostname map and its TLS Secret.
GATEWAY_COMPONENT = GATEWAY_COMPONENT_TYPE
HOSTNAMES_OUTPUT = "hostnames"
TLS_SECRET_OUTPUT = "tlsSecret"


def _describe(resource: PolicyResource) -> str:
    return f"{resource.resource_type.rpartition(':')[2]} {namespace_of(resource.props)}/{name_of(resource.props, resource.name)}"


def _of_kind(args: StackValidationArgs, *kinds: tuple[str, str]) -> list[PolicyResource]:
    return [r for r in args.resources if kind_of(r.resource_type) in kinds]


def _components(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if r.resource_type == GATEWAY_COMPONENT]


# --- edge-listeners-https -------------------------------------------------------------


def our_certificates(args: StackValidationArgs) -> set[str]:
    """'<namespace>/<name>' of the TLS Secrets the stack stands behind."""
    found = {f"{namespace_of(c.props)}/{at(c.props, 'spec', 'secretName')}" for c in _of_kind(args, _CERTIFICATE)}
    found |= {str(c.props.get(TLS_SECRET_OUTPUT)) for c in _components(args) if c.props.get(TLS_SECRET_OUTPUT)}
    return found


def _listener_problems(listener: Mapping, namespace: str, certificates: set[str], ours: set[str]) -> Iterator[str]:
    name = f"listener {listener.get('name')}"
    if listener.get("protocol") != "HTTPS":
        yield f"{name} is {listener.get('protocol')}, not HTTPS: clients of the load balancer reach it in plain text"
        return
    tls = mapping(listener.get("tls"))
    if str(tls.get("mode") or "Terminate") != "Terminate":
        yield f"{name} passes TLS through instead of terminating it with our certificate"
    refs = [mapping(r) for r in sequence(tls.get("certificateRefs"))]
    if not refs:
        yield f"{name} names no certificate"
    for ref in refs:
        secret = f"{ref.get('namespace') or namespace}/{ref.get('name')}"
        if str(ref.get("kind") or "Secret") != "Secret" or secret not in certificates:
            yield f"{name} serves certificate {secret}, which no Certificate of the stack issues"
    yield from _allowed_routes_problems(name, mapping(listener.get("allowedRoutes")), ours)


def _allowed_routes_problems(name: str, allowed: Mapping, ours: set[str]) -> Iterator[str]:
    namespaces = mapping(allowed.get("namespaces"))
    admitted = str(namespaces.get("from") or "Same")
    if admitted == "All":
        yield f"{name} admits routes from every namespace"
    elif admitted == "Selector":
        pinned = pinned_namespace(mapping(namespaces.get("selector")))
        if pinned not in ours:
            yield f"{name} admits routes from namespaces its selector picks, not one namespace of the stack"


def _edge_listeners_https(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    certificates = our_certificates(args)
    ours = {name_of(n.props, n.name) for n in _of_kind(args, _NAMESPACE)}
    for gateway in _of_kind(args, GATEWAY):
        admitted = str(at(gateway.props, "spec", "allowedListeners", "namespaces", "from") or "None")
        if admitted != "None":
            yield (
                f"{_describe(gateway)}: allowedListeners admits ListenerSets from {admitted} namespaces, "
                "which add listeners to its load balancer beside the ones declared here",
                gateway.urn,
            )
    # A ListenerSet's listeners are served by its parent Gateway's proxies (Gateway API
    # ListenerSet, GEP-1713): each is judged as a Gateway listener, whether or not its
    # Gateway admits it today.
    for holder in _of_kind(args, GATEWAY, *LISTENER_SETS):
        namespace = namespace_of(holder.props)
        for listener in map(mapping, sequence(at(holder.props, "spec", "listeners"))):
            for problem in _listener_problems(listener, namespace, certificates, ours | {namespace}):
                yield f"{_describe(holder)}: {problem}", holder.urn


EDGE_LISTENERS_HTTPS = stack_rule(
    "edge-listeners-https",
    "Every listener of every Gateway (its load balancer's clients reach them all) is HTTPS, "
    "terminates TLS with our certificate (a Secret a cert-manager Certificate of the stack issues, "
    "or the Gateway component's TLS Secret) and admits routes from its own namespace or one "
    "namespace of the stack, never from all.",
    _edge_listeners_https,
    "Keep the Gateway component's one HTTPS listener (allowedRoutes from: Same, tls mode Terminate "
    "with gateway.tls.secretName); put other protocols on another, internal Gateway.",
)


# --- pool-routes-rate-limited ---------------------------------------------------------


def _pool_names(args: StackValidationArgs) -> dict[tuple[str, str], str]:
    """(namespace, InferenceService) -> the pool it serves (its pool label, else its name)."""
    return {
        (namespace_of(r.props), name_of(r.props, r.name)): str(
            labels_of(r.props).get(POOL_LABEL) or name_of(r.props, r.name)
        )
        for r in _of_kind(args, INFERENCE_SERVICE)
    }


def _pool_routes(args: StackValidationArgs) -> Iterator[tuple[PolicyResource, set[str]]]:
    pools = _pool_names(args)
    for route in _of_kind(args, *ROUTES):
        reached = {pools[target] for target in route_targets(route) if target in pools}
        if reached:
            yield route, reached


def _targets(policy: PolicyResource, kind: str, name: str, labels: Mapping) -> bool:
    spec = mapping(policy.props.get("spec"))
    refs = [*sequence(spec.get("targetRefs")), *([spec["targetRef"]] if spec.get("targetRef") else [])]
    if any(mapping(r).get("kind") == kind and mapping(r).get("name") == name for r in refs):
        return True
    return any(
        mapping(s).get("kind") == kind and selects(_plain_selector(mapping(s)), labels)
        for s in sequence(spec.get("targetSelectors"))
    )


def _plain_selector(selector: Mapping) -> dict:
    return {"matchLabels": dict(mapping(selector.get("matchLabels"))),
            "matchExpressions": [dict(mapping(e)) for e in sequence(selector.get("matchExpressions"))]}  # fmt: skip


def _limits(policy: PolicyResource) -> bool:
    limit = mapping(at(policy.props, "spec", "rateLimit"))
    return any(sequence(mapping(limit.get(kind)).get("rules")) for kind in ("local", "global"))


def _rate_limit_problem(args: StackValidationArgs, route: PolicyResource) -> str | None:
    namespace, kind = namespace_of(route.props), route.resource_type.rpartition(":")[2]
    every = _of_kind(args, _BACKEND_TRAFFIC_POLICY)
    policies = [p for p in every if namespace_of(p.props) == namespace]
    own = [p for p in policies if _targets(p, kind, name_of(route.props, route.name), labels_of(route.props))]
    if own and all(_limits(p) for p in own):
        return None
    replacing = [p for p in own if not _limits(p) and not at(p.props, "spec", "mergeType")]
    if replacing:
        names = ", ".join(name_of(p.props, p.name) for p in replacing)
        return f"its BackendTrafficPolicy {names} has no rateLimit and replaces any the Gateway has"
    parents = [mapping(parent) for parent in sequence(at(route.props, "spec", "parentRefs"))]
    for parent in parents:
        gateway, gateway_namespace = str(parent.get("name")), str(parent.get("namespace") or namespace)
        at_gateway = [
            p for p in every if namespace_of(p.props) == gateway_namespace and _targets(p, "Gateway", gateway, {})
        ]
        if not any(_limits(p) for p in at_gateway):
            return "reaches a pool without a rate limit: no BackendTrafficPolicy with rateLimit on it or its Gateway"
    return None if parents else "reaches a pool without a rate limit: no BackendTrafficPolicy with rateLimit on it"


def _pool_routes_rate_limited(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for route, _ in _pool_routes(args):
        problem = _rate_limit_problem(args, route)
        if problem:
            yield f"{_describe(route)} {problem}", route.urn


POOL_ROUTES_RATE_LIMITED = stack_rule(
    "pool-routes-rate-limited",
    "Every route that reaches a pool (directly or through Kourier) is rate limited by an Envoy "
    "Gateway BackendTrafficPolicy with rateLimit rules, on the route or on its Gateway, and no "
    "route-level policy without rateLimit replaces the Gateway's.",
    _pool_routes_rate_limited,
    "Keep each pool's BackendTrafficPolicy (the Gateway component declares one per route with the "
    "pool's requestsPerMinute); a route-level policy that adds other settings needs a rateLimit too.",
)


# --- route-hostnames-owned ------------------------------------------------------------


def _owners(args: StackValidationArgs) -> dict[str, str]:
    """hostname -> the pool that owns it, from the Gateway component's outputs."""
    owners: dict[str, str] = {}
    for component in _components(args):
        for pool, hostname in mapping(component.props.get(HOSTNAMES_OUTPUT)).items():
            owners[str(hostname).lower()] = str(pool)
    return owners


def _hostname_problems(route: PolicyResource, reached: set[str], owners: dict[str, str]) -> Iterator[str]:
    hostnames = [str(h).lower() for h in sequence(at(route.props, "spec", "hostnames"))]
    if not hostnames:
        yield f"names no hostname, so every hostname of its listener reaches pool {', '.join(sorted(reached))}"
    for hostname in hostnames:
        owner = owners.get(hostname)
        if owner is None:
            yield f"routes {hostname}, which no pool owns, to pool {', '.join(sorted(reached))}"
        elif reached != {owner}:
            yield f"routes {hostname} (pool {owner}'s) to pool {', '.join(sorted(reached))}"


def _route_hostnames_owned(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    owners = _owners(args)
    if not owners:
        return  # no Gateway component: nothing says which pool owns which hostname
    for route, reached in _pool_routes(args):
        for problem in _hostname_problems(route, reached, owners):
            yield f"{_describe(route)} {problem}", route.urn


ROUTE_HOSTNAMES_OWNED = stack_rule(
    "route-hostnames-owned",
    "A route that reaches a pool names hostnames, and each reaches exactly the pool that owns it "
    "(the Gateway component's `hostnames` output): a chat hostname never reaches the batch pool.",
    _route_hostnames_owned,
    "Route each pool's hostname (its `hostname` in the stack config) only to that pool's "
    "InferenceService (or its cluster-local Knative host through Kourier).",
)
