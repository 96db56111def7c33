"""`ServingControlPlane`: cert-manager, Knative Serving, KServe and KEDA (DESIGN.md section 2).

Each piece is optional (`controlPlane.<piece>.enabled`), for clusters that already run it.
Order matters: a chart that installs CRDs comes before any object of those kinds, so the
`KnativeServing` waits for the Knative Operator chart and KServe for cert-manager (its
webhook certificate), for KEDA and for the `KnativeServing` to be Ready. The KServe
controller looks once, at start-up, for the Knative Service and KEDA ScaledObject CRDs and
only then watches those kinds (kserve v0.20.0 pkg/controller/v1beta1/inferenceservice/
controller.go SetupWithManager, `IsCrdAvailable`); a controller started before them stays
blind to them until it restarts. The Knative Service CRD comes from the Knative Operator
reconciling the KnativeServing, so "the KnativeServing resource exists" is not enough:
Pulumi waits for its Ready condition (`pulumi.com/waitFor`, components/upstream.py). What each chart is
configured with comes from the plan (components/plan/control_plane.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components import charts, conventions, upstream, versions
from components.plan.control_plane import (
    ControlPlanePlan,
    cert_manager_values,
    keda_values,
    knative_operator_values,
    knative_serving_spec,
    kserve_values,
    localmodel_values,
)

CERT_MANAGER_NAMESPACE = "cert-manager"
KNATIVE_OPERATOR_NAMESPACE = "knative-operator"
KSERVE_NAMESPACE = "kserve"
KEDA_NAMESPACE = "keda"
# Serving's Deployments pull their images and start on a fresh cluster within minutes; a
# KnativeServing not Ready after this fails `pulumi up` instead of leaving KServe blind.
KNATIVE_READY_TIMEOUT = "15m"


@dataclass(frozen=True)
class ServingControlPlaneArgs:
    plan: ControlPlanePlan


class ServingControlPlane(pulumi.ComponentResource):
    """The control plane charts and CRs; exposes each as an attribute (None when switched off),
    `kserve_charts`, what objects of KServe kinds must wait for, and `installed`."""

    cert_manager: k8s.helm.v4.Chart | None
    knative_operator: k8s.helm.v4.Chart | None
    knative_serving: CustomResource | None
    kserve_crd: k8s.helm.v4.Chart | None
    kserve: k8s.helm.v4.Chart | None
    localmodel_crd: k8s.helm.v4.Chart | None
    localmodel: k8s.helm.v4.Chart | None
    keda: k8s.helm.v4.Chart | None
    kserve_charts: list[k8s.helm.v4.Chart]
    installed: dict[str, str]  # chart name -> pinned version of every chart installed here

    def __init__(self, name: str, args: ServingControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:controlplane:ServingControlPlane", name, None, opts)
        plan = args.plan
        switches = plan.switches
        self._plan = plan
        self._child = pulumi.ResourceOptions(parent=self)
        self.cert_manager = self._cert_manager() if switches.cert_manager.enabled else None
        self.knative_operator = self.knative_serving = None
        if switches.knative.enabled:
            self.knative_operator, self.knative_serving = self._knative()
        # KEDA before KServe: its chart brings the ScaledObject CRD KServe looks for at start-up.
        self.keda = self._keda() if switches.keda.enabled else None
        self.kserve_crd = self.kserve = self.localmodel_crd = self.localmodel = None
        if switches.kserve.enabled:
            self.kserve_crd, self.kserve = self._kserve()
        charts_of_kserve = (self.kserve_crd, self.kserve, self.localmodel_crd, self.localmodel)
        self.kserve_charts = [chart for chart in charts_of_kserve if chart is not None]
        self.installed = self._installed()
        self.register_outputs({"installed": self.installed})

    def _installed(self) -> dict[str, str]:
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

    def _cert_manager(self) -> k8s.helm.v4.Chart:
        ns = charts.namespace(CERT_MANAGER_NAMESPACE, "cert-manager", self._child)
        values = cert_manager_values(self._plan.mirror)
        return charts.pinned_chart("cert-manager", versions.CERT_MANAGER_CHART, ns, values, self._child)

    def _knative(self) -> tuple[k8s.helm.v4.Chart, CustomResource]:
        operator_ns = charts.namespace(KNATIVE_OPERATOR_NAMESPACE, "knative", self._child)
        operator_values = knative_operator_values(self._plan.mirror)
        operator = charts.pinned_chart(
            "knative-operator", versions.KNATIVE_OPERATOR_CHART, operator_ns, operator_values, self._child
        )
        serving_ns = charts.namespace(upstream.KNATIVE_SERVING_NAMESPACE, "knative", self._child)
        serving = CustomResource(
            "knative-serving",
            api_version=f"{upstream.KNATIVE_OPERATOR_API_GROUP}/v1beta1",
            kind="KnativeServing",
            metadata={
                "name": "knative-serving",
                "namespace": upstream.KNATIVE_SERVING_NAMESPACE,
                "labels": conventions.standard_labels("knative-serving", "knative-serving", "control-plane"),
                # Created only once Ready: what depends on it (KServe) then finds Knative's CRDs.
                "annotations": {upstream.PULUMI_WAIT_FOR_ANNOTATION: upstream.KNATIVE_SERVING_READY},
            },
            spec=knative_serving_spec(self._plan),
            # The operator chart installs the KnativeServing CRD.
            opts=pulumi.ResourceOptions.merge(
                self._after(operator, serving_ns),
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(create=KNATIVE_READY_TIMEOUT, update=KNATIVE_READY_TIMEOUT)
                ),
            ),
        )
        return operator, serving

    def _kserve(self) -> tuple[k8s.helm.v4.Chart, k8s.helm.v4.Chart]:
        ns = charts.namespace(KSERVE_NAMESPACE, "kserve", self._child)
        crd = charts.pinned_chart("kserve-crd", versions.KSERVE_CRD_CHART, ns, {}, self._child)
        controller = charts.pinned_chart(
            "kserve",
            versions.KSERVE_CHART,
            ns,
            kserve_values(self._plan),
            # Its webhook certificate is a cert-manager Certificate; at start-up it decides
            # whether to watch Knative Services and KEDA ScaledObjects (module docstring).
            self._after(crd, self.cert_manager, self.knative_serving, self.keda),
        )
        if self._plan.local_model_cache:
            self._local_model_cache(ns, controller)
        return crd, controller

    def _local_model_cache(self, ns: k8s.core.v1.Namespace, controller: k8s.helm.v4.Chart) -> None:
        """KServe's local model cache: its CRDs, controller and node agent, and the namespace
        its download Jobs run in."""
        crd_chart, chart = versions.KSERVE_LOCALMODEL_CRD_CHART, versions.KSERVE_LOCALMODEL_CHART
        self.localmodel_crd = charts.pinned_chart("kserve-localmodel-crd", crd_chart, ns, {}, self._child)
        charts.namespace(upstream.LOCAL_MODEL_JOB_NAMESPACE, "kserve", self._child)
        after = self._after(self.localmodel_crd, controller)
        self.localmodel = charts.pinned_chart("kserve-localmodel", chart, ns, localmodel_values(self._plan), after)

    def _keda(self) -> k8s.helm.v4.Chart:
        ns = charts.namespace(KEDA_NAMESPACE, "keda", self._child)
        return charts.pinned_chart("keda", versions.KEDA_CHART, ns, keda_values(self._plan.mirror), self._child)
