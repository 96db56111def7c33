"""`ServingControlPlane`: cert-manager, Knative Serving, KServe and KEDA (DESIGN.md section 2).

Each piece is optional (`controlPlane.<piece>.enabled`), for clusters that already run it.
Order matters: a chart that installs CRDs comes before any object of those kinds, so the
`KnativeServing` waits for the Knative Operator chart and KServe for cert-manager (its
webhook certificate) and for Knative (its Knative-mode reconciler).

Knative routes through its Gateway API layer to the cluster-internal Knative gateway,
which only the edge Gateway forwards to after auth (components/gateway.py says why), so
the edge's auth and rate limits cover Knative pools as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import yaml
from pulumi_kubernetes.apiextensions import CustomResource

from components import charts, conventions, versions
from components.spec import PlatformSpec

CERT_MANAGER_NAMESPACE = "cert-manager"
KNATIVE_OPERATOR_NAMESPACE = "knative-operator"
KNATIVE_SERVING_NAMESPACE = "knative-serving"  # where the Knative Operator expects its KnativeServing
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
GATEWAY_API_INGRESS_CLASS = "gateway-api.ingress.networking.knative.dev"
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

    def __init__(self, name: str, args: ServingControlPlaneArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:controlplane:ServingControlPlane", name, None, opts)
        spec = args.spec
        switches = spec.control_plane
        self._child = pulumi.ResourceOptions(parent=self)
        self.cert_manager = self._cert_manager() if switches.cert_manager.enabled else None
        self.knative_operator = self.knative_serving = None
        if switches.knative.enabled:
            self.knative_operator, self.knative_serving = self._knative(spec)
        self.kserve_crd = self.kserve = None
        if switches.kserve.enabled:
            self.kserve_crd, self.kserve = self._kserve(spec)
        self.keda = self._keda() if switches.keda.enabled else None
        self.kserve_charts = [chart for chart in (self.kserve_crd, self.kserve) if chart is not None]
        self.register_outputs({"installed": self.installed()})

    def installed(self) -> dict[str, str]:
        """Chart name -> pinned version of every chart this component installs."""
        pinned = {
            versions.CERT_MANAGER_CHART: self.cert_manager,
            versions.KNATIVE_OPERATOR_CHART: self.knative_operator,
            versions.KSERVE_CRD_CHART: self.kserve_crd,
            versions.KSERVE_CHART: self.kserve,
            versions.KEDA_CHART: self.keda,
        }
        return {chart.name: chart.version for chart, resource in pinned.items() if resource is not None}

    def _after(self, *resources: Optional[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[r for r in resources if r is not None])

    def _cert_manager(self):
        ns = charts.namespace(CERT_MANAGER_NAMESPACE, "cert-manager", self._child)
        return charts.pinned_chart("cert-manager", versions.CERT_MANAGER_CHART, ns, cert_manager_values(), self._child)

    def _knative(self, spec: PlatformSpec):
        operator_ns = charts.namespace(KNATIVE_OPERATOR_NAMESPACE, "knative", self._child)
        operator = charts.pinned_chart("knative-operator", versions.KNATIVE_OPERATOR_CHART, operator_ns, {}, self._child)
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
        return crd, controller

    def _keda(self):
        ns = charts.namespace(KEDA_NAMESPACE, "keda", self._child)
        return charts.pinned_chart("keda", versions.KEDA_CHART, ns, keda_values(), self._child)


def cert_manager_values() -> dict[str, Any]:
    return {
        "crds": {"enabled": True, "keep": True},
        # A post-install Helm hook that only waits for the webhook; Pulumi awaits the
        # Deployments itself, and a hook Job applied as a plain object would rerun on changes.
        "startupapicheck": {"enabled": False},
    }


def keda_values() -> dict[str, Any]:
    """None: ../shared/schemas has no KEDA defaults file to check a value against, and the
    chart's defaults (CRDs, operator, metrics server in `keda`) are what we want."""
    return {}


def kserve_values(spec: PlatformSpec) -> dict[str, Any]:
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
                    # No Istio: Knative pools route through Knative's Gateway API layer.
                    "disableIstioVirtualHost": True,
                    "ingressGateway": {"kserveGateway": f"{spec.gateway.namespace}/{spec.gateway.name}"},
                },
            }
        }
    }


def knative_serving_spec(spec: PlatformSpec) -> dict[str, Any]:
    return {
        "version": versions.KNATIVE_VERSION.removeprefix("v"),
        "ingress": {"gateway-api": {"enabled": True}},
        "config": {
            "network": {
                "ingress-class": GATEWAY_API_INGRESS_CLASS,
                # Each Knative pool's hostname is a DomainMapping, which needs a ClusterDomainClaim.
                "autocreate-cluster-domain-claims": "true",
            },
            "gateway": knative_gateway_config(spec),
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
    }


def knative_gateway_config(spec: PlatformSpec) -> dict[str, str]:
    """net-gateway-api's config-gateway: external and cluster-local traffic both use the Knative
    gateway; its prober dials the endpoints of `service`, the Knative gateway's own Service."""
    knative_gateway = f"{spec.gateway.namespace}/{spec.gateway.knative_name}"
    gateway = [
        {
            "class": spec.gateway.class_name,
            "gateway": knative_gateway,
            "service": knative_gateway,
            "http-listener-name": spec.gateway.http_listener,
            # Envoy Gateway implements HTTPRoute timeouts, so Knative sets each revision's.
            "supported-features": ["HTTPRouteRequestTimeout"],
        }
    ]
    text = yaml.safe_dump(gateway, sort_keys=True, default_flow_style=False)
    return {"external-gateways": text, "local-gateways": text}


def knative_progress_deadline_seconds(spec: PlatformSpec) -> int:
    startups = [pool.startup_timeout_seconds + PROGRESS_DEADLINE_MARGIN_SECONDS for pool in spec.knative_pools]
    return max([KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS, *startups])
