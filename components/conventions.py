"""Naming and labelling conventions shared by every component (DESIGN.md section 7).

The GPU node contract lives here too: node pools put these labels and this taint on
their nodes, and serving pools select and tolerate exactly the same ones.
"""

from __future__ import annotations

PART_OF = "private-llm-serving"
NODE_POOL_LABEL = "llmserving.io/node-pool"
POOL_LABEL = "llmserving.io/pool"
CLASS_LABEL = "llmserving.io/class"
MODEL_LABEL = "llmserving.io/model"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_EFFECT = "NoSchedule"


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
