"""Every Helm values key path we set exists in that chart version's defaults
(../shared/schemas/helm-values), or in its values schema; a typo fails."""

from __future__ import annotations

import copy
import json

import pytest

from components import gpu_operator, versions
from components.plan import control_plane
from components.plan.mirror import GpuOperatorPlan
from tests.conftest import SCHEMAS_DIR
from tools import helm_values
from tools.__main__ import main
from tools.mockrun import run_program
from tools.stackfile import load_stack

pytestmark = pytest.mark.program


def chart(name, version, values, repo="https://example.invalid"):
    return {"chart": name, "version": version, "values": values, "repositoryOpts": {"repo": repo}}


def problems(inputs):
    return helm_values.chart_problems(inputs, SCHEMAS_DIR)


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_shipped_stacks_set_only_real_values(stack):
    resources = run_program(stack, load_stack(stack).config).resources
    assert [r for r in resources if r["type"] == helm_values.CHART_TYPE]
    assert helm_values.findings(resources, SCHEMAS_DIR) == []


def test_a_typo_in_gpu_operator_values_is_a_finding():
    values = gpu_operator.gpu_operator_values(GpuOperatorPlan(driver_on_host=True, monitoring=True))
    assert problems(chart("gpu-operator", versions.GPU_OPERATOR_VERSION, values)) == []
    values["dcgmExporter"]["serviceMonitr"] = {"enabled": True}
    assert problems(chart("gpu-operator", versions.GPU_OPERATOR_VERSION, values)) == [
        "dcgmExporter.serviceMonitr is not a value of gpu-operator v26.7.0"
    ]


def test_a_typo_deep_in_kserve_values_is_a_finding(platform):
    from components.spec import load_platform

    values = control_plane.kserve_values(control_plane.plan_control_plane(load_platform(platform, "test")))
    values["kserve"]["controller"]["gateway"]["disableIngresCreation"] = True
    assert problems(chart("oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0", values)) == [
        "kserve.controller.gateway.disableIngresCreation is not a value of kserve-resources v0.20.0"
    ]


def test_cert_manager_values_are_checked_against_defaults_and_schema():
    values = control_plane.cert_manager_values()
    assert problems(chart("cert-manager", versions.CERT_MANAGER_VERSION, values)) == []
    values["crds"]["enabld"] = True
    assert problems(chart("cert-manager", versions.CERT_MANAGER_VERSION, values)) == [
        "crds.enabld is not a value of cert-manager v1.21.1",
        "crds: Additional properties are not allowed ('enabld' was unexpected)",
    ]


def test_a_key_only_the_values_schema_names_is_accepted():
    # `podDnsConfig` is declared by cert-manager's values.schema.json but only commented out in values.yaml.
    schema = helm_values.load_schema(SCHEMAS_DIR / "helm-values" / "cert-manager-v1.21.1.values.schema.json")
    defaults = helm_values.load_defaults(SCHEMAS_DIR / "helm-values" / "cert-manager-v1.21.1.values.yaml")
    assert "podDnsConfig" not in defaults and helm_values.declared_by_schema(schema, ("podDnsConfig",))
    assert (
        problems(chart("cert-manager", versions.CERT_MANAGER_VERSION, {"podDnsConfig": {"nameservers": ["10.0.0.2"]}}))
        == []
    )


def test_free_form_maps_and_replaced_lists_take_any_content():
    values = {
        "kserve": {"controller": {"podLabels": {"team": "ml"}, "tolerations": [{"key": "x", "operator": "Exists"}]}}
    }
    assert problems(chart("kserve-resources", "v0.20.0", values)) == []


def test_templated_defaults_file_still_loads():
    defaults = helm_values.load_defaults(SCHEMAS_DIR / "helm-values" / "knative-operator-v1.23.0.values.yaml")
    assert defaults["knative_operator"]["knative_operator"]["tag"] == "templated"


def test_a_chart_without_a_defaults_file_takes_no_values():
    # KEDA: no defaults file in ../shared/schemas, so we set no KEDA values at all.
    assert control_plane.keda_values() == {}
    assert problems(chart("keda", versions.KEDA_VERSION, {})) == []
    (problem,) = problems(chart("keda", versions.KEDA_VERSION, {"resources": {"operator": {}}}))
    assert problem.startswith("sets values but ") and problem.endswith(
        "keda-2.21.1.values.yaml does not exist to check them against"
    )


def test_check_reports_a_values_typo_in_a_render(capsys, tmp_path):
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    resources_path = tmp_path / "resources.json"
    resources = json.loads(resources_path.read_text())
    edited = copy.deepcopy(resources)
    for resource in edited:
        if resource["type"] == helm_values.CHART_TYPE and resource["name"] == "gpu-operator":
            resource["inputs"]["values"]["toolkit"]["enabeld"] = True
    resources_path.write_text(json.dumps(edited))
    capsys.readouterr()
    assert main(["check", "--from", str(tmp_path)]) == 1
    assert "helm-values gpu-operator: toolkit.enabeld is not a value of gpu-operator v26.7.0" in capsys.readouterr().out


def test_envoy_gateway_values_are_checked_against_its_defaults_file():
    inputs = {"chart": "oci://docker.io/envoyproxy/gateway-helm", "version": "v1.9.0", "values": {"deploymnt": {}}}
    assert problems(inputs) == ["deploymnt is not a value of gateway-helm v1.9.0"]
