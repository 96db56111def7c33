"""Cross-reference checks: schema-valid objects that still do not fit together.

The classic failures of a private serving stack pass every schema: a Service whose
selector matches no pod, a route to a port nobody listens on, a GPU pod that does not
tolerate its node pool's taint, a Secret that does not exist. Each check here is a pure
function of the inventory (`tools/inventory.py`: what the render declares, what KServe
and Knative generate from it, what the spec names as pre-existing) and yields finding
lines `xref-<name> <resource>: <message>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from components import conventions, generated, upstream
from components.conventions import selects
from tools import netpol
from tools.inventory import (
    ROUTE_KINDS,
    Inventory,
    PodGroup,
    build,
)  # fmt: skip
from tools.k8s_objects import as_port, dig, labels_text, map_selects, name_of, namespace_of
from tools.schemas import describe_resource

if TYPE_CHECKING:
    from tools.render import Rendered


def findings(rendered: Rendered) -> list[str]:
    inventory = build(rendered.manifests, rendered.resources)
    return [f"xref-{name} {resource}: {message}" for name, check in CHECKS for resource, message in check(inventory)]


Problem = tuple[str, str]  # (resource, message)


# --- Service -> pods --------------------------------------------------------------------


def service_problems(inventory: Inventory) -> Iterator[Problem]:
    for service in inventory.services:
        if service.generated_for is not None or not service.selector:
            continue
        matched = [p for p in inventory.pods_in(service.namespace) if map_selects(service.selector, p.labels)]
        if not matched:
            yield (
                service.source,
                f"selector {labels_text(service.selector)} matches no pod we declare or KServe generates in {service.namespace}",
            )
            continue
        for port in service.ports:
            target = as_port(port.target)
            if not any(p.exposes(target, port.protocol) for p in matched):
                yield (
                    service.source,
                    f"port {port.name or port.port} targets {target}/{port.protocol}, which no selected pod exposes ({_ports_text(matched)})",
                )


# --- routes -> Gateways and Services -----------------------------------------------------


def route_problems(inventory: Inventory) -> Iterator[Problem]:
    knative_hosts = knative_route_hosts(inventory)
    for route in inventory.objects(*ROUTE_KINDS):
        for ref in dig(route, "spec", "parentRefs") or []:
            yield from (_problem(route, m) for m in _parent_problems(inventory, route, ref))
        for rule in dig(route, "spec", "rules") or []:
            for ref in rule.get("backendRefs") or []:
                yield from (_problem(route, m) for m in _backend_problems(inventory, route, ref))
            yield from (_problem(route, m) for m in _kourier_host_problems(inventory, knative_hosts, route, rule))


def _kourier_host_problems(
    inventory: Inventory, hosts: set[str], route: dict[str, Any], rule: Mapping[str, Any]
) -> Iterator[str]:
    """Kourier picks a Knative route by host: a rule sent there must rewrite the client's
    host to the cluster-local host of a Knative InferenceService's route."""
    to_kourier = [
        ref for ref in rule.get("backendRefs") or []
        if (service := inventory.service(ref.get("namespace", namespace_of(route)), ref.get("name", "")))
        and service.generated_for is not None and dict(service.generated_for.labels) == upstream.KOURIER_GATEWAY_LABELS
    ]  # fmt: skip
    if not to_kourier:
        return
    rewrites = [dig(f, "urlRewrite", "hostname") for f in rule.get("filters") or [] if f.get("type") == "URLRewrite"]
    if not any(host in hosts for host in rewrites):
        known = ", ".join(sorted(h for h in hosts if h.endswith(f".{upstream.CLUSTER_LOCAL_DOMAIN}"))) or "none"
        yield f"sends to Kourier with host {rewrites[0] if rewrites else 'unchanged'}, which no Knative route has (cluster-local hosts: {known})"


def knative_route_hosts(inventory: Inventory) -> set[str]:
    """The cluster-local hosts Knative gives each Knative predictor's route (`<ksvc>.<ns>`,
    with `.svc` and `.svc.cluster.local`); KServe names the Knative Service `<isvc>-predictor`."""
    hosts = set()
    for isvc in inventory.objects("InferenceService"):
        if generated.is_knative(isvc):
            base = f"{upstream.predictor_service_name(name_of(isvc))}.{namespace_of(isvc)}"
            hosts |= {base, f"{base}.svc", f"{base}.{upstream.CLUSTER_LOCAL_DOMAIN}"}
    return hosts


def _parent_problems(inventory: Inventory, route: dict[str, Any], ref: Mapping[str, Any]) -> Iterator[str]:
    group = upstream.GATEWAY_API_GROUP
    if (ref.get("group", group), ref.get("kind", "Gateway")) != (group, "Gateway"):
        return
    namespace = ref.get("namespace", namespace_of(route))
    gateway = inventory.find("Gateway", namespace, ref.get("name"))
    if gateway is None:
        if not inventory.exists("Gateway", namespace, ref.get("name")):
            yield f"parentRef names Gateway {namespace}/{ref.get('name')}, which the stack neither declares nor names as pre-existing"
        return
    listeners = [listener for listener in dig(gateway, "spec", "listeners") or [] if _listener_matches(listener, ref)]
    if not listeners:
        yield f"parentRef {_ref_text(ref)} matches no listener of Gateway {namespace}/{ref.get('name')} (listeners: {_listeners_text(gateway)})"
    elif not any(_admits(inventory, listener, gateway, route) for listener in listeners):
        yield f"no listener of Gateway {namespace}/{ref.get('name')} matching {_ref_text(ref)} admits routes from namespace {namespace_of(route)} with hostnames {route['spec'].get('hostnames', [])}"


def _listener_matches(listener: Mapping[str, Any], ref: Mapping[str, Any]) -> bool:
    return ref.get("sectionName") in (None, listener.get("name")) and ref.get("port") in (None, listener.get("port"))


def _admits(inventory: Inventory, listener: Mapping[str, Any], gateway: dict[str, Any], route: dict[str, Any]) -> bool:
    namespaces = dig(listener, "allowedRoutes", "namespaces") or {}
    origin = namespaces.get("from", "Same")
    if origin == "Same" and namespace_of(route) != namespace_of(gateway):
        return False
    if origin == "Selector" and not selects(
        namespaces.get("selector"), inventory.namespace_labels(namespace_of(route))
    ):
        return False
    return _hostnames_intersect(listener.get("hostname"), route["spec"].get("hostnames") or [])


def _hostnames_intersect(listener_host: str | None, route_hosts: list[str]) -> bool:
    if not listener_host or not route_hosts:
        return True
    return any(_host_matches(listener_host, host) or _host_matches(host, listener_host) for host in route_hosts)


def _host_matches(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:]))


def _backend_problems(inventory: Inventory, route: dict[str, Any], ref: Mapping[str, Any]) -> Iterator[str]:
    group, kind = ref.get("group", ""), ref.get("kind", "Service")
    namespace = ref.get("namespace", namespace_of(route))
    if namespace != namespace_of(route) and not _reference_granted(
        inventory, route, group, kind, namespace, ref.get("name")
    ):
        yield f"backendRef to {kind} {namespace}/{ref.get('name')} crosses namespaces without a ReferenceGrant in {namespace}"
    if (group, kind) != ("", "Service"):
        if not inventory.exists(kind, namespace, ref.get("name")):
            yield f"backendRef names {kind} {namespace}/{ref.get('name')}, which the stack does not declare"
        return
    service = inventory.service(namespace, ref.get("name"))
    if service is None:
        yield f"backendRef names Service {namespace}/{ref.get('name')}, which we neither declare nor KServe generates"
    elif not any(p.port == ref.get("port") for p in service.ports):
        ports = ", ".join(str(p.port) for p in service.ports) or "none"
        yield f"backendRef names port {ref.get('port')} of Service {namespace}/{ref.get('name')}, which has ports {ports}"


def _reference_granted(
    inventory: Inventory, route: dict[str, Any], group: str, kind: str, namespace: str | None, name: str | None
) -> bool:
    for grant in inventory.objects("ReferenceGrant"):
        if namespace_of(grant) != namespace:
            continue
        origin = {"group": upstream.GATEWAY_API_GROUP, "kind": route.get("kind"), "namespace": namespace_of(route)}
        allowed_from = any(all(f.get(k) == v for k, v in origin.items()) for f in dig(grant, "spec", "from") or [])
        allowed_to = any(
            t.get("group", "") == group and t.get("kind") == kind and t.get("name") in (None, name)
            for t in dig(grant, "spec", "to") or []
        )
        if allowed_from and allowed_to:
            return True
    return False


# --- GPU pods -> node pools ---------------------------------------------------------------


def gpu_node_pool_problems(inventory: Inventory) -> Iterator[Problem]:
    for pods in inventory.pods:
        if not pods.requests_gpu():
            continue
        selector = pods.spec.get("nodeSelector") or {}
        name = selector.get(conventions.NODE_POOL_LABEL)
        if name is None:
            yield (
                pods.source,
                f"requests {conventions.GPU_RESOURCE} but its nodeSelector names no node pool ({conventions.NODE_POOL_LABEL})",
            )
            continue
        pool = inventory.node_pools.get(name)
        if pool is None:
            yield (
                pods.source,
                f"selects node pool '{name}', which the stack does not declare (node pools: {', '.join(sorted(inventory.node_pools)) or 'none'})",
            )
            continue
        for key, value in sorted(selector.items()):
            if (pool.labels_known or key == conventions.NODE_POOL_LABEL) and pool.labels.get(key) != value:
                yield (
                    pods.source,
                    f"nodeSelector {key}={value} does not match node pool '{name}' ({pool.source}: labels {labels_text(pool.labels)})",
                )
        for taint in pool.taints:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(
                pods.spec.get("tolerations") or [], taint
            ):
                yield (
                    pods.source,
                    f"tolerations do not cover the taint {_taint_text(taint)} of node pool '{name}' ({pool.source})",
                )


def tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(_toleration_matches(t, taint) for t in tolerations)


def _toleration_matches(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    if toleration.get("effect") not in (None, "", taint.get("effect")):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return toleration.get("key") in (None, "", taint.get("key"))
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def _taint_text(taint: Mapping[str, Any]) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


# --- references to Secrets, ConfigMaps, claims and runtimes ---------------------------------


def reference_problems(inventory: Inventory) -> Iterator[Problem]:
    for pods in inventory.pods:
        if pods.external:
            continue
        for kind, name, key in pod_references(pods.spec):
            message = _missing(inventory, kind, pods.namespace, name, key)
            if message:
                yield pods.source, message
    for isvc in inventory.objects("InferenceService"):
        for kind, name in _inference_service_references(isvc):
            message = _missing(inventory, kind, namespace_of(isvc), name, None)
            if message:
                yield describe_resource(isvc), message
    for policy in inventory.objects("SecurityPolicy"):
        for ref in dig(policy, "spec", "apiKeyAuth", "credentialRefs") or []:
            message = _missing(
                inventory, ref.get("kind", "Secret"), ref.get("namespace", namespace_of(policy)), ref.get("name"), None
            )
            if message:
                yield describe_resource(policy), message


def pod_references(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every object a pod spec needs, optional ones left out."""
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = source.get(field)
                if ref and not ref.get("optional"):
                    yield kind, ref.get("name"), ref.get("key")
        for env_from in container.get("envFrom") or []:
            for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                ref = env_from.get(field)
                if ref and not ref.get("optional"):
                    yield kind, ref.get("name"), None
    for volume in spec.get("volumes") or []:
        yield from _volume_references(volume)
    for secret in spec.get("imagePullSecrets") or []:
        yield "Secret", secret.get("name"), None
    if spec.get("serviceAccountName") not in (None, upstream.DEFAULT_SERVICE_ACCOUNT):
        yield "ServiceAccount", spec["serviceAccountName"], None


def _volume_references(volume: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    if volume.get("secret") and not volume["secret"].get("optional"):
        yield "Secret", volume["secret"].get("secretName"), None
    if volume.get("configMap") and not volume["configMap"].get("optional"):
        yield "ConfigMap", volume["configMap"].get("name"), None
    if volume.get("persistentVolumeClaim"):
        yield "PersistentVolumeClaim", volume["persistentVolumeClaim"].get("claimName"), None
    for source in dig(volume, "projected", "sources") or []:
        for field, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
            if source.get(field) and not source[field].get("optional"):
                yield kind, source[field].get("name"), None


def _inference_service_references(isvc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    model = generated.predictor_model(isvc)
    uri = str(model.get("storageUri", ""))
    if uri.startswith("pvc://"):
        yield "PersistentVolumeClaim", uri.removeprefix("pvc://").split("/", 1)[0]
    if model.get("runtime"):
        yield "ServingRuntime", model["runtime"]


def _missing(inventory: Inventory, kind: str, namespace: str | None, name: str, key: str | None) -> str | None:
    if kind == "ServingRuntime" and inventory.exists("ClusterServingRuntime", None, name):
        return None
    if not inventory.exists(kind, namespace, name):
        return f"needs {kind} {namespace}/{name}, which the stack neither declares nor names as pre-existing"
    declared = inventory.find(kind, namespace, name)
    keys = _data_keys(declared) if declared else None
    if key is not None and keys is not None and key not in keys:
        return f"needs key '{key}' of {kind} {namespace}/{name}, which has keys {', '.join(sorted(keys)) or 'none'}"
    return None


def _data_keys(obj: dict[str, Any]) -> set[str] | None:
    sections = [obj[field] for field in ("data", "stringData", "binaryData") if field in obj]
    if not all(isinstance(section, dict) for section in sections):
        return None  # a secret value masked as a whole: its keys are not known here
    return {key for section in sections for key in section}


# --- PodMonitor / ServiceMonitor -> pods / Services -------------------------------------------


def monitor_problems(inventory: Inventory) -> Iterator[Problem]:
    for monitor in inventory.objects("PodMonitor"):
        pods = [p for p in inventory.pods if not p.external and _monitored(inventory, monitor, p.namespace, p.labels)]
        yield from _endpoint_problems(monitor, pods, "podMetricsEndpoints", "pod", lambda p, port: p.exposes(port))
    for monitor in inventory.objects("ServiceMonitor"):
        services = [s for s in inventory.services if _monitored(inventory, monitor, s.namespace, s.labels)]
        yield from _endpoint_problems(
            monitor, services, "endpoints", "Service", lambda s, port: s.port(port) is not None
        )


def _monitored(inventory: Inventory, monitor: dict[str, Any], namespace: str | None, labels: Mapping[str, str]) -> bool:
    spec = monitor.get("spec") or {}
    chosen = spec.get("namespaceSelector") or {}
    if chosen.get("any"):
        in_scope = True
    elif chosen.get("matchNames"):
        in_scope = namespace in chosen["matchNames"]
    else:
        in_scope = namespace == namespace_of(monitor)
    return in_scope and selects(spec.get("selector"), labels)


def _endpoint_problems(
    monitor: dict[str, Any], targets: list, field: str, noun: str, has_port: Callable[[Any, Any], bool]
) -> Iterator[Problem]:
    if not targets:
        selector = dig(monitor, "spec", "selector") or {}
        yield (
            describe_resource(monitor),
            f"selector {labels_text(selector.get('matchLabels') or {})} selects no {noun} we declare or KServe generates",
        )
        return
    for endpoint in dig(monitor, "spec", field) or []:
        port = endpoint.get("port", endpoint.get("portNumber"))
        if port is not None and not any(has_port(target, port) for target in targets):
            yield describe_resource(monitor), f"endpoint port {port} is not a port of any selected {noun}"


# --- shared helpers ----------------------------------------------------------------------------


def _problem(obj: dict[str, Any], message: str) -> Problem:
    return describe_resource(obj), message


def _ref_text(ref: Mapping[str, Any]) -> str:
    parts = [
        f"sectionName {ref['sectionName']}" if "sectionName" in ref else "",
        f"port {ref['port']}" if "port" in ref else "",
    ]
    return " ".join(p for p in parts if p) or "(any listener)"


def _listeners_text(gateway: dict[str, Any]) -> str:
    listeners = dig(gateway, "spec", "listeners") or []
    return ", ".join(f"{listener.get('name')}:{listener.get('port')}" for listener in listeners) or "none"


def _ports_text(pods: list[PodGroup]) -> str:
    ports = sorted({f"{p.name or '-'}:{p.number}/{p.protocol}" for group in pods for p in group.ports})
    return ", ".join(ports) or "no ports"


CHECKS: tuple[tuple[str, Callable[[Inventory], Iterator[Problem]]], ...] = (
    ("service", service_problems),
    ("route", route_problems),
    ("gpu-node-pool", gpu_node_pool_problems),
    ("ref", reference_problems),
    ("netpol", netpol.problems),
    ("monitor", monitor_problems),
)
