"""Minimal hand-made resources for the policy tests, shaped as the engine shows them."""

from __future__ import annotations

import copy
from typing import Any

from components.images import MIRROR_PREFIXES_OUTPUT
from tools import policy_gate
from tools.render import Rendered

PROJECT = "private-llm-serving"
COMMIT = "0e9e39f249a16976918f6564b8830bc894c89659"
VLLM_IMAGE = "docker.io/vllm/vllm-openai:v0.32.0"
POOL_LABELS = {"llmserving.io/pool": "chat", "llmserving.io/class": "chat", "llmserving.io/model": "m"}


def resource(resource_type: str, props: dict[str, Any], name: str | None = None, stack: str = "dev") -> dict[str, Any]:
    """One entry of resources.json."""
    name = name or props.get("metadata", {}).get("name", "r")
    return {
        "urn": f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}",
        "type": resource_type,
        "name": name,
        "parent": None,
        "inputs": props,
    }


def violations(rule: str, *resources: dict[str, Any], outputs: dict | None = None,
               config: dict | None = None) -> list[str]:  # fmt: skip
    """The messages `rule` reports over `resources`, run the way `tools check` runs the pack."""
    rendered = Rendered(manifests=[], resources=list(resources), outputs=outputs or {}, capacity={})
    found = policy_gate.violations(rendered, policy_gate.reconcile(config or {}))
    return [v.message for v in found if v.rule == rule]


def container(image: str = VLLM_IMAGE, args: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": "main", "image": image, **({"args": args} if args is not None else {}), **fields}


def deployment(*containers: dict[str, Any], labels: dict | None = None, volumes: list | None = None,
               name: str = "server", namespace: str = "llm-serving") -> dict[str, Any]:  # fmt: skip
    """A Deployment resource of the given containers."""
    pod_spec: dict[str, Any] = {"containers": list(containers)}
    if volumes is not None:
        pod_spec["volumes"] = volumes
    props = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"metadata": {"labels": labels or {}}, "spec": pod_spec}},
    }
    return resource("kubernetes:apps/v1:Deployment", props)


def vllm_deployment(*args: str, **fields: Any) -> dict[str, Any]:
    return deployment(container(command=["vllm", "serve"], args=["/models", *args], **fields))


def inference_service(name: str = "chat", workload_class: str = "chat", args: list[str] | None = None,
                      namespace: str = "llm-serving", **predictor: Any) -> dict[str, Any]:  # fmt: skip
    """A vLLM InferenceService in Standard mode with KEDA, close to what ServingPool declares."""
    labels = {**POOL_LABELS, "llmserving.io/pool": name, "llmserving.io/class": workload_class}
    model = {
        "modelFormat": {"name": "vllm"},
        "runtime": f"{name}-vllm",
        "storageUri": f"pvc://model-cache/models/org/m/{COMMIT}",
        "args": args if args is not None else ["/mnt/models", "--max-model-len", "8192"],
        "resources": {
            "requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"},
        },
    }
    props = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                "serving.kserve.io/autoscalerClass": "keda",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 2,
                "labels": copy.deepcopy(labels),
                "model": model,
                "autoScaling": {"metrics": [{"type": "External", "external": {"metric": {"query": "q"}}}]},
                **predictor,
            }
        },
    }
    return resource("kubernetes:serving.kserve.io/v1beta1:InferenceService", props, name=name)


def predictor(isvc: dict[str, Any]) -> dict[str, Any]:
    return isvc["inputs"]["spec"]["predictor"]


def mirror_outputs(*prefixes: str) -> dict[str, Any]:
    """Stack outputs of a stack whose spec configures a registry mirror with these prefixes."""
    return {MIRROR_PREFIXES_OUTPUT: list(prefixes)}


def capacity_outputs(**pools: dict[str, Any]) -> dict[str, Any]:
    """Stack outputs with capacity figures; each pool's figures default to a fitting 8192-token pool."""
    fitting = {"fits": True, "errors": [], "maxModelLen": 8192, "tensorParallelSize": 1, "gpuMemoryUtilization": 0.9}
    return {"capacity": {name: {**fitting, **figures} for name, figures in pools.items()}}
