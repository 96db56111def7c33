"""Naming and labelling conventions shared by every component (DESIGN.md section 7).

The GPU node contract lives here too: node pools put these labels and this taint on
their nodes, and serving pools select and tolerate exactly the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Labels and names that other controllers put on what they generate from our objects, which
# our NetworkPolicies, monitors and offline checks select on: upstream facts, declared with
# their sources in components/upstream.py and re-exported for the code that reads them here.
from components.upstream import ENVOY_OWNING_GATEWAY_NAME as ENVOY_OWNING_GATEWAY_NAME
from components.upstream import ENVOY_OWNING_GATEWAY_NAMESPACE as ENVOY_OWNING_GATEWAY_NAMESPACE
from components.upstream import GATEWAY_API_GROUP as GATEWAY_API_GROUP
from components.upstream import KNATIVE_USER_PORT as KNATIVE_USER_PORT
from components.upstream import KSERVE_CONTAINER as KSERVE_CONTAINER
from components.upstream import KSERVE_DEPLOYMENT_MODE as KSERVE_DEPLOYMENT_MODE
from components.upstream import KSERVE_ISVC_LABEL as KSERVE_ISVC_LABEL
from components.upstream import PREDICTOR_SERVICE_PORT as PREDICTOR_SERVICE_PORT
from components.upstream import PREDICTOR_SUFFIX as PREDICTOR_SUFFIX
from components.upstream import envoy_proxy_labels as envoy_proxy_labels
from components.upstream import predictor_service_name as predictor_service_name

PART_OF = "private-llm-serving"
# The edge Gateway's one listener port (HTTPS), which its proxies open to clients.
EDGE_HTTPS_PORT = 443

# The label a kube-prometheus-stack Prometheus selects monitors and rules by (its
# `serviceMonitorSelector`/`ruleSelector` match `release: <Helm release>`); the value is
# `monitoring.releaseLabel`. Ours carry it, and so must the GPU Operator's DCGM ServiceMonitor.
PROMETHEUS_RELEASE_LABEL = "release"
# The Pulumi project (Pulumi.yaml `name`): stack config keys are `<PROJECT>:<key>`.
PROJECT = "private-llm-serving"
# Pulumi.yaml `stackConfigDir`: one stack file per environment.
STACKS_DIR = "stacks"
NODE_POOL_LABEL = "llmserving.io/node-pool"
POOL_LABEL = "llmserving.io/pool"
CLASS_LABEL = "llmserving.io/class"
MODEL_LABEL = "llmserving.io/model"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
# The GPU model (catalog key) as a node label, known when the node is provisioned, before
# the GPU Operator's feature discovery adds nvidia.com/gpu.product.
GPU_MODEL_LABEL = "llmserving.io/gpu"
# On a pool's InferenceService: the trust flags its stack accepted (`pools[].trustedArgs`),
# comma-separated, so a render carries the opt-in beside the arguments it covers and
# `check --from` reports a trust flag added without one.
TRUSTED_ARGS_ANNOTATION = "llmserving.io/trusted-args"
# On an InferenceService or Knative Service: why its stack accepted that a restart of Knative's
# proxies (Kourier's gateway, the activator) may cut its requests
# (`pools[].acceptedRisks.knativeProxyRestart`), so the policy pack finds the acceptance on the
# object whose timeout outlives those proxies' drain (policy/rules/continuity.py).
KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION = "llmserving.io/knative-proxy-restart-accepted"
# Type tokens of the components whose registered inputs or outputs the checks and rules read.
GATEWAY_COMPONENT_TYPE = "llmserving:edge:Gateway"
PLATFORM_COMPONENT_TYPE = "llmserving:platform:Platform"


def stack_file(stack: str) -> str:
    """The stack file of `stack`, relative to the repository root."""
    return f"{STACKS_DIR}/Pulumi.{stack}.yaml"


def standard_labels(name: str, instance: str, component: str) -> dict[str, str]:
    """The app.kubernetes.io labels every object we create carries."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def gpu_node_selector(node_pool: str) -> dict[str, str]:
    """What a serving pod selects on to land on one GPU node pool."""
    return {NODE_POOL_LABEL: node_pool}


def gpu_tolerations() -> list[dict[str, str]]:
    """Tolerate the NoSchedule taint every GPU node pool carries."""
    return [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}]


def gpu_node_labels(node_pool: str, gpu: str) -> dict[str, str]:
    """The labels every node of a GPU node pool carries (a superset of `gpu_node_selector`)."""
    return {**gpu_node_selector(node_pool), GPU_MODEL_LABEL: gpu}


def gpu_taint() -> dict[str, str]:
    """The taint every GPU node carries, so only pods that tolerate it land there."""
    return {"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}


def predictor_pod_regex(pool: str) -> str:
    """Matches the pods KServe creates for a pool's predictor in either mode:
    `<pool>-predictor-<hash>` (Standard) and `<pool>-predictor-<rev>-deployment-<hash>` (Knative)."""
    return f"{predictor_service_name(pool)}-.*"


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions) against an object's labels;
    None or {} selects everything."""
    selector = selector or {}
    if not all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_holds(expression, labels) for expression in selector.get("matchExpressions") or [])


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    # `key` is required (LabelSelectorRequirement); without one, "" matches no label, as None did.
    key, operator, values = expression.get("key", ""), expression.get("operator"), list(expression.get("values") or [])
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":
        return labels.get(key) not in values
    if operator == "Exists":
        return key in labels
    return operator == "DoesNotExist" and key not in labels


# The app.kubernetes.io name and component of every serving pool's objects and pods, which
# the network policies and the PodMonitor select on, and the serving port's name on
# Standard pods (Knative accepts only http1 or h2c as the serving port's name).
SERVING_POOL_APP_NAME = "vllm"
SERVING_POOL_COMPONENT = "serving-pool"
SERVING_PORT_NAME = "http1"

# The app.kubernetes.io name and component of the model-cache warm-up Jobs' pods, which
# their egress policy selects on.
MODEL_CACHE_COMPONENT = "model-cache"
MODEL_WARMUP_APP_NAME = "model-warmup"

# The header the edge's API-key auth sets to the authenticated client's name (replacing
# whatever the client sent); the per-pool allowlists and the per-client rate limits read it.
CLIENT_HEADER = "x-llm-client"

# The Secret holding the model hub token, and its key: the download Jobs (ours or KServe's)
# read it as the HF_TOKEN environment variable.
HUB_TOKEN_SECRET = "hf-token"
HUB_TOKEN_KEY = "HF_TOKEN"

# The file in a pool's vLLM api-key Secret, mounted as vLLM's `--config` (vLLM reads --config
# files only with a .yaml or .yml suffix).
API_KEY_FILE = "api-keys.yaml"

# The model a pool serves and why it was allowed, as annotations on its InferenceService, so
# `kubectl describe inferenceservice` shows what runs and the `model-approved` policy rule
# reads the record from the object itself (components/plan/pools.py: model_annotations).
MODEL_SOURCE_ANNOTATION = "llmserving.io/model-source"
MODEL_REVISION_ANNOTATION = "llmserving.io/model-revision"
MODEL_QUANTIZATION_ANNOTATION = "llmserving.io/model-quantization"
MODEL_LICENSE_ANNOTATION = "llmserving.io/model-license"
MODEL_APPROVED_BY_ANNOTATION = "llmserving.io/model-approved-by"
MODEL_APPROVAL_REF_ANNOTATION = "llmserving.io/model-approval-ref"
MODEL_APPROVED_ON_ANNOTATION = "llmserving.io/model-approved-on"
MODEL_EVALUATION_ANNOTATION = "llmserving.io/model-evaluation"
MODEL_QUANTIZATION_SOURCE_ANNOTATION = "llmserving.io/model-quantization-source"
# The quantization annotation's values: the spec's `quantization`, or this one when vLLM
# quantizes 16-bit weights at load (no quantized checkpoint, so no quantization source).
QUANTIZED_AT_LOAD = "fp8-at-load"
UNQUANTIZED = "none"
# The provenance every model a production stack serves must carry (model-approved).
MODEL_PROVENANCE_ANNOTATIONS = (
    MODEL_LICENSE_ANNOTATION,
    MODEL_APPROVED_BY_ANNOTATION,
    MODEL_APPROVAL_REF_ANNOTATION,
    MODEL_APPROVED_ON_ANNOTATION,
    MODEL_EVALUATION_ANNOTATION,
)
