"""`ServingControlPlane`: cert-manager, Knative Serving, KServe and KEDA (DESIGN.md section 2).

Each piece is optional (`controlPlane.<piece>.enabled`), for clusters that already run it.
Order matters: a chart that installs CRDs comes before any object of those kinds, so the
`KnativeServing` waits for the Knative Operator chart and KServe for cert-manager (its
webhook certificate) and for Knative (its Knative-mode reconciler).

Knative's ingress is Kourier, kept cluster-internal (a ClusterIP Service) and with every
Knative route cluster-local: the edge Gateway forwards each Knative pool's hostname to it
after auth (components/gateway.py says why not Knative's Gateway API layer), so the edge's
auth and rate limits cover Knative pools as well and the one Gateway is the only way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components import charts, conventions, versions
from components.chart_images import (
    CERT_MANAGER_IMAGES,
    KEDA_IMAGES,
    KNATIVE_OPERATOR_IMAGES,
    KNATIVE_SERVING_IMAGES,
    KSERVE_IMAGES,
    KSERVE_LOCALMODEL_IMAGES,
    QUEUE_PROXY,
    deep_merge,
    knative_registry,
    values_for,
)
from components.images import NO_MIRROR, Mirror
from components.model_cache import LOCAL_MODEL_JOB_NAMESPACE
from components.spec import PlatformSpec, PoolSpec

CERT_MANAGER_NAMESPACE = "cert-manager"
KNATIVE_OPERATOR_NAMESPACE = "knative-operator"
KNATIVE_SERVING_NAMESPACE = "knative-serving"  # where the Knative Operator expects its KnativeServing
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
KOURIER_INGRESS_CLASS = "kourier.ingress.networking.knative.dev"
# Kourier's gateway, as the Knative Operator installs it into the KnativeServing's namespace
# (net-kourier config/300-gateway.yaml): cluster-local routes are served on the internal
# Service's port, which forwards to the gateway pods' `http2-internal` port.
KOURIER_GATEWAY_DEPLOYMENT = "3scale-kourier-gateway"
KOURIER_GATEWAY_LABELS = {"app": KOURIER_GATEWAY_DEPLOYMENT}
KOURIER_INTERNAL_SERVICE = "kourier-internal"
KOURIER_INTERNAL_SERVICE_PORT = 80
KOURIER_INTERNAL_POD_PORT = 8081
KOURIER_METRICS_PORT = 9000
# Knative's default domain suffix for cluster-local routes; made the only domain, every
# Knative route is cluster-local.
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"
# Knative's config-deployment progress-deadline; a revision whose pods are not ready by
# then fails, so it must outlast the slowest model load.
KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
PROGRESS_DEADLINE_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class ServingControlPlaneArgs:
    spec: PlatformSpec


class ServingControlPlane(pulumi.ComponentResource):
    """The control plane charts and CRs; exposes each as an attribute (None when switched off)
    and `kserve_charts`, what objects of KServe kinds must wait for."""

    def __init__(self, name: str, args: ServingControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:controlplane:ServingControlPlane", name, None, opts)
        spec = args.spec
        switches = spec.control_plane
        self._spec = spec
        self._child = pulumi.ResourceOptions(parent=self)
        self.cert_manager = self._cert_manager() if switches.cert_manager.enabled else None
        self.knative_operator = self.knative_serving = None
        if switches.knative.enabled:
            self.knative_operator, self.knative_serving = self._knative(spec)
        self.kserve_crd = self.kserve = None
        self.localmodel_crd: k8s.helm.v4.Chart | None = None
        self.localmodel: k8s.helm.v4.Chart | None = None
        if switches.kserve.enabled:
            self.kserve_crd, self.kserve = self._kserve(spec)
        self.keda = self._keda(spec.image_mirror) if switches.keda.enabled else None
        charts_of_kserve = (self.kserve_crd, self.kserve, self.localmodel_crd, self.localmodel)
        self.kserve_charts = [chart for chart in charts_of_kserve if chart is not None]
        self.register_outputs({"installed": self.installed()})

    def installed(self) -> dict[str, str]:
        """Chart name -> pinned version of every chart this component installs."""
        pinned = {
            versions.CERT_MANAGER_CHART: self.cert_manager,
            versions.KNATIVE_OPERATOR_CHART: self.knative_operator,
            versions.KSERVE_CRD_CHART: self.kserve_crd,
            versions.KSERVE_CHART: self.kserve,
            versions.KEDA_CHART: self.keda,
            versions.KSERVE_LOCALMODEL_CRD_CHART: self.localmodel_crd,
            versions.KSERVE_LOCALMODEL_CHART: self.localmodel,
        }
        return {chart.name: chart.version for chart, resource in pinned.items() if resource is not None}

    def _after(self, *resources: pulumi.Resource | None) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[r for r in resources if r is not None])

    def _cert_manager(self):
        ns = charts.namespace(CERT_MANAGER_NAMESPACE, "cert-manager", self._child)
        values = cert_manager_values(self._spec.image_mirror)
        return charts.pinned_chart("cert-manager", versions.CERT_MANAGER_CHART, ns, values, self._child)

    def _knative(self, spec: PlatformSpec):
        operator_ns = charts.namespace(KNATIVE_OPERATOR_NAMESPACE, "knative", self._child)
        operator_values = values_for(KNATIVE_OPERATOR_IMAGES, spec.image_mirror)
        operator = charts.pinned_chart(
            "knative-operator", versions.KNATIVE_OPERATOR_CHART, operator_ns, operator_values, self._child
        )
        serving_ns = charts.namespace(KNATIVE_SERVING_NAMESPACE, "knative", self._child)
        serving = CustomResource(
            "knative-serving",
            api_version="operator.knative.dev/v1beta1",
            kind="KnativeServing",
            metadata={
                "name": "knative-serving",
                "namespace": KNATIVE_SERVING_NAMESPACE,
                "labels": conventions.standard_labels("knative-serving", "knative-serving", "control-plane"),
            },
            spec=knative_serving_spec(spec),
            # The operator chart installs the KnativeServing CRD.
            opts=self._after(operator, serving_ns),
        )
        return operator, serving

    def _kserve(self, spec: PlatformSpec):
        ns = charts.namespace(KSERVE_NAMESPACE, "kserve", self._child)
        crd = charts.pinned_chart("kserve-crd", versions.KSERVE_CRD_CHART, ns, {}, self._child)
        controller = charts.pinned_chart(
            "kserve",
            versions.KSERVE_CHART,
            ns,
            kserve_values(spec),
            # Its webhook certificate is a cert-manager Certificate; its Knative-mode
            # reconciler watches Knative Services.
            self._after(crd, self.cert_manager, self.knative_serving),
        )
        if spec.model_cache.kind == "local":
            self._local_model_cache(spec, ns, controller)
        return crd, controller

    def _local_model_cache(self, spec: PlatformSpec, ns, controller) -> None:
        """KServe's local model cache: its CRDs, controller and node agent, and the namespace
        its download Jobs run in."""
        crd_chart, chart = versions.KSERVE_LOCALMODEL_CRD_CHART, versions.KSERVE_LOCALMODEL_CHART
        self.localmodel_crd = charts.pinned_chart("kserve-localmodel-crd", crd_chart, ns, {}, self._child)
        charts.namespace(LOCAL_MODEL_JOB_NAMESPACE, "kserve", self._child)
        after = self._after(self.localmodel_crd, controller)
        self.localmodel = charts.pinned_chart("kserve-localmodel", chart, ns, localmodel_values(spec), after)

    def _keda(self, mirror: Mirror):
        ns = charts.namespace(KEDA_NAMESPACE, "keda", self._child)
        return charts.pinned_chart("keda", versions.KEDA_CHART, ns, keda_values(mirror), self._child)


def cert_manager_values(mirror: Mirror = NO_MIRROR) -> dict[str, Any]:
    values = {
        "crds": {"enabled": True, "keep": True},
        # A post-install Helm hook that only waits for the webhook; Pulumi awaits the
        # Deployments itself, and a hook Job applied as a plain object would rerun on changes.
        "startupapicheck": {"enabled": False},
    }
    return deep_merge(values, values_for(CERT_MANAGER_IMAGES, mirror))


def keda_values(mirror: Mirror = NO_MIRROR) -> dict[str, Any]:
    """Only the images, through the mirror: the chart's defaults (CRDs, operator, metrics server
    in `keda`) are what we want, and ../shared/schemas has no KEDA defaults file, so its image
    keys were checked by hand (components/chart_images.py)."""
    return values_for(KEDA_IMAGES, mirror)


def localmodel_values(spec: PlatformSpec) -> dict[str, Any]:
    """The local-model controller on, and its node agent (a DaemonSet, on every node unless
    told otherwise) on the GPU nodes only: the GPU Operator labels each `nvidia.com/gpu.present`,
    and the agent tolerates their taint. It keeps the cache in `modelCache.localPath`."""
    agent = {
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": conventions.gpu_tolerations(),
        "hostPath": spec.model_cache.local_path,
    }
    values = {"kserve": {"localmodel": {"enabled": True, "jobNamespace": LOCAL_MODEL_JOB_NAMESPACE, "agent": agent}}}
    return deep_merge(values, values_for(KSERVE_LOCALMODEL_IMAGES, spec.image_mirror))


def kserve_values(spec: PlatformSpec) -> dict[str, Any]:
    values = deep_merge(_kserve_controller_values(spec), values_for(KSERVE_IMAGES, spec.image_mirror))
    if spec.model_cache.kind == "local":
        # The controller's inferenceservice-config turns the local model cache on.
        values = deep_merge(
            values, {"kserve": {"localmodel": {"enabled": True, "jobNamespace": LOCAL_MODEL_JOB_NAMESPACE}}}
        )
    return values


def _kserve_controller_values(spec: PlatformSpec) -> dict[str, Any]:
    return {
        "kserve": {
            "controller": {
                # Every pool sets its mode explicitly; an InferenceService without one then
                # runs as a Deployment and needs no Knative.
                "deploymentMode": "Standard",
                "gateway": {
                    "urlScheme": "https",
                    # Our Gateway component owns the HTTPRoutes of Standard pools (one per pool hostname).
                    "disableIngressCreation": True,
                    # No Istio: Knative pools route through Kourier.
                    "disableIstioVirtualHost": True,
                    "ingressGateway": {"kserveGateway": f"{spec.gateway.namespace}/{spec.gateway.name}"},
                },
            }
        }
    }


def knative_serving_spec(spec: PlatformSpec) -> dict[str, Any]:
    serving: dict[str, Any] = {
        "version": versions.KNATIVE_VERSION.removeprefix("v"),
        # No load balancer: only the edge Gateway reaches Kourier.
        "ingress": {"kourier": {"enabled": True, "service-type": "ClusterIP"}},
        "config": {
            "network": {"ingress-class": KOURIER_INGRESS_CLASS},
            "domain": {CLUSTER_LOCAL_DOMAIN: ""},
            # GPU pods select their node pool, tolerate its taint and may mount the model cache.
            "features": {
                "kubernetes.podspec-nodeselector": "enabled",
                "kubernetes.podspec-tolerations": "enabled",
                "kubernetes.podspec-persistent-volume-claim": "enabled",
            },
            "defaults": {"max-revision-timeout-seconds": str(spec.knative_max_revision_timeout_seconds)},
            "deployment": {"progress-deadline": f"{knative_progress_deadline_seconds(spec)}s"},
            "autoscaler": {
                "enable-scale-to-zero": "true",
                # How long the last pod keeps running once traffic stopped, after its
                # per-pool retention period; short, since the retention period already waited.
                "scale-to-zero-grace-period": "30s",
            },
        },
        # At least as many Kourier gateways as edge proxies, so Knative pools are no less
        # redundant (the operator makes this the minReplicas of the gateway's CPU autoscaler).
        "workloads": [{"name": KOURIER_GATEWAY_DEPLOYMENT, "replicas": spec.gateway.replicas}],
        "registry": knative_registry(spec.image_mirror),
    }
    queue_proxy = serving["registry"]["override"].get(QUEUE_PROXY, KNATIVE_SERVING_IMAGES[QUEUE_PROXY])
    if queue_proxy != KNATIVE_SERVING_IMAGES[QUEUE_PROXY]:
        # Knative reads the sidecar every Knative pod gets from config-deployment.
        serving["config"]["deployment"]["queue-sidecar-image"] = queue_proxy
    return serving


def knative_route_host(spec: PlatformSpec, pool: PoolSpec) -> str:
    """The cluster-local host Kourier serves a Knative pool's route on (KServe names the
    Knative Service `<pool>-predictor`)."""
    return f"{conventions.predictor_service_name(pool.name)}.{spec.namespaces.serving}.{CLUSTER_LOCAL_DOMAIN}"


def knative_progress_deadline_seconds(spec: PlatformSpec) -> int:
    startups = [pool.startup_timeout_seconds + PROGRESS_DEADLINE_MARGIN_SECONDS for pool in spec.knative_pools]
    return max([KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS, *startups])
