"""What a render output would put on a cluster, for the cross-reference checks.

Pure functions over `manifests.yaml` and `resources.json`. Besides the objects we
declare, the inventory holds what the cluster creates from them and what the stack
relies on without creating:

- KServe predictors: an InferenceService runs its pods from the ServingRuntime's
  `kserve-container` merged with `predictor.model`, labelled with the union of the
  runtime's, the InferenceService's and the predictor's labels plus
  `serving.kserve.io/inferenceservice: <isvc>` and `component: predictor`
  (`components/predictor.go` buildObjectMeta). In Standard mode KServe adds the Service
  `<isvc>-predictor`, port 80 to the first container port under that port's name
  (`reconcilers/service/service_reconciler.go`). In Knative mode the user container's
  port is renamed `user-port` and the queue-proxy sidecar adds its ports
  (knative/serving `revision/resources/queue.go`); Knative fronts it with the Service
  `<isvc>-predictor`, port 80.
- Envoy Gateway proxies: per Gateway, pods labelled
  `gateway.envoyproxy.io/owning-gateway-{name,namespace}` in the controller's namespace
  `envoy-gateway-system` or, in GatewayNamespace mode, the Gateway's own (both are kept:
  either place satisfies a check), listening on each listener port (ports below 1024
  shifted by 10000, as Envoy Gateway runs unprivileged), behind a Service that the
  Gateway's EnvoyProxy may name (`provider.kubernetes.envoyService.name`).
- Kourier, Knative's ingress, for a `KnativeServing` with `spec.ingress.kourier.enabled`:
  the Knative Operator installs net-kourier's gateway into the KnativeServing's namespace
  (net-kourier `config/300-gateway.yaml`, operator `ingress/kourier.go`): pods labelled
  `app: 3scale-kourier-gateway` and the Services `kourier` (external routes) and
  `kourier-internal` (cluster-local routes), port 80 to `http2-external` 8080 and
  `http2-internal` 8081.
- GPU node pools: an EKS managed node group's `labels`/`taints`, a Karpenter `NodePool`'s
  template labels and taints, or, for nodes labelled outside the stack, the node-pool
  contract of components/conventions.py.
- The Platform component's inputs (`components/platform.py outside_contract`): objects
  the spec names as pre-existing, and the node pools it declares.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from components import conventions, generated, upstream
from tools.k8s_objects import dig, name_of, namespace_of
from tools.schemas import describe_resource

ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
# The EKS API's taint effects (EKS_TAINT_EFFECTS), read back into Kubernetes's.
_EKS_TO_KUBERNETES_EFFECTS = {eks: kubernetes for kubernetes, eks in upstream.EKS_TAINT_EFFECTS.items()}


@dataclass(frozen=True)
class Port:
    name: str | None
    number: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class PodGroup:
    """The pods one declared workload or one KServe predictor runs."""

    source: str  # the declaring object, as finding lines name it
    namespace: str | None  # None: the manifest names none (as `namespace_of`)
    labels: Mapping[str, str]
    ports: tuple[Port, ...]
    spec: Mapping[str, Any]  # the pod spec, predictor fields merged in
    external: bool = False  # runs outside the render (gateway proxies, Prometheus, DNS)

    def exposes(self, port: int | str, protocol: str = "TCP") -> bool:
        return any(_port_matches(p, port, protocol) for p in self.ports)

    def requests_gpu(self) -> bool:
        for container in self.spec.get("containers", []):
            resources = container.get("resources") or {}
            amounts = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
            if str(amounts.get(conventions.GPU_RESOURCE, "0")) not in ("0", ""):
                return True
        return False


@dataclass(frozen=True)
class ServicePort:
    name: str | None
    port: int
    target: int | str
    protocol: str = "TCP"


@dataclass(frozen=True)
class Service:
    source: str
    namespace: str | None
    name: str
    labels: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] | None
    generated_for: PodGroup | None = None  # the predictor a KServe/Knative Service fronts

    def port(self, number_or_name: int | str) -> ServicePort | None:
        return next((p for p in self.ports if number_or_name in (p.port, p.name)), None)


@dataclass(frozen=True)
class NodePool:
    name: str
    source: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]
    labels_known: bool = True  # False: nodes labelled outside the stack; only the pool label is sure


@dataclass
class Inventory:
    manifests: list[dict[str, Any]]
    pods: list[PodGroup] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    node_pools: dict[str, NodePool] = field(default_factory=dict)
    # (kind, namespace, name); a manifest without kind is reported by the schema check.
    declared: set[tuple[str | None, str | None, str]] = field(default_factory=set)
    pre_existing: set[tuple[str | None, str | None, str]] = field(default_factory=set)

    def objects(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (obj for obj in self.manifests if obj.get("kind") in kinds)

    # Names may come from references in the manifests, which may lack one.
    def find(self, kind: str, namespace: str | None, name: str | None) -> dict[str, Any] | None:
        return next((obj for obj in self.objects(kind) if (namespace_of(obj), name_of(obj)) == (namespace, name)), None)

    def exists(self, kind: str, namespace: str | None, name: str | None) -> bool:
        return (kind, namespace, name) in self.declared or (kind, namespace, name) in self.pre_existing

    def service(self, namespace: str | None, name: str | None) -> Service | None:
        return next((s for s in self.services if (s.namespace, s.name) == (namespace, name)), None)

    def namespace_labels(self, namespace: str | None) -> dict[str, str]:
        declared = self.find("Namespace", None, namespace or "")
        # Kubernetes labels every namespace with its own name.
        return {**(dig(declared, "metadata", "labels") or {}), upstream.NAMESPACE_NAME_LABEL: namespace or ""}

    def pods_in(self, namespace: str | None, include_external: bool = False) -> list[PodGroup]:
        return [p for p in self.pods if p.namespace == namespace and (include_external or not p.external)]


def build(manifests: list[dict[str, Any]], resources: list[dict[str, Any]]) -> Inventory:
    inventory = Inventory(manifests=manifests)
    inventory.declared = {(obj.get("kind"), namespace_of(obj), name_of(obj)) for obj in manifests}
    contract = platform_contract(resources)
    inventory.pre_existing = {
        (item.get("kind"), item.get("namespace"), item.get("name")) for item in contract.get("preExisting", [])
    }
    for obj in manifests:
        inventory.pods.extend(_declared_pods(obj))
        if obj.get("kind") == "Service":
            inventory.services.append(declared_service(obj))
    for isvc in inventory.objects("InferenceService"):
        predictor = predictor_pods(isvc, generated.find_runtime(isvc, inventory.find))
        inventory.pods.append(predictor)
        inventory.services.append(predictor_service(isvc, predictor))
    for pods in kourier_gateways(inventory):
        inventory.pods.append(pods)
        inventory.services.extend(kourier_services(pods))
    for gateway in inventory.objects("Gateway"):
        proxies = gateway_proxies(gateway)
        inventory.pods.extend(proxies)
        inventory.services.extend(proxy_services(inventory, gateway, proxies))
    inventory.node_pools = node_pools(manifests, resources, contract.get("nodePools", []))
    return inventory


def platform_contract(resources: list[dict[str, Any]]) -> dict[str, Any]:
    platform = next((r for r in resources if r.get("type") == conventions.PLATFORM_COMPONENT_TYPE), None)
    return (platform or {}).get("inputs") or {}


# --- pods ------------------------------------------------------------------------------


def _declared_pods(obj: dict[str, Any]) -> Iterator[PodGroup]:
    # A Knative Service's pods are the revision's: not modelled here (KServe's are, below).
    kind = generated.group_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    template = generated.pod_template(kind, obj) if kind[0] != upstream.KNATIVE_SERVING_API_GROUP else None
    if template is not None:
        _, metadata, spec = template
        yield _pod_group(describe_resource(obj), namespace_of(obj), dict(metadata), dict(spec))


def _pod_group(source: str, namespace: str | None, metadata: dict[str, Any], spec: dict[str, Any]) -> PodGroup:
    return PodGroup(source, namespace, dict(metadata.get("labels") or {}), container_ports(spec), spec)


def container_ports(spec: Mapping[str, Any]) -> tuple[Port, ...]:
    return tuple(
        Port(port.get("name"), int(port["containerPort"]), port.get("protocol", "TCP"))
        for container in spec.get("containers", [])
        for port in container.get("ports") or []
        if "containerPort" in port
    )


def predictor_pods(isvc: dict[str, Any], runtime: Mapping[str, Any] | None) -> PodGroup:
    spec = generated.predictor_pod_spec(isvc, runtime)
    labels = generated.component_pod_labels(isvc, upstream.KSERVE_PREDICTOR, runtime)
    ports = container_ports(spec)
    if generated.is_knative(isvc):
        labels[upstream.KNATIVE_SERVICE_LABEL] = upstream.predictor_service_name(name_of(isvc))
        ports = _knative_ports(ports)
    return PodGroup(f"{describe_resource(isvc)} predictor", namespace_of(isvc), labels, ports, spec)


def _knative_ports(ports: tuple[Port, ...]) -> tuple[Port, ...]:
    user = tuple(Port(upstream.KNATIVE_USER_PORT, p.number, p.protocol) for p in ports[:1])
    return (*user, *ports[1:], *(Port(name, number) for name, number in upstream.QUEUE_PROXY_PORTS))


def gateway_proxies(gateway: dict[str, Any]) -> list[PodGroup]:
    # A Gateway that names no namespace: its proxies' namespace label is empty, matching no selector.
    labels = upstream.envoy_proxy_labels(name_of(gateway), namespace_of(gateway) or "")
    ports = tuple(
        Port(None, upstream.envoy_proxy_port(int(listener.get("port", 0))))
        for listener in dig(gateway, "spec", "listeners") or []
    ) + (Port("metrics", upstream.ENVOY_PROXY_METRICS_PORT),)
    source = f"proxies of {describe_resource(gateway)}"
    return [
        PodGroup(source, ns, labels, ports, {})
        for ns in dict.fromkeys((upstream.ENVOY_GATEWAY_NAMESPACE, namespace_of(gateway)))
    ]


# --- services --------------------------------------------------------------------------


def declared_service(obj: dict[str, Any]) -> Service:
    spec = obj.get("spec") or {}
    ports = tuple(
        ServicePort(
            p.get("name"), int(p.get("port", 0)), p.get("targetPort", p.get("port", 0)), p.get("protocol", "TCP")
        )
        for p in spec.get("ports") or []
    )
    selector = spec.get("selector") if spec.get("type") != "ExternalName" else None
    return Service(
        describe_resource(obj),
        namespace_of(obj),
        name_of(obj),
        dict(dig(obj, "metadata", "labels") or {}),
        ports,
        selector,
    )


def predictor_service(isvc: dict[str, Any], pods: PodGroup) -> Service:
    serving_ports = [p for p in pods.ports if p.name not in dict(upstream.QUEUE_PROXY_PORTS)]
    first = serving_ports[0] if serving_ports else Port(None, upstream.KSERVE_DEFAULT_HTTP_PORT)
    ports: tuple[ServicePort, ...] = (
        ServicePort(None if generated.is_knative(isvc) else first.name, upstream.PREDICTOR_SERVICE_PORT, first.number),
    )
    if not generated.is_knative(isvc):
        ports += tuple(ServicePort(p.name, p.number, p.number, p.protocol) for p in serving_ports[1:])
    labels = {k: v for k, v in pods.labels.items() if k != upstream.KNATIVE_SERVICE_LABEL}
    source = f"{describe_resource(isvc)} predictor Service"
    return Service(
        source,
        pods.namespace,
        upstream.predictor_service_name(name_of(isvc)),
        labels,
        ports,
        None,
        generated_for=pods,
    )


def kourier_gateways(inventory: Inventory) -> Iterator[PodGroup]:
    """Kourier's gateway for each KnativeServing that enables it, and where the stack names a
    Kourier Service as pre-existing (the cluster's own Knative)."""
    ports = tuple(Port(name, number) for name, number in upstream.KOURIER_GATEWAY_PORTS)
    places = {
        namespace_of(serving): f"Kourier gateway of {describe_resource(serving)}"
        for serving in inventory.objects("KnativeServing")
        if dig(serving, "spec", "ingress", "kourier", "enabled")
    }
    for kind, namespace, name in sorted(inventory.pre_existing, key=str):
        if kind == "Service" and name in upstream.KOURIER_SERVICES and namespace not in places:
            places[namespace] = f"Kourier gateway of the cluster's Knative in {namespace}"
    for namespace, source in places.items():
        yield PodGroup(source, namespace, dict(upstream.KOURIER_GATEWAY_LABELS), ports, {}, external=True)


def kourier_services(pods: PodGroup) -> Iterator[Service]:
    for name, ports in upstream.KOURIER_SERVICES.items():
        service_ports = tuple(ServicePort(port_name, port, target) for port_name, port, target in ports)
        yield Service(
            f"Service {name} of the {pods.source}",
            pods.namespace,
            name,
            dict(pods.labels),
            service_ports,
            None,
            generated_for=pods,
        )


def proxy_services(inventory: Inventory, gateway: dict[str, Any], proxies: list[PodGroup]) -> Iterator[Service]:
    name = _envoy_service_name(inventory, gateway)
    if not name:
        return  # Envoy Gateway names it with a hash: nothing can reference it by name
    ports = tuple(
        ServicePort(
            listener.get("name"), int(listener.get("port", 0)), upstream.envoy_proxy_port(int(listener.get("port", 0)))
        )
        for listener in dig(gateway, "spec", "listeners") or []
    )
    for pods in proxies:
        yield Service(
            f"Envoy Service of {describe_resource(gateway)}",
            pods.namespace,
            name,
            dict(pods.labels),
            ports,
            None,
            generated_for=pods,
        )


def _envoy_service_name(inventory: Inventory, gateway: dict[str, Any]) -> str | None:
    """The Service name the Gateway's EnvoyProxy sets (`provider.kubernetes.envoyService.name`), if any."""
    ref = dig(gateway, "spec", "infrastructure", "parametersRef") or {}
    proxy = (
        inventory.find("EnvoyProxy", namespace_of(gateway), ref.get("name", ""))
        if ref.get("kind") == "EnvoyProxy"
        else None
    )
    return dig(proxy, "spec", "provider", "kubernetes", "envoyService", "name")


# --- node pools ------------------------------------------------------------------------


def node_pools(
    manifests: list[dict[str, Any]], resources: list[dict[str, Any]], declared_names: list[str]
) -> dict[str, NodePool]:
    pools: dict[str, NodePool] = {}
    for pool in [*_eks_node_groups(resources), *_karpenter_node_pools(manifests)]:
        pools.setdefault(pool.name, pool)
    for name in declared_names:
        pools.setdefault(name, contract_node_pool(name))
    return pools


def contract_node_pool(name: str) -> NodePool:
    return NodePool(
        name, "the node-pool contract (components/conventions.py)", conventions.gpu_node_selector(name),
        (conventions.gpu_taint(),), labels_known=False,
    )  # fmt: skip


def _eks_node_groups(resources: list[dict[str, Any]]) -> Iterator[NodePool]:
    for resource in resources:
        if resource.get("type") != "aws:eks/nodeGroup:NodeGroup":
            continue
        inputs = resource.get("inputs") or {}
        labels = dict(inputs.get("labels") or {})
        taints = tuple(
            {
                "key": t.get("key"),
                "value": t.get("value"),
                "effect": _EKS_TO_KUBERNETES_EFFECTS.get(t.get("effect"), t.get("effect")),
            }
            for t in inputs.get("taints") or []
        )
        if conventions.NODE_POOL_LABEL in labels:
            yield NodePool(
                labels[conventions.NODE_POOL_LABEL],
                f"aws:eks/nodeGroup:NodeGroup {resource.get('name')}",
                labels,
                taints,
            )


def _karpenter_node_pools(manifests: list[dict[str, Any]]) -> Iterator[NodePool]:
    for obj in manifests:
        if obj.get("kind") != "NodePool" or not obj.get("apiVersion", "").startswith("karpenter.sh/"):
            continue
        template = dig(obj, "spec", "template") or {}
        labels = {
            **_single_value_requirements(dig(template, "spec", "requirements") or []),
            **(dig(template, "metadata", "labels") or {}),
        }
        if conventions.NODE_POOL_LABEL in labels:
            taints = tuple(dig(template, "spec", "taints") or [])
            yield NodePool(labels[conventions.NODE_POOL_LABEL], describe_resource(obj), labels, taints)


def _single_value_requirements(requirements: list[dict[str, Any]]) -> dict[str, str]:
    # Karpenter labels its nodes with a requirement that pins one value.
    return {
        r["key"]: r["values"][0] for r in requirements if r.get("operator") == "In" and len(r.get("values") or []) == 1
    }


# --- small helpers ------------------------------------------------------------------------


def _port_matches(port: Port, wanted: int | str, protocol: str) -> bool:
    same = port.number == wanted if isinstance(wanted, int) else port.name == wanted
    return same and port.protocol == protocol
