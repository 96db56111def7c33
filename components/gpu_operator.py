"""`GpuOperator`: the NVIDIA GPU Operator, so GPU nodes advertise `nvidia.com/gpu`.

The device plugin, GPU feature discovery and the DCGM exporter run on every GPU node
(they tolerate the GPU taint). On EKS NVIDIA AMIs the driver and container toolkit are
already on the node, so the operator installs neither; Bottlerocket's NVIDIA variant also
runs its own device plugin, so on all-Bottlerocket node pools the operator's stays off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import charts, conventions, versions
from components.chart_images import GPU_OPERATOR_IMAGES, deep_merge, values_for
from components.images import NO_MIRROR, Mirror

NAMESPACE = "gpu-operator"
# Operands are privileged DaemonSets (driver, toolkit, device plugin, DCGM).
_PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


@dataclass(frozen=True)
class GpuOperatorArgs:
    driver_on_host: bool
    monitoring: bool
    device_plugin: bool = True  # off where the nodes run their own (Bottlerocket)
    mirror: Mirror = NO_MIRROR  # every operand image, NFD's included, comes through it


class GpuOperator(pulumi.ComponentResource):
    """The GPU Operator chart in its namespace; exposes `chart`, `namespace`, `values`."""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:hardware:GpuOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.values = gpu_operator_values(args)
        self.namespace = charts.namespace(NAMESPACE, "gpu-operator", child, **_PRIVILEGED)
        self.chart = charts.pinned_chart(
            "gpu-operator", versions.GPU_OPERATOR_CHART, self.namespace, self.values, child
        )
        self.register_outputs({"namespace": NAMESPACE, "version": versions.GPU_OPERATOR_CHART.version})


def gpu_operator_values(args: GpuOperatorArgs) -> dict[str, Any]:
    tolerations = conventions.gpu_tolerations()
    values = {
        "driver": {"enabled": not args.driver_on_host},
        "toolkit": {"enabled": not args.driver_on_host},
        "devicePlugin": {"enabled": args.device_plugin},
        "gfd": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": {"enabled": args.monitoring}},
        "daemonsets": {"tolerations": tolerations},
        # Feature discovery labels the GPU nodes the operands are scheduled by.
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
        # A pre-upgrade Helm hook Job; helm.v4.Chart applies the chart's CRDs itself on every update.
        "operator": {"upgradeCRD": False},
    }
    return deep_merge(values, values_for(GPU_OPERATOR_IMAGES, args.mirror))
