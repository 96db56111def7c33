"""`GpuOperator` built alone from its plan slice, under the mock runtime, and
`plan_gpu_operator` on a small spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components import conventions, versions
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from components.images import Mirror
from components.plan.mirror import GpuOperatorPlan, plan_gpu_operator
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:hardware:GpuOperator"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
MIRROR_HOST = "harbor.example.internal"


def plan_of(**platform: Any) -> GpuOperatorPlan:
    config = copy.deepcopy(BASE_PLATFORM)
    config.update(platform)
    return plan_gpu_operator(load_platform(config, "test", capacity_gate=False))


def build(plan: GpuOperatorPlan) -> Recording:
    return record(lambda: GpuOperator("gpu-operator", GpuOperatorArgs(plan)))


def test_off_eks_the_operator_installs_the_driver_and_runs_its_device_plugin():
    spec = load_platform(copy.deepcopy(BASE_PLATFORM), "test", capacity_gate=False)
    assert plan_gpu_operator(spec) == GpuOperatorPlan(
        driver_on_host=False,
        monitoring=True,
        device_plugin=True,
        mirror=spec.image_mirror,
        release_label="kube-prometheus-stack",
    )


def test_the_spec_can_say_the_nodes_bring_their_driver_and_monitoring_is_off():
    plan = plan_of(gpuOperator={"driverOnHost": True}, monitoring={"enabled": False})
    assert (plan.driver_on_host, plan.monitoring) == (True, False)


def test_it_installs_the_pinned_chart_into_a_privileged_namespace():
    recording = build(plan_of())
    parent = recording.only(COMPONENT_TYPE)
    namespace = recording.only(NAMESPACE_TYPE)
    assert namespace["name"] == "gpu-operator-namespace"
    assert namespace["inputs"]["metadata"]["name"] == "gpu-operator"
    assert namespace["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    chart = recording.only(CHART_TYPE)
    assert (chart["name"], chart["inputs"]["namespace"]) == ("gpu-operator", "gpu-operator")
    assert chart["inputs"]["version"] == versions.GPU_OPERATOR_CHART.version
    assert namespace["urn"] in recording.dependencies[chart["urn"]]
    assert {namespace["parent"], chart["parent"]} == {parent["urn"]}
    assert parent["outputs"] == {"namespace": "gpu-operator", "version": versions.GPU_OPERATOR_CHART.version}


def test_its_values_follow_the_plan_and_tolerate_the_gpu_taint():
    plan = GpuOperatorPlan(driver_on_host=True, monitoring=False, device_plugin=False)
    values = build(plan).only(CHART_TYPE)["inputs"]["values"]
    assert values["driver"] == values["toolkit"] == {"enabled": False}
    assert values["devicePlugin"] == {"enabled": False}
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": False}
    assert values["daemonsets"]["tolerations"] == conventions.gpu_tolerations()
    assert values["node-feature-discovery"]["worker"]["tolerations"] == conventions.gpu_tolerations()


def test_the_dcgm_service_monitor_carries_the_release_label_prometheus_selects_by():
    plan = plan_of(monitoring={"releaseLabel": "prom"})
    values = build(plan).only(CHART_TYPE)["inputs"]["values"]
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": True, "additionalLabels": {"release": "prom"}}


def test_every_operand_image_comes_through_the_mirror():
    mirror = Mirror(host=MIRROR_HOST, prefixes={"nvcr.io": "nvcr", "registry.k8s.io": "k8s"})
    values = build(GpuOperatorPlan(driver_on_host=True, monitoring=True, mirror=mirror)).only(CHART_TYPE)
    chart_values = values["inputs"]["values"]
    assert chart_values["dcgmExporter"]["repository"] == f"{MIRROR_HOST}/nvcr/nvidia/k8s"
    assert chart_values["node-feature-discovery"]["image"]["repository"].startswith(f"{MIRROR_HOST}/k8s/")
