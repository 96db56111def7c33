"""Stack rules: properties of the whole stack that no single resource shows."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from components import generated, upstream
from components.conventions import CLASS_LABEL, GATEWAY_API_GROUP, PREDICTOR_SUFFIX, selects
from components.pool_defaults import GPU_MEMORY_UTILIZATION as POOL_GPU_MEMORY_UTILIZATION
from components.vllm_args import GPU_MEMORY_UTILIZATION, MAX_MODEL_LEN, TENSOR_PARALLEL_SIZE
from policy import flags
from policy.kube import (
    GATEWAY,
    INFERENCE_SERVICE,
    LISTENER_SETS,
    ROUTES,
    Container,
    at,
    kind_of,
    labels_of,
    mapping,
    name_of,
    namespace_of,
    pods,
    runtime_finder,
    sequence,
    vllm_servers,
)
from policy.rule import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    StackValidationArgs,
    setting,
    stack_output,
    stack_rule,
    string_list_config,
)

CAPACITY_OUTPUT = "capacity"
CLUSTER_LOCAL_HOST = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+(\.svc(\.cluster\.local)?)?$")
WORKLOAD_CLASSES = ("chat", "batch")
_NETWORK_POLICY = ("networking.k8s.io", "NetworkPolicy")
_NAMESPACE = ("", "Namespace")


def _describe(resource: PolicyResource) -> str:
    props = resource.props
    return f"{resource.resource_type.rpartition(':')[2]} {namespace_of(props)}/{name_of(props, resource.name)}"


def _inference_services(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if kind_of(r.resource_type) == INFERENCE_SERVICE]


def _classes_of(resource: PolicyResource) -> set[str]:
    found = {labels_of(resource.props).get(CLASS_LABEL)}
    found |= {pod.workload_class for pod in pods(resource.resource_type, resource.props)}
    return {str(value) for value in found if value in WORKLOAD_CLASSES}


# --- chat-batch-separated -------------------------------------------------------------


def route_targets(route: PolicyResource) -> Iterator[tuple[str, str]]:
    """(namespace, InferenceService name) of every backend a route sends traffic to: the
    Service it names, or, where the rule rewrites the host to a cluster-local Service host
    (a Knative pool's route behind Kourier), that Service."""
    namespace = namespace_of(route.props)
    for rule in map(mapping, sequence(at(route.props, "spec", "rules"))):
        for backend in map(mapping, sequence(rule.get("backendRefs"))):
            host = _rewritten_host([*sequence(rule.get("filters")), *sequence(backend.get("filters"))])
            service, _, rest = host.partition(".")
            service_namespace = rest.split(".")[0] if host else str(backend.get("namespace") or namespace)
            name = service if host else str(backend.get("name", ""))
            yield service_namespace, name.removesuffix(PREDICTOR_SUFFIX)


def _rewritten_host(filters: list) -> str:
    """The cluster-local host (`<service>.<namespace>[.svc[.cluster.local]]`) a URLRewrite sets, or ''."""
    for found in map(mapping, filters):
        host = str(mapping(found.get("urlRewrite")).get("hostname") or "")
        if found.get("type") == "URLRewrite" and CLUSTER_LOCAL_HOST.match(host):
            return host
    return ""


def _classes_reaching(args: StackValidationArgs) -> dict[tuple[str, str], dict[str, str]]:
    """For each InferenceService, the classes that reach it and who declares each."""
    reaching: dict[tuple[str, str], dict[str, str]] = {}
    for isvc in _inference_services(args):
        key = (namespace_of(isvc.props), name_of(isvc.props, isvc.name))
        reaching[key] = {workload_class: "its labels" for workload_class in _classes_of(isvc)}
    for route in (r for r in args.resources if kind_of(r.resource_type) in ROUTES):
        for workload_class in _classes_of(route):
            for target in route_targets(route):
                if target in reaching:
                    reaching[target].setdefault(workload_class, _describe(route))
    return reaching


def _declared_classes(args: StackValidationArgs) -> dict[str, PolicyResource]:
    declared: dict[str, PolicyResource] = {}
    for resource in args.resources:
        for workload_class in sorted(_classes_of(resource)):
            declared.setdefault(workload_class, resource)
    return declared


def _chat_batch_separated(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    reaching = _classes_reaching(args)
    urns = {(namespace_of(r.props), name_of(r.props, r.name)): r.urn for r in _inference_services(args)}
    for (namespace, name), classes in sorted(reaching.items()):
        if len(classes) > 1:
            sources = ", ".join(f"{c} by {source}" for c, source in sorted(classes.items()))
            yield f"InferenceService {namespace}/{name} serves both chat and batch ({sources})", urns[(namespace, name)]
    for workload_class, declarer in sorted(_declared_classes(args).items()):
        # A class that only shares a pool is reported above, with the pool.
        if not any(workload_class in classes for classes in reaching.values()):
            yield (
                f"class {workload_class} is declared (by {_describe(declarer)}) but no InferenceService serves it",
                declarer.urn,
            )


CHAT_BATCH_SEPARATED = stack_rule(
    "chat-batch-separated",
    "Chat and batch workloads are never served by the same InferenceService, and when both "
    "classes are declared each has a pool of its own.",
    _chat_batch_separated,
    "Give each class its own pool (one InferenceService labelled llmserving.io/class=chat, "
    "another =batch) and route each class's hostname only to its own pool.",
)


# --- serving-namespace-default-deny ---------------------------------------------------

DEFAULT_DENY_CONFIG = string_list_config(
    "policyTypes",
    "Directions every serving namespace must deny by default.",
    default=("Ingress", "Egress"),
    allowed=("Ingress", "Egress"),
)


def _model_namespaces(args: StackValidationArgs) -> dict[str, PolicyResource]:
    found: dict[str, PolicyResource] = {}
    for resource in args.resources:
        is_model = kind_of(resource.resource_type) == INFERENCE_SERVICE or vllm_servers(
            resource.resource_type, resource.props
        )
        if is_model:
            found.setdefault(namespace_of(resource.props), resource)
    return found


def _denied_directions(policy: Mapping) -> set[str]:
    """The directions a NetworkPolicy denies for every pod of its namespace."""
    spec = mapping(policy.get("spec"))
    selector = mapping(spec.get("podSelector"))
    if mapping(selector.get("matchLabels")) or sequence(selector.get("matchExpressions")):
        return set()
    # Without policyTypes, Kubernetes applies Ingress, and Egress only when egress rules exist.
    types = sequence(spec.get("policyTypes")) or ["Ingress", *(["Egress"] if "egress" in spec else [])]
    return {str(t) for t in types if not sequence(spec.get(str(t).lower()))}


def _serving_namespace_default_deny(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    required = set(setting(args, DEFAULT_DENY_CONFIG, "policyTypes"))
    denied: dict[str, set[str]] = {}
    namespaces: dict[str, str] = {}
    for resource in args.resources:
        kind = kind_of(resource.resource_type)
        if kind == _NETWORK_POLICY:
            denied.setdefault(namespace_of(resource.props), set()).update(_denied_directions(resource.props))
        elif kind == _NAMESPACE:
            namespaces[name_of(resource.props, resource.name)] = resource.urn
    for namespace, example in sorted(_model_namespaces(args).items()):
        missing = sorted(required - denied.get(namespace, set()))
        if missing:
            yield (
                f"namespace {namespace} runs model pods ({_describe(example)}) without a default-deny "
                f"NetworkPolicy for {' and '.join(missing)}",
                namespaces.get(namespace, example.urn),
            )


SERVING_NAMESPACE_DEFAULT_DENY = stack_rule(
    "serving-namespace-default-deny",
    "Every namespace with model pods has a default-deny NetworkPolicy (empty podSelector, no "
    "rules) for ingress and egress, so only explicit allows reach or leave the pods.",
    _serving_namespace_default_deny,
    "Declare a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] and no rules in "
    "the namespace, then allow the gateway, the metrics scraper and DNS explicitly.",
    # Mandatory: the NetworkPolicies component declares the default deny in every serving namespace.
    level=EnforcementLevel.MANDATORY,
    config=DEFAULT_DENY_CONFIG,
)


# --- routes-authenticated -------------------------------------------------------------

AUTHENTICATEDROUTES_CONFIG = PolicyConfigSchema(
    properties={
        **string_list_config(
            "unauthenticatedRoutes",
            "Routes ('<namespace>/<name>') that may reach their backends without authentication, deliberately.",
        ).properties,
        **string_list_config(
            "authBackends",
            "Services ('<namespace>/<name>') that an extAuth may call: our authorization backends. An "
            "extAuth calling any other backend does not count as authentication (it may allow everything).",
        ).properties,
    }
)
_SECURITY_POLICY = (upstream.ENVOY_GATEWAY_API_GROUP, "SecurityPolicy")
# How a SecurityPolicy can authenticate the client (Envoy Gateway v1.9).
AUTHENTICATIONS = ("apiKeyAuth", "basicAuth", "jwt", "oidc", "extAuth")
Target = tuple[str, str, str, str | None]  # (namespace, kind, name, sectionName)


@dataclass(frozen=True)
class _Attached:
    """The SecurityPolicies on one target, as one: Envoy Gateway applies only the oldest of
    several, which a preview cannot know, so all of them must authenticate."""

    policies: str  # namespace/name of each, for messages
    authenticates: bool
    merges: bool  # mergeType set: adds to the parent's policy instead of replacing it


def _targets_of(policy: PolicyResource, args: StackValidationArgs) -> Iterator[Target]:
    """What a SecurityPolicy attaches to: its targetRefs (and the older targetRef), and what its
    targetSelectors select; always in its own namespace, as Envoy Gateway requires."""
    spec = mapping(at(policy.props, "spec"))
    namespace = namespace_of(policy.props)
    for ref in map(
        mapping, [*sequence(spec.get("targetRefs")), *([spec["targetRef"]] if spec.get("targetRef") else [])]
    ):
        section = ref.get("sectionName")
        yield namespace, str(ref.get("kind")), str(ref.get("name")), section and str(section)
    for selector in map(mapping, sequence(spec.get("targetSelectors"))):
        for resource in args.resources:
            kind = kind_of(resource.resource_type)
            if kind and kind[1] == selector.get("kind") and namespace_of(resource.props) == namespace:
                if selects(selector, labels_of(resource.props)):
                    yield namespace, kind[1], name_of(resource.props, resource.name), None


def _ext_auth_backends(ext_auth: Mapping, namespace: str) -> list[str]:
    """'<namespace>/<name>' of every backend an extAuth calls (http or grpc; backendRef or backendRefs)."""
    found = []
    for transport in map(mapping, (ext_auth.get("http"), ext_auth.get("grpc"))):
        refs = [
            *sequence(transport.get("backendRefs")),
            *([transport["backendRef"]] if transport.get("backendRef") else []),
        ]
        found += [f"{mapping(r).get('namespace') or namespace}/{mapping(r).get('name')}" for r in refs]
    return found


def authenticates(spec: Mapping, namespace: str, auth_backends: set[str]) -> bool:
    """Whether a SecurityPolicy authenticates every request: an authentication other than extAuth,
    or an extAuth that calls only our authorization backends and does not fail open."""
    if any(spec.get(field) for field in AUTHENTICATIONS if field != "extAuth"):
        return True
    ext_auth = mapping(spec.get("extAuth"))
    backends = _ext_auth_backends(ext_auth, namespace)
    return bool(backends) and not ext_auth.get("failOpen") and all(b in auth_backends for b in backends)


def _security_policies(args: StackValidationArgs) -> dict[Target, _Attached]:
    found: dict[Target, list[tuple[str, bool, bool]]] = {}
    auth_backends = set(setting(args, AUTHENTICATEDROUTES_CONFIG, "authBackends"))
    for resource in args.resources:
        if kind_of(resource.resource_type) != _SECURITY_POLICY:
            continue
        spec = mapping(at(resource.props, "spec"))
        entry = (
            f"{namespace_of(resource.props)}/{name_of(resource.props, resource.name)}",
            authenticates(spec, namespace_of(resource.props), auth_backends),
            bool(spec.get("mergeType")),
        )
        for target in dict.fromkeys(_targets_of(resource, args)):
            found.setdefault(target, []).append(entry)
    return {
        target: _Attached(", ".join(e[0] for e in entries), all(e[1] for e in entries), all(e[2] for e in entries))
        for target, entries in found.items()
    }


def _listeners(args: StackValidationArgs) -> dict[tuple[str, str], list[Mapping]]:
    return {
        (namespace_of(r.props), name_of(r.props, r.name)): [
            mapping(item) for item in sequence(at(r.props, "spec", "listeners"))
        ]
        for r in args.resources
        if kind_of(r.resource_type) == GATEWAY
    }


def _inherited(
    attached: dict[Target, _Attached], listeners: dict, route_namespace: str, parent: Mapping
) -> Iterator[tuple[str, _Attached | None]]:
    """(where, the policy in force there) for each listener the route attaches through: the
    listener's own policy, else the whole parent's. A parentRef without sectionName attaches
    to every listener (of its port, if it names one)."""
    kind = str(parent.get("kind") or "Gateway")
    namespace, name = str(parent.get("namespace") or route_namespace), str(parent.get("name"))
    where = f"{kind} {namespace}/{name}"
    whole = attached.get((namespace, kind, name, None))
    section = parent.get("sectionName")
    if section:
        sections = [str(section)]
    else:
        port = parent.get("port")
        found = listeners.get((namespace, name), []) if kind == "Gateway" else []
        sections = [str(listener.get("name")) for listener in found if port in (None, listener.get("port"))]
    if not sections:
        yield where, whole
    for listener in sections:
        own = attached.get((namespace, kind, name, listener))
        yield (f"listener {listener} of {where}", own) if own else (where, whole)


def _section_policies(attached: dict[Target, _Attached]) -> dict[tuple[str, str, str], list[tuple[str, _Attached]]]:
    """The policies on one section of a target, by target; for a route, a section is one of its rules."""
    found: dict[tuple[str, str, str], list[tuple[str, _Attached]]] = {}
    for (namespace, kind, name, section), policy in sorted(attached.items(), key=str):
        if section:
            found.setdefault((namespace, kind, name), []).append((section, policy))
    return found


def _route_problems(
    attached: dict[Target, _Attached], rules: list[tuple[str, _Attached]], listeners: dict, route: PolicyResource
) -> Iterator[str]:
    namespace, kind = namespace_of(route.props), route.resource_type.rpartition(":")[2]
    name = name_of(route.props, route.name)
    own = attached.get((namespace, kind, name, None))
    for parent in map(mapping, sequence(at(route.props, "spec", "parentRefs"))):
        parent_kind = (str(parent.get("group") or GATEWAY_API_GROUP), str(parent.get("kind") or "Gateway"))
        # A ListenerSet inherits from its Gateway only as far as the implementation says, so
        # the rule asks for a policy on the ListenerSet itself.
        if parent_kind != GATEWAY and parent_kind not in LISTENER_SETS:
            continue
        for where, inherited in _inherited(attached, listeners, namespace, parent):
            if own is not None and not own.merges:
                if not own.authenticates:
                    yield f"SecurityPolicy {own.policies} replaces the authentication of {where} for this route with none"
            elif not ((own and own.authenticates) or (inherited and inherited.authenticates)):
                if inherited is not None:
                    yield f"reaches its backends through {where}, whose SecurityPolicy {inherited.policies} does not authenticate every request"
                else:
                    yield f"reaches its backends through {where} without authentication: no SecurityPolicy on it or on the route"
    for section, rule_policy in rules:
        if not (rule_policy.authenticates or rule_policy.merges):
            yield f"SecurityPolicy {rule_policy.policies} replaces the authentication of rule {section} with none"


def _routes_authenticated(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    exempt = set(setting(args, AUTHENTICATEDROUTES_CONFIG, "unauthenticatedRoutes"))
    attached, listeners = _security_policies(args), _listeners(args)
    section_policies = _section_policies(attached)
    for route in args.resources:
        namespace, name = namespace_of(route.props), name_of(route.props, route.name)
        if kind_of(route.resource_type) not in ROUTES or f"{namespace}/{name}" in exempt:
            continue
        rules = section_policies.get((namespace, route.resource_type.rpartition(":")[2], name), [])
        for problem in dict.fromkeys(_route_problems(attached, rules, listeners, route)):
            yield f"{_describe(route)} {problem}", route.urn


ROUTES_AUTHENTICATED = stack_rule(
    "routes-authenticated",
    "Every route attached to a Gateway authenticates its clients (an Envoy Gateway SecurityPolicy "
    "with apiKeyAuth, basicAuth, jwt, oidc, or an extAuth that calls only the configured `authBackends` "
    "and does not fail open, on the Gateway, the listener or the route) "
    "before any request reaches a model, and no route-level policy replaces that with none.",
    _routes_authenticated,
    "Target the Gateway with a SecurityPolicy that authenticates (the Gateway component's "
    "api-key-auth does); give route-level SecurityPolicies `mergeType: StrategicMerge` so they add "
    "to it; exempt a route on purpose with this rule's `unauthenticatedRoutes`.",
    config=AUTHENTICATEDROUTES_CONFIG,
)


# --- capacity-fits --------------------------------------------------------------------


def _capacity_figures(args: StackValidationArgs) -> Mapping:
    return mapping(stack_output(args, CAPACITY_OUTPUT))


def _running_settings(isvc: PolicyResource, find_runtime: generated.Find) -> dict[str, float]:
    """The engine settings the predictor's vLLM container actually runs with: its runtime's
    arguments, then the predictor's, as KServe merges them (components/generated.py).

    Without --gpu-memory-utilization the container is judged at the platform's pool default,
    not vLLM's own (`GPU_MEMORY_UTILIZATION.vllm_default`), and only the flag's long name is
    read (not its alias)."""
    servers = [c for c in vllm_servers(isvc.resource_type, isvc.props) if c.path.startswith("spec.predictor")]
    if not servers:
        return {}
    runtime = generated.find_runtime(isvc.props, find_runtime)
    runtime_container = upstream.serving_container(list(map(mapping, sequence(at(runtime, "spec", "containers")))))
    argv = servers[0].argv
    if runtime_container is not None:
        merged = generated.merge_container(runtime_container, servers[0].spec)
        argv = Container(servers[0].path, merged, servers[0].pod).argv
    return {
        "maxModelLen": flags.token_count(flags.last_value(argv, *MAX_MODEL_LEN.names)) or 0,
        "tensorParallelSize": flags.integer(
            flags.last_value(argv, *TENSOR_PARALLEL_SIZE.names), default=int(TENSOR_PARALLEL_SIZE.default())
        ),
        "gpuMemoryUtilization": float(
            flags.last_value(argv, GPU_MEMORY_UTILIZATION.name) or POOL_GPU_MEMORY_UTILIZATION
        ),
    }


def _capacity_problems(name: str, figures: object, running: dict[str, float]) -> Iterator[str]:
    if not isinstance(figures, Mapping):
        yield f"has no capacity figures (stack output {CAPACITY_OUTPUT}.{name}): it was not sized by the capacity model"
        return
    if not figures.get("fits"):
        yield "does not fit: " + "; ".join(str(error) for error in sequence(figures.get("errors")))
    for key, value in running.items():
        if figures.get(key) is not None and float(figures[key]) != float(value):
            yield f"runs with {key} {value:g} but its capacity figures were computed for {float(figures[key]):g}"


def _capacity_fits(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    capacity = _capacity_figures(args)
    find_runtime = runtime_finder(args.resources)
    for isvc in _inference_services(args):
        running = _running_settings(isvc, find_runtime)
        if not running:
            continue  # not a vLLM pool
        name = name_of(isvc.props, isvc.name)
        for problem in _capacity_problems(name, capacity.get(name), running):
            yield f"InferenceService {namespace_of(isvc.props)}/{name} {problem}", isvc.urn


CAPACITY_FITS = stack_rule(
    "capacity-fits",
    "Every vLLM pool passes the capacity model (DESIGN.md): its weights and a KV cache for its "
    "declared concurrency at the context cap fit the GPUs, and the figures match what it runs.",
    _capacity_fits,
    "Run `python -m tools capacity <stack>` and follow the remedies it prints (lower maxModelLen, "
    "fp8 KV cache, more tensor parallelism, a larger GPU); declare pools through the platform "
    "config so the capacity model sizes them.",
)
