"""Strict schema validation (tools/schemas.py) against the real CRDs in ../shared/schemas."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest

from tools.schemas import SchemaFinding, SchemaRegistry, SchemasMissing

pytestmark = pytest.mark.unit

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "shared" / "schemas"

# Kinds the platform emits (DESIGN.md section 3); their strict schemas must stay valid JSON Schema.
PLATFORM_KINDS = [
    ("serving.kserve.io/v1beta1", "InferenceService"),
    ("serving.kserve.io/v1alpha1", "ServingRuntime"),
    ("operator.knative.dev/v1beta1", "KnativeServing"),
    ("gateway.networking.k8s.io/v1", "Gateway"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
    ("karpenter.sh/v1", "NodePool"),
    ("karpenter.k8s.aws/v1", "EC2NodeClass"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
]


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry(SCHEMAS_DIR)


def messages(findings: list[SchemaFinding]) -> list[str]:
    return [finding.message for finding in findings]


# -- objects ------------------------------------------------------------------


def config_map() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "llm-serving"},
        "data": {"key": "value"},
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "llm-serving"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def inference_service() -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "chat",
            "namespace": "llm-serving",
            "labels": {"llmserving.io/pool": "chat"},
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "model": {
                    "modelFormat": {"name": "huggingface"},
                    "runtime": "vllm-chat",
                    "storageUri": "s3://models/llama-3.1-8b-instruct",
                    "args": ["--max-model-len=8192", "--gpu-memory-utilization=0.9"],
                    "resources": {
                        "limits": {"nvidia.com/gpu": 1, "memory": "64Gi"},
                        "requests": {"cpu": "8", "memory": "64Gi"},
                    },
                },
            }
        },
    }


def serving_runtime() -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": "vllm-chat", "namespace": "llm-serving"},
        "spec": {
            "supportedModelFormats": [{"name": "huggingface", "version": "1", "autoSelect": True}],
            "protocolVersions": ["v2", "v1"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "vllm/vllm-openai:v0.11.0",
                    "args": ["--port=8080", "--model=/mnt/models"],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                }
            ],
        },
    }


def knative_service() -> dict:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "llm-serving"},
        "spec": {"template": {"spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go:latest"}]}}},
    }


def gateway() -> dict:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "llm-gateway"},
        "spec": {
            "gatewayClassName": "envoy-gateway",
            "addresses": [{"value": "10.0.0.10"}],  # "type" left to its default, IPAddress
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        },
    }


def service_monitor(target_port) -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "dcgm", "namespace": "gpu-operator"},
        "spec": {
            "selector": {"matchLabels": {"app": "dcgm"}},
            "endpoints": [{"targetPort": target_port, "interval": "30s"}],
        },
    }


def scaled_object() -> dict:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "batch", "namespace": "llm-serving"},
        "spec": {
            "scaleTargetRef": {"name": "batch-predictor"},
            "minReplicaCount": 0,
            "maxReplicaCount": 4,
            "triggers": [
                {"type": "prometheus", "metadata": {"query": "sum(vllm:num_requests_waiting)", "threshold": "10"}}
            ],
        },
    }


def ec2_node_class() -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "role": "KarpenterNodeRole-llm",
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
        },
    }


# -- loading ------------------------------------------------------------------


def test_missing_schemas_directory_raises_with_a_hint(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SchemasMissing) as raised:
        SchemaRegistry(missing)
    assert str(missing) in str(raised.value)
    assert "../shared/schemas" in str(raised.value) and "--schemas DIR" in str(raised.value)


def test_directory_without_any_schema_raises(tmp_path):
    with pytest.raises(SchemasMissing):
        SchemaRegistry(tmp_path)


def test_catalog_schemas_load_under_their_real_kind_names(registry):
    kinds = registry.known_kinds()
    assert ("keda.sh/v1alpha1", "ScaledObject") in kinds
    assert ("keda.sh/v1alpha1", "TriggerAuthentication") in kinds
    assert ("karpenter.k8s.aws/v1", "EC2NodeClass") in kinds


def test_every_served_crd_version_is_loaded(registry):
    kinds = registry.known_kinds()
    assert ("serving.kserve.io/v1beta1", "InferenceService") in kinds
    assert ("gateway.networking.k8s.io/v1beta1", "HTTPRoute") in kinds
    assert ("serving.kserve.io/v1alpha2", "LLMInferenceService") in kinds


@pytest.mark.parametrize(("api_version", "kind"), PLATFORM_KINDS)
def test_strict_schemas_are_valid_json_schema(registry, api_version, kind):
    jsonschema.Draft202012Validator.check_schema(registry.strict_schema(api_version, kind))


def test_every_pattern_compiles_in_python(registry):
    # CRD patterns are Go RE2; one Python cannot compile would crash validation.
    def patterns(schema):
        if isinstance(schema, dict):
            if isinstance(schema.get("pattern"), str):
                yield schema["pattern"]
            for key, value in schema.items():
                if key not in ("default", "enum", "example"):
                    yield from patterns(value)
        elif isinstance(schema, list):
            for value in schema:
                yield from patterns(value)

    for api_version, kind in registry.known_kinds():
        for pattern in patterns(registry.strict_schema(api_version, kind)):
            re.compile(pattern)


# -- core kinds ---------------------------------------------------------------


@pytest.mark.parametrize("make", [config_map, deployment])
def test_valid_core_objects_pass(registry, make):
    assert registry.validate_object(make()) == []


def test_misspelled_core_field_fails_with_its_path(registry):
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert messages(registry.validate_object(obj)) == [
        "spec.template.spec.containers[0].imagePullPolicyy: "
        "Additional properties are not allowed ('imagePullPolicyy' was unexpected)"
    ]


def test_wrongly_typed_core_field_fails(registry):
    obj = deployment()
    obj["spec"]["replicas"] = "two"
    [message] = messages(registry.validate_object(obj))
    assert message.startswith("spec.replicas: 'two' is not of type 'integer'")


def test_core_object_without_name_fails(registry):
    obj = config_map()
    del obj["metadata"]["name"]
    assert messages(registry.validate_object(obj)) == ["metadata: 'name' is a required property"]


def test_unknown_core_kind_has_no_schema(registry):
    obj = {"apiVersion": "v1", "kind": "ConfigMapp", "metadata": {"name": "x"}}
    assert messages(registry.validate_object(obj)) == [
        "no schema for v1/ConfigMapp: add its CRD to the schemas directory"
    ]


# -- custom resources ---------------------------------------------------------


def test_valid_inference_service_passes(registry):
    assert registry.validate_object(inference_service()) == []


def test_misspelled_inference_service_field_fails_with_its_path(registry):
    obj = inference_service()
    obj["spec"]["predictor"]["model"]["argz"] = obj["spec"]["predictor"]["model"].pop("args")
    [finding] = registry.validate_object(obj)
    assert finding.line() == (
        "schema serving.kserve.io/v1beta1/InferenceService llm-serving/chat: spec.predictor.model.argz: "
        "Additional properties are not allowed ('argz' was unexpected)"
    )


def test_each_unknown_field_is_its_own_sorted_finding(registry):
    obj = inference_service()
    obj["spec"]["predictor"]["model"]["zeta"] = 1
    obj["spec"]["predictor"]["model"]["alpha"] = 1
    obj["metadata"]["lables"] = {}
    assert messages(registry.validate_object(obj)) == [
        "metadata.lables: Additional properties are not allowed ('lables' was unexpected)",
        "spec.predictor.model.alpha: Additional properties are not allowed ('alpha' was unexpected)",
        "spec.predictor.model.zeta: Additional properties are not allowed ('zeta' was unexpected)",
    ]


def test_custom_resource_name_must_be_dns_like(registry):
    obj = inference_service()
    obj["metadata"]["name"] = "Chat_Pool"
    [message] = messages(registry.validate_object(obj))
    assert message.startswith("metadata.name: 'Chat_Pool' does not match")


def test_custom_resource_without_name_fails(registry):
    obj = inference_service()
    del obj["metadata"]["name"]
    assert messages(registry.validate_object(obj)) == ["metadata: 'name' is a required property"]


def test_valid_serving_runtime_passes(registry):
    assert registry.validate_object(serving_runtime()) == []


def test_serving_runtime_container_typo_fails(registry):
    obj = serving_runtime()
    obj["spec"]["containers"][0]["imagee"] = obj["spec"]["containers"][0].pop("image")
    assert messages(registry.validate_object(obj)) == [
        "spec.containers[0].imagee: Additional properties are not allowed ('imagee' was unexpected)"
    ]


def test_preserve_unknown_fields_subtree_accepts_extra_keys(registry):
    obj = knative_service()
    # spec.template.spec.affinity is x-kubernetes-preserve-unknown-fields in Knative's CRD.
    obj["spec"]["template"]["spec"]["affinity"] = {"anything": {"goes": ["here"]}}
    # spec.template.metadata lists fields yet preserves unknown ones as well.
    obj["spec"]["template"]["metadata"] = {"labels": {"app": "hello"}, "notListed": True}
    assert registry.validate_object(obj) == []
    # ... while its sibling fields stay strict.
    obj["spec"]["template"]["spec"]["containerz"] = []
    assert messages(registry.validate_object(obj)) == [
        "spec.template.spec.containerz: Additional properties are not allowed ('containerz' was unexpected)"
    ]


@pytest.mark.parametrize("quantity", [4, "4", "500m"])
def test_int_or_string_quantity_accepts_both(registry, quantity):
    obj = inference_service()
    obj["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = quantity
    assert registry.validate_object(obj) == []


@pytest.mark.parametrize("port", [8080, "metrics"])
def test_int_or_string_port_accepts_both(registry, port):
    assert registry.validate_object(service_monitor(port)) == []


def test_int_or_string_rejects_other_types(registry):
    [message] = messages(registry.validate_object(service_monitor(["8080"])))
    assert message.startswith("spec.endpoints[0].targetPort: ['8080'] is not valid under any of the given schemas")


def test_schema_defaults_apply_before_validation(registry):
    # Without defaulting, an address without "type" matches both oneOf branches.
    assert registry.validate_object(gateway()) == []


def test_fields_listed_only_in_a_oneof_branch_parent_stays_strict(registry):
    obj = gateway()
    obj["spec"]["addresses"][0]["typo"] = "x"
    assert messages(registry.validate_object(obj)) == [
        "spec.addresses[0].typo: Additional properties are not allowed ('typo' was unexpected)"
    ]


def test_go_pattern_with_inline_flag_is_checked_case_insensitively(registry):
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "gpu", "namespace": "monitoring"},
        "spec": {
            "groups": [
                {"name": "gpu", "partial_response_strategy": "WARN", "rules": [{"alert": "GpuDown", "expr": "up == 0"}]}
            ]
        },
    }
    assert registry.validate_object(rule) == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "ignore"
    [message] = messages(registry.validate_object(rule))
    assert message.startswith("spec.groups[0].partial_response_strategy: 'ignore' does not match")


def test_keda_scaled_object_validates_from_the_catalog(registry):
    obj = scaled_object()
    assert registry.validate_object(obj) == []
    obj["spec"]["maxReplicas"] = obj["spec"].pop("maxReplicaCount")
    assert messages(registry.validate_object(obj)) == [
        "spec.maxReplicas: Additional properties are not allowed ('maxReplicas' was unexpected)"
    ]


def test_karpenter_ec2_node_class_validates_from_the_catalog(registry):
    obj = ec2_node_class()
    assert registry.validate_object(obj) == []
    del obj["spec"]["subnetSelectorTerms"]
    assert messages(registry.validate_object(obj)) == ["spec: 'subnetSelectorTerms' is a required property"]


def test_unknown_custom_kind_has_no_schema(registry):
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert registry.validate_object(obj) == [
        SchemaFinding(
            "schema",
            "example.com/v1/Widget w",
            "no schema for example.com/v1/Widget: add its CRD to the schemas directory",
        )
    ]


def test_unserved_version_of_a_known_kind_has_no_schema(registry):
    obj = inference_service()
    obj["apiVersion"] = "serving.kserve.io/v1"
    [message] = messages(registry.validate_object(obj))
    assert message.startswith("no schema for serving.kserve.io/v1/InferenceService")
    assert "v1beta1" in message


def test_object_without_kind_is_a_finding(registry):
    assert messages(registry.validate_object({"apiVersion": "v1", "metadata": {"name": "x"}})) == [
        "apiVersion and kind must both be non-empty strings"
    ]


# -- schema features the shared CRDs spell only one way ---------------------

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              port: {x-kubernetes-int-or-string: true}
              mode: {type: string, nullable: true, enum: [fast, slow]}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                properties:
                  spec: {type: object, properties: {size: {type: integer}}}
  - name: v0
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object}
"""


@pytest.fixture(scope="module")
def widget_registry(tmp_path_factory) -> SchemaRegistry:
    schemas_dir = tmp_path_factory.mktemp("schemas")
    (schemas_dir / "crds").mkdir()
    (schemas_dir / "crds" / "example.com_widgets.yaml").write_text(WIDGET_CRD)
    return SchemaRegistry(schemas_dir)


def widget(**spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"}, "spec": spec}


@pytest.mark.parametrize("port", [8080, "http"])
def test_bare_int_or_string_marker_accepts_both(widget_registry, port):
    assert widget_registry.validate_object(widget(port=port)) == []


@pytest.mark.parametrize("port", [True, {"number": 1}, 1.5])
def test_bare_int_or_string_marker_rejects_other_types(widget_registry, port):
    [message] = messages(widget_registry.validate_object(widget(port=port)))
    assert message.startswith("spec.port: ")


def test_nullable_field_accepts_null_but_not_other_values(widget_registry):
    assert widget_registry.validate_object(widget(mode=None)) == []
    assert messages(widget_registry.validate_object(widget(mode="medium"))) == [
        "spec.mode: 'medium' is not one of ['fast', 'slow', None]"
    ]


def test_embedded_resource_keeps_its_type_meta_and_stays_strict(widget_registry):
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"size": 1}}
    assert widget_registry.validate_object(widget(template=template)) == []
    template["spek"] = {}
    assert messages(widget_registry.validate_object(widget(template=template))) == [
        "spec.template.spek: Additional properties are not allowed ('spek' was unexpected)"
    ]


def test_unserved_crd_version_is_not_loaded(widget_registry):
    assert widget_registry.known_kinds() == [("example.com/v1", "Widget")]


# -- reporting ----------------------------------------------------------------


def test_cluster_scoped_resource_is_named_without_namespace(registry):
    obj = {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {"bogus": True},
    }
    findings = registry.validate_object(obj)
    assert {finding.resource for finding in findings} == {"karpenter.k8s.aws/v1/EC2NodeClass gpu"}


def test_finding_line_format():
    finding = SchemaFinding("schema", "v1/ConfigMap ns/x", "data: boom")
    assert finding.line() == "schema v1/ConfigMap ns/x: data: boom"


def test_validate_all_keeps_object_order_and_collects_every_finding(registry):
    bad_map = config_map()
    bad_map["dataa"] = {}
    bad_isvc = inference_service()
    bad_isvc["spec"]["predictor"]["model"]["argz"] = []
    findings = registry.validate_all([bad_isvc, deployment(), bad_map])
    assert [finding.resource for finding in findings] == [
        "serving.kserve.io/v1beta1/InferenceService llm-serving/chat",
        "v1/ConfigMap llm-serving/settings",
    ]


def test_validation_does_not_modify_the_object(registry):
    obj = gateway()
    before = copy.deepcopy(obj)
    registry.validate_object(obj)
    assert obj == before
