"""`Gateway`: the edge in front of every pool (DESIGN.md sections 2 and 4).

Envoy Gateway (pinned chart, which brings the Gateway API CRDs) runs the one Gateway, in its
own namespace: one HTTPS listener, an internal load balancer unless the spec says
`internetFacing`, API-key auth on the whole Gateway (a `SecurityPolicy`), and per pool one
`HTTPRoute` on the pool's hostname (`PathPrefix /v1`, paths unchanged, the pool's timeout)
with a `BackendTrafficPolicy` (per-client rate limit). What it reads comes in its slice,
`GatewayPlan` (components/plan/edge.py), which also shapes the proxies' Service (type, load
balancer annotations) and brings the chart's and the proxies' images through the mirror.

- Standard pools route to KServe's predictor Service.
- Knative pools route to Kourier, Knative's ingress, on its cluster-internal Service, with
  the host rewritten to the pool's cluster-local Knative route; Kourier sends the request to
  the pool's pods, or to Knative's activator, which holds it while the pool scales from zero.

Why Kourier and not Knative's Gateway API layer (net-gateway-api) on this Gateway: Knative
marks a route ready only after probing it over plain HTTP through the gateway it programs
and seeing its own hash header come back. Through an HTTPS-only, authenticated Gateway
every probe fails and Knative pools never become ready; a plain-HTTP listener for the
probes would put an unauthenticated port on the load balancer, and a second, internal
Gateway for Knative would make the edge two Gateways. Kourier probes its own proxies and
has no load balancer (`service-type: ClusterIP`); a NetworkPolicy lets only the edge
proxies reach its pools' listener (`NetworkPolicies`), since Knative also gives each pool a
Service name that any pod could resolve to Kourier.

Auth happens at the edge before any GPU work, for every pool alike: Envoy's api_key_auth
filter takes the key from `Authorization` (it strips a leading "Bearer ", so OpenAI SDKs
work unchanged), sets the client's name in `CLIENT_HEADER` (replacing whatever the client
sent), and only then do the per-pool allowlist (RBAC) and the rate limit, which counts per
client name, run (Envoy Gateway's filter order: api_key_auth before rbac before
local_ratelimit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_kubernetes._utilities import get_version as k8s_sdk_version
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apiextensions.CustomResource import CustomResourceArgs

from components import charts, conventions, upstream, versions
from components.conventions import CLIENT_HEADER
from components.options import inherited_dependencies
from components.plan.edge import GatewayPlan
from components.secret_config import gateway_api_keys_name
from components.spec import GatewaySpec, PoolSpec
from components.upstream import KNATIVE_SERVING_NAMESPACE, KOURIER_INTERNAL_SERVICE, KOURIER_INTERNAL_SERVICE_PORT

CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_API = conventions.GATEWAY_API_GROUP
ENVOY_GATEWAY_API = upstream.ENVOY_GATEWAY_API_GROUP
ENVOY_GATEWAY_V1ALPHA1 = f"{ENVOY_GATEWAY_API}/v1alpha1"
EDGE_LISTENER = "https"
HTTPS_PORT = conventions.EDGE_HTTPS_PORT
OPENAI_PATH_PREFIX = "/v1"

# The address DNS must point each pool hostname at, read from the Gateway's own status.
# Envoy Gateway fills Gateway `status.addresses` from the proxy Service it creates: the load
# balancer's hostname (an NLB: type Hostname) or IP (type IPAddress), or a ClusterIP Service's
# cluster IP; it sets the `Programmed` condition True only once an address is there and an
# Envoy replica is available (envoyproxy/gateway internal/gatewayapi/status/gateway.go,
# UpdateGatewayStatusProgrammedCondition). pulumi-kubernetes (since v4.18; pinned 4.34.2)
# waits for an object whose `pulumi.com/waitFor` annotation names a condition, with `kubectl
# wait --for=condition=` syntax, and then returns the live object, status included, as its
# outputs (pulumi/pulumi-kubernetes provider/pkg/metadata/overrides.go ReadyCondition, and
# provider/pkg/await/await.go). So `pulumi up` ends with the real address, and fails loudly
# (after GATEWAY_READY_TIMEOUT) where no load balancer is ever assigned, e.g. on EKS without the
# AWS Load Balancer Controller. Why not the proxy Service's `status.loadBalancer`: Envoy Gateway
# creates that Service, so reading it (`Service.get`) fails on a new stack's first preview, and
# only the Gateway's status covers every Service type the same way.
WAIT_FOR_ANNOTATION = upstream.PULUMI_WAIT_FOR_ANNOTATION
GATEWAY_READY = "condition=Programmed"
GATEWAY_READY_TIMEOUT = "15m"


@dataclass(frozen=True)
class GatewayArgs:
    plan: GatewayPlan


class Gateway(pulumi.ComponentResource):
    """The edge; exposes `namespace`, `chart`, `edge`, `auth`, per pool name `routes`,
    `traffic_policies`, `allowlists` and (Standard pools) `reference_grants`, and
    `kourier_grant` (None without Knative pools); outputs `hostnames` and `tls_secret`
    (registered: "<namespace>/<name>" of the edge's certificate), and `address` and
    `dns_records` (the stack exports them)."""

    hostnames: dict[str, str]
    tls_secret: str
    # None until Envoy Gateway reports an address (always under the mock runtime).
    address: pulumi.Output[dict[str, str] | None]
    dns_records: pulumi.Output[dict[str, dict[str, str | None]]]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(conventions.GATEWAY_COMPONENT_TYPE, name, None, opts)
        plan = args.plan
        gateway = plan.gateway
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = charts.namespace(gateway.namespace, "gateway", child)
        self.chart = charts.pinned_chart(
            "envoy-gateway", versions.ENVOY_GATEWAY_CHART, self.namespace, plan.chart_values, child
        )
        # Objects of Gateway API and Envoy Gateway kinds wait for the chart's CRDs, and the
        # Certificate for the control plane this component was put after.
        after = inherited_dependencies(opts)
        self._after = pulumi.ResourceOptions(parent=self, depends_on=[self.chart, *after])
        self.gateway_class = self._object(
            "gateway-class", f"{GATEWAY_API}/v1", "GatewayClass", metadata(gateway.class_name, None, "edge"),
            {"controllerName": CONTROLLER_NAME},
        )  # fmt: skip
        self.edge = self._gateway(gateway, plan.proxy, edge_listener(gateway))
        self.certificate = self._certificate(plan)
        self.auth = self._object(
            "api-key-auth", ENVOY_GATEWAY_V1ALPHA1, "SecurityPolicy",
            metadata("api-key-auth", gateway.namespace, "edge"), api_key_auth(gateway),
        )  # fmt: skip
        self.client_traffic = self._object(
            "client-traffic", ENVOY_GATEWAY_V1ALPHA1, "ClientTrafficPolicy",
            metadata("client-traffic", gateway.namespace, "edge"), client_traffic(gateway),
        )  # fmt: skip
        self.routes = {
            pool.name: self._pool_object(gateway, pool, "route", http_route(plan, pool)) for pool in plan.pools
        }
        self.traffic_policies = {
            pool.name: self._pool_object(gateway, pool, "traffic", backend_traffic(pool, gateway.replicas))
            for pool in plan.pools
        }
        self.allowlists = {
            pool.name: self._pool_object(gateway, pool, "clients", client_allowlist(pool))
            for pool in plan.pools
            if pool.clients
        }
        standard = [pool for pool in plan.pools if pool.mode == "standard"]
        self.reference_grants = {pool.name: self._reference_grant(plan, pool) for pool in standard}
        self.kourier_grant = self._kourier_grant(gateway) if plan.has_knative_pools else None
        self.hostnames = plan.hostnames
        self.address = self.edge.status.apply(gateway_address)
        self.dns_records = self.address.apply(lambda address: dns_records(self.hostnames, address))
        # The policy pack reads both: which pool owns which hostname, and the edge's own certificate.
        self.tls_secret = plan.tls_secret
        self.register_outputs({"hostnames": self.hostnames, "tlsSecret": self.tls_secret})

    def _object(
        self, resource: str, api_version: str, kind: str, meta: dict[str, Any], spec: dict[str, Any]
    ) -> CustomResource:
        return CustomResource(resource, api_version=api_version, kind=kind, metadata=meta, spec=spec, opts=self._after)

    def _gateway(
        self, gateway: GatewaySpec, proxy: dict[str, Any], listener: dict[str, Any]
    ) -> CustomResourceWithStatus:
        meta = metadata(gateway.name, gateway.namespace, "edge")
        self._object(f"{gateway.name}-proxy", ENVOY_GATEWAY_V1ALPHA1, "EnvoyProxy", meta, proxy)
        spec = {
            "gatewayClassName": gateway.class_name,
            "infrastructure": {
                "parametersRef": {"group": ENVOY_GATEWAY_API, "kind": "EnvoyProxy", "name": gateway.name}
            },
            "listeners": [listener],
        }
        waited = pulumi.ResourceOptions(
            custom_timeouts=pulumi.CustomTimeouts(create=GATEWAY_READY_TIMEOUT, update=GATEWAY_READY_TIMEOUT)
        )
        return CustomResourceWithStatus(
            gateway.name, api_version=f"{GATEWAY_API}/v1", kind="Gateway",
            metadata={**meta, "annotations": {WAIT_FOR_ANNOTATION: GATEWAY_READY}}, spec=spec,
            opts=pulumi.ResourceOptions.merge(self._after, waited),
        )  # fmt: skip

    def _pool_object(self, gateway: GatewaySpec, pool: PoolSpec, role: str, spec: dict[str, Any]) -> CustomResource:
        api_version, kind, name = POOL_OBJECTS[role]
        meta = metadata(name.format(pool=pool.name), gateway.namespace, pool.name)
        return self._object(f"{pool.name}-{role}", api_version, kind, meta, spec)

    def _certificate(self, plan: GatewayPlan) -> CustomResource | None:
        tls = plan.gateway.tls
        if tls.issuer is None:  # secretName must already exist
            return None
        return self._object(
            "certificate", "cert-manager.io/v1", "Certificate",
            metadata(tls.secret_name, plan.gateway.namespace, "edge"),
            {
                "secretName": tls.secret_name,
                "dnsNames": sorted(plan.hostnames.values()),
                "issuerRef": {"group": "cert-manager.io", "kind": tls.issuer.kind, "name": tls.issuer.name},
            },
        )  # fmt: skip

    def _reference_grant(self, plan: GatewayPlan, pool: PoolSpec) -> CustomResource:
        # Our routes live in the gateway namespace; KServe's predictor Services in the serving
        # one. One grant per pool: a grant's `to` list is capped, and each names one Service.
        return self._object(
            f"{pool.name}-grant", f"{GATEWAY_API}/v1", "ReferenceGrant",
            metadata(f"{pool.name}-from-{plan.gateway.name}", plan.serving_namespace, pool.name),
            {
                "from": [{"group": GATEWAY_API, "kind": "HTTPRoute", "namespace": plan.gateway.namespace}],
                "to": [{"group": "", "kind": "Service", "name": conventions.predictor_service_name(pool.name)}],
            },
        )  # fmt: skip

    def _kourier_grant(self, gateway: GatewaySpec) -> CustomResource:
        # Every Knative pool's route goes to Kourier's internal Service, in Knative's namespace.
        return self._object(
            "kourier-grant", f"{GATEWAY_API}/v1", "ReferenceGrant",
            metadata(f"{KOURIER_INTERNAL_SERVICE}-from-{gateway.name}", KNATIVE_SERVING_NAMESPACE, "edge"),
            {
                "from": [{"group": GATEWAY_API, "kind": "HTTPRoute", "namespace": gateway.namespace}],
                "to": [{"group": "", "kind": "Service", "name": KOURIER_INTERNAL_SERVICE}],
            },
        )  # fmt: skip


class CustomResourceWithStatus(CustomResource):
    """A CustomResource whose `status` output can be read. The generic class registers only
    apiVersion, kind, metadata and spec, and the SDK drops every output it did not register
    (pulumi/pulumi-kubernetes#1836, open); registering `status` as an output-only property, as
    the generated classes do for theirs (`core.v1.Service`), keeps it. A property set to None
    is not sent to the provider, so the object's inputs stay as they were."""

    status: pulumi.Output[Any]

    def _internal_init(self, resource_name: str, api_version: str, kind: str,
                       opts: pulumi.ResourceOptions | None = None, metadata: Any = None, spec: Any = None,
                       __props__: Any = None) -> None:  # fmt: skip
        opts = opts or pulumi.ResourceOptions()
        if opts.version is None:  # as CustomResource._internal_init: the plugin version this SDK pins
            opts.version = k8s_sdk_version()
        props = CustomResourceArgs.__new__(CustomResourceArgs)
        props.__dict__.update(api_version=api_version, kind=kind, metadata=metadata, spec=spec, status=None)
        # `props` is typed Inputs (a Mapping), but the SDK serializes an @input_type instance as
        # well (pulumi runtime/rpc.py serialize_property), which is what the generated classes pass.
        pulumi.CustomResource.__init__(self, f"kubernetes:{api_version}:{kind}", resource_name, props, opts)  # type: ignore[arg-type]


# (api version, kind, object name) of the edge objects every pool gets.
POOL_OBJECTS = {
    "route": (f"{GATEWAY_API}/v1", "HTTPRoute", "{pool}"),
    "traffic": (ENVOY_GATEWAY_V1ALPHA1, "BackendTrafficPolicy", "{pool}"),
    "clients": (ENVOY_GATEWAY_V1ALPHA1, "SecurityPolicy", "{pool}-clients"),
}


def metadata(name: str, namespace: str | None, instance: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": conventions.standard_labels("llm-gateway", instance, "edge")}
    return meta if namespace is None else {**meta, "namespace": namespace}


# --- the Gateway ----------------------------------------------------------------------------


def gateway_address(status: Any) -> dict[str, str] | None:
    """The Gateway's first reported address as {type, value} (Gateway API GatewayStatusAddress;
    type Hostname or IPAddress, the default), or None while it has none."""
    addresses = status.get("addresses") if isinstance(status, dict) else None
    for address in addresses or []:
        if isinstance(address, dict) and address.get("value"):
            return {"type": address.get("type") or "IPAddress", "value": address["value"]}
    return None


def dns_record(hostname: str, address: dict[str, str] | None) -> dict[str, str | None]:
    """The record that sends `hostname` to the gateway: a CNAME to a load balancer's hostname,
    an A (AAAA) record to an IPv4 (IPv6) address; type and value None until there is an address."""
    if address is None:
        return {"name": hostname, "type": None, "value": None}
    if address["type"] == "Hostname":
        kind = "CNAME"
    else:
        kind = "AAAA" if ":" in address["value"] else "A"
    return {"name": hostname, "type": kind, "value": address["value"]}


def dns_records(hostnames: dict[str, str], address: dict[str, str] | None) -> dict[str, dict[str, str | None]]:
    """Pool name -> the DNS record its hostname needs."""
    return {pool: dns_record(hostname, address) for pool, hostname in hostnames.items()}


def edge_listener(gateway: GatewaySpec) -> dict[str, Any]:
    return {
        "name": EDGE_LISTENER,
        "protocol": "HTTPS",
        "port": HTTPS_PORT,
        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": gateway.tls.secret_name}]},
        # Only our routes, from the gateway namespace: nothing else can put a hostname on the edge.
        "allowedRoutes": {"namespaces": {"from": "Same"}, "kinds": [{"group": GATEWAY_API, "kind": "HTTPRoute"}]},
    }


# --- auth -----------------------------------------------------------------------------------


def api_key_auth(gateway: GatewaySpec) -> dict[str, Any]:
    return {
        "targetRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway.name}],
        "apiKeyAuth": {
            "credentialRefs": [{"group": "", "kind": "Secret", "name": gateway_api_keys_name(gateway)}],
            "extractFrom": [{"headers": ["Authorization"]}],
            "forwardClientIDHeader": CLIENT_HEADER,
            # vLLM checking the key itself needs it passed on; otherwise no pod ever sees a key.
            "sanitize": not gateway.vllm_api_key,
        },
    }


def client_traffic(gateway: GatewaySpec) -> dict[str, Any]:
    """What the proxies do to every request first: drop any `CLIENT_HEADER` the client sent.

    api_key_auth sets the header on every request it lets through (Envoy's api_key_auth
    filter `forwarding.header`, set with the header map's setCopy: it replaces), and the
    allowlist and the rate limit trust it. Removing it before routing as well
    (`earlyRequestHeaders`: before routing and every HTTP filter, envoyproxy/gateway v1.9
    api/v1alpha1/clienttrafficpolicy_types.go HeaderSettings) keeps a client from naming
    itself even where a route were ever left without auth.
    """
    return {
        "targetRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway.name}],
        "headers": {"earlyRequestHeaders": {"remove": [CLIENT_HEADER]}},
    }


def client_allowlist(pool: PoolSpec) -> dict[str, Any]:
    """Merged into the Gateway's policy for this pool's route: the authenticated client's
    name, as api_key_auth set it, must be one of the pool's clients."""
    return {
        "targetRefs": [{"group": GATEWAY_API, "kind": "HTTPRoute", "name": pool.name}],
        "mergeType": "StrategicMerge",
        "authorization": {
            "defaultAction": "Deny",
            "rules": [
                {
                    "name": "pool-clients",
                    "action": "Allow",
                    "principal": {"headers": [{"name": CLIENT_HEADER, "values": sorted(pool.clients or ())}]},
                }
            ],
        },
    }


# --- per pool -------------------------------------------------------------------------------


def per_proxy_limit(pool: PoolSpec, proxies: int) -> int:
    """Each proxy's share of the pool's per-client limit, so that all of them together allow
    exactly `requestsPerMinute`.

    A local rate limit counts in each Envoy replica on its own (Envoy Gateway's local rate
    limit docs; envoyproxy/gateway v1.9 api/v1alpha1/ratelimit_types.go LocalRateLimit), and
    the proxies run `gateway.replicas` fixed (EnvoyProxy `envoyDeployment.replicas`, no
    autoscaler), so the share is the limit over that count; the spec rules make it a whole
    number. Why not Envoy Gateway's global limit: it needs its rate-limit service and a
    Redis the stack would run, secure and monitor, and a Redis outage then fails every
    request or none. The cost of a share: a client whose requests all ride one connection
    reaches one proxy, so it gets that share, never more than the limit in total.
    """
    return pool.requests_per_minute // proxies


def backend_of(plan: GatewayPlan, pool: PoolSpec) -> dict[str, Any]:
    if pool.mode == "knative":
        return {
            "name": KOURIER_INTERNAL_SERVICE,
            "namespace": KNATIVE_SERVING_NAMESPACE,
            "port": KOURIER_INTERNAL_SERVICE_PORT,
        }
    return {
        "name": conventions.predictor_service_name(pool.name),
        "namespace": plan.serving_namespace,
        "port": conventions.PREDICTOR_SERVICE_PORT,
    }


def http_route(plan: GatewayPlan, pool: PoolSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {
        # /v1/chat/completions, /v1/completions, /v1/models reach vLLM as sent.
        "matches": [{"path": {"type": "PathPrefix", "value": OPENAI_PATH_PREFIX}}],
        "backendRefs": [{"group": "", "kind": "Service", **backend_of(plan, pool)}],
        "timeouts": {"request": f"{pool.request_timeout_seconds}s"},
    }
    if pool.mode == "knative":
        # Kourier picks the Knative route by host; only the path is kept as sent.
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": {"hostname": plan.knative_route_hosts[pool.name]}}]
    return {
        "parentRefs": [
            {"group": GATEWAY_API, "kind": "Gateway", "name": plan.gateway.name, "sectionName": EDGE_LISTENER}
        ],
        "hostnames": [pool.hostname],
        "rules": [rule],
    }


def backend_traffic(pool: PoolSpec, proxies: int) -> dict[str, Any]:
    per_client = {"clientSelectors": [{"headers": [{"name": CLIENT_HEADER, "type": "Distinct"}]}]}
    limit = {"requests": per_proxy_limit(pool, proxies), "unit": "Minute"}
    return {
        "targetRefs": [{"group": GATEWAY_API, "kind": "HTTPRoute", "name": pool.name}],
        # One bucket per client name, per proxy: a client's retry storm spends its own budget.
        "rateLimit": {"local": {"rules": [{**per_client, "limit": limit}]}},
        # A non-streamed completion sends nothing until it is done: idle as long as it may run.
        "timeout": {"http": {"streamIdleTimeout": f"{pool.request_timeout_seconds}s"}},
    }
