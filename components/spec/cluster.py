"""The cluster the platform deploys into: its kind, the serving namespace, the GPU node
pools (managed node groups, Karpenter or existing nodes), and the switches of the GPU
Operator and the serving control plane the cluster may already run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.alias_generators import to_camel

from components.catalog import GPUS, INSTANCE_TYPES
from components.spec.base import (
    AWS_REGION_PATTERN,
    DURATION_MAX_SECONDS,
    DnsLabel,
    Int32,
    Problem,
    Switch,
    Text,
    _Spec,
    not_in_catalog,
)

# --- cluster --------------------------------------------------------------------------


class EksCluster(_Spec):
    """An existing EKS cluster, looked up by name; kubeconfig authenticates with `aws eks get-token`."""

    kind: Literal["eks"]
    # EKS's CreateCluster name constraint: 1-100 characters, a letter or digit first.
    name: Text = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]*$", max_length=100, description="EKS cluster name.")
    region: Text = Field(pattern=AWS_REGION_PATTERN, description="AWS region, e.g. us-east-1.")


class KubeconfigCluster(_Spec):
    """Any conformant cluster reached through a kubeconfig file and context."""

    kind: Literal["kubeconfig"]
    path: Text | None = Field(default=None, max_length=4096, description="Kubeconfig path; default ~/.kube/config.")
    context: Text | None = Field(
        default=None, min_length=1, max_length=253, description="Context name; default the current one."
    )


ClusterSpec = Annotated[EksCluster | KubeconfigCluster, Field(discriminator="kind")]


class Namespaces(_Spec):
    serving: DnsLabel = Field(default="llm-serving", description="Namespace of the serving pools.")


# --- cluster layer: GPU Operator and serving control plane ----------------------------

# Knative's own config-defaults max-revision-timeout-seconds; its webhook rejects a
# longer revision timeout unless the KnativeServing raises it.
KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS = 600


class InstallSwitch(_Spec):
    enabled: Switch = Field(default=True, description="Install it; false when the cluster already runs it.")


class GpuOperatorSpec(InstallSwitch):
    """The NVIDIA GPU Operator: device plugin, feature discovery, DCGM exporter."""

    driver_on_host: Switch | None = Field(
        default=None,
        description="Nodes already carry the NVIDIA driver and container toolkit (EKS NVIDIA AMIs do), so the "
        "operator installs neither. Default: true on eks clusters, false otherwise.",
    )


class KnativeSpec(InstallSwitch):
    """Knative Serving through the Knative Operator; Knative-mode pools run on it."""

    max_revision_timeout_seconds: Int32 | None = Field(
        default=None,
        gt=0,
        le=DURATION_MAX_SECONDS,
        description="Knative's max-revision-timeout-seconds. Default: the longest knative pool timeout (at "
        f"least Knative's own {KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS}) when we install Knative, Knative's "
        "default when the cluster runs its own.",
    )


class ControlPlaneSpec(_Spec):
    """cert-manager, Knative, KServe and KEDA; switch off each one the cluster already runs."""

    cert_manager: InstallSwitch = InstallSwitch()
    knative: KnativeSpec = KnativeSpec()
    kserve: InstallSwitch = InstallSwitch()
    keda: InstallSwitch = InstallSwitch()


# --- GPU node pools -------------------------------------------------------------------


DURATION_PATTERN = r"^([0-9]+(s|m|h))+$"


# Nodes of one node pool: EKS managed node groups allow at most 1000 by default (service quota).
MAX_NODES = 1000


class NodeScaling(_Spec):
    min: Int32 = Field(default=0, ge=0, le=MAX_NODES, description="Fewest nodes (managed node groups).")
    max: Int32 = Field(
        default=1, ge=1, le=MAX_NODES, description="Most nodes; for Karpenter, the pool's GPU limit in nodes."
    )
    desired: Int32 | None = Field(
        default=None, ge=0, le=MAX_NODES, description="Nodes at creation (managed); default min."
    )


class KarpenterOptions(_Spec):
    node_role: Text | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$",  # IAM's role name rule
        description="IAM role of Karpenter's nodes (with its EKS access entry); default "
        "KarpenterNodeRole-<cluster name>, the Karpenter getting-started convention.",
    )
    consolidate_after: Text = Field(
        default="15m",
        pattern=DURATION_PATTERN,
        description="How long a node must stay empty before Karpenter removes it.",
    )
    expire_after: Text = Field(
        default="Never",
        pattern=r"^(([0-9]+(s|m|h))+|Never)$",
        description="Maximum node age; Never, because expiry evicts serving pods that took minutes to load.",
    )


class NodePoolSpec(_Spec):
    """A set of GPU nodes; either an EC2 instance type from the catalog, or a GPU model and count."""

    name: DnsLabel
    instance_type: Text | None = Field(default=None, max_length=64, description="EC2 instance type, e.g. g6e.2xlarge.")
    gpu: Text | None = Field(default=None, max_length=64, description="GPU catalog key, for nodes that are not EC2.")
    gpu_count: Int32 | None = Field(default=None, gt=0, le=64, description="GPUs per node, with `gpu`.")
    kind: Literal["managed", "karpenter", "existing"] = Field(
        default="existing",
        description="managed: an EKS managed node group; karpenter: a Karpenter NodePool and EC2NodeClass "
        "(Karpenter already installed); existing: nodes labelled and tainted by someone else. "
        "Default: managed on eks clusters, existing on kubeconfig clusters.",
    )
    ami_family: Literal["al2023", "bottlerocket"] = Field(
        default="al2023", description="EKS-optimized NVIDIA AMI family: the driver and container toolkit ship on it."
    )
    ami_version: Text | None = Field(
        default=None,
        pattern=r"^(latest|v[0-9][0-9.]*)$",
        description="Karpenter: the AMI release, e.g. v20260810 (al2023); 'latest' replaces the nodes at "
        "every AWS release.",
    )
    capacity_type: Literal["onDemand", "spot", "capacityBlock"] = Field(
        default="onDemand", description="How the instances are bought; capacityBlock needs capacityReservationId."
    )
    capacity_reservation_id: Text | None = Field(
        default=None, pattern=r"^cr-[0-9a-z]+$", description="The Capacity Block for ML (cr-...) to launch into."
    )
    scaling: NodeScaling = NodeScaling()
    disk_size_gib: Int32 = Field(
        default=200,
        ge=20,
        le=16384,
        description="Encrypted node disk for images and local files: the root volume on AL2023, the data "
        "volume on Bottlerocket.",
    )
    subnet_ids: tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-z]+$")], ...] = Field(
        default=(),
        description="Subnets for the nodes; default the cluster's subnets. A capacity block lives in one "
        "availability zone: give that zone's subnets.",
    )
    karpenter: KarpenterOptions = KarpenterOptions()

    # Both need a node pool that `node_pool_problems` accepts: an instance type, or gpu and gpuCount.
    @property
    def gpu_key(self) -> str:
        if self.instance_type:
            return INSTANCE_TYPES[self.instance_type].gpu
        if self.gpu is None:
            raise ValueError(f"node pool '{self.name}' names neither instanceType nor gpu")
        return self.gpu

    @property
    def gpus_per_node(self) -> int:
        if self.instance_type:
            return INSTANCE_TYPES[self.instance_type].gpu_count
        if self.gpu_count is None:
            raise ValueError(f"node pool '{self.name}' names neither instanceType nor gpuCount")
        return self.gpu_count


def _with_node_pool_kinds(platform: Any) -> Any:
    """An EKS cluster gets managed node groups unless a pool says otherwise; any other cluster
    cannot create nodes, so its pools are existing ones."""
    if not isinstance(platform, dict) or not isinstance(platform.get("nodePools"), list):
        return platform
    cluster = platform.get("cluster")
    default = "managed" if isinstance(cluster, dict) and cluster.get("kind") == "eks" else "existing"
    node_pools = [
        {"kind": default, **node_pool} if isinstance(node_pool, dict) else node_pool
        for node_pool in platform["nodePools"]
    ]
    return {**platform, "nodePools": node_pools}


# --- node pool rules ------------------------------------------------------------------

# Node pool fields and the kinds they apply to; anything else is a mistake to point out,
# since the kind would silently ignore it.
CLOUD_KINDS = ("managed", "karpenter")
_FIELD_KINDS = {
    "ami_family": CLOUD_KINDS,
    "ami_version": ("karpenter",),
    "capacity_type": CLOUD_KINDS,
    "capacity_reservation_id": CLOUD_KINDS,
    "scaling": CLOUD_KINDS,
    "disk_size_gib": CLOUD_KINDS,
    "subnet_ids": CLOUD_KINDS,
    "karpenter": ("karpenter",),
}


def node_pool_problems(path: str, node_pool: NodePoolSpec, *, on_eks: bool) -> Iterator[Problem]:
    """What is wrong with one node pool on its own, given whether the cluster is EKS."""
    if node_pool.instance_type is not None:
        if node_pool.gpu is not None or node_pool.gpu_count is not None:
            yield path, "give either instanceType, or gpu and gpuCount, not both"
        elif node_pool.instance_type not in INSTANCE_TYPES:
            yield f"{path}.instanceType", not_in_catalog(node_pool.instance_type, INSTANCE_TYPES)
    elif node_pool.gpu is None or node_pool.gpu_count is None:
        yield path, "give instanceType (EC2), or both gpu and gpuCount"
    elif node_pool.gpu not in GPUS:
        yield f"{path}.gpu", not_in_catalog(node_pool.gpu, GPUS)
    yield from _node_pool_kind_problems(path, node_pool, on_eks=on_eks)


def _node_pool_kind_problems(path: str, node_pool: NodePoolSpec, *, on_eks: bool) -> Iterator[Problem]:
    kind = node_pool.kind
    if kind in CLOUD_KINDS and not on_eks:
        yield (
            f"{path}.kind",
            f"'{kind}' creates AWS resources and needs an eks cluster; a kubeconfig cluster allows: existing",
        )
    if kind in CLOUD_KINDS and node_pool.instance_type is None:
        yield f"{path}.instanceType", f"required for kind {kind}: the EC2 instance type to launch"
    for field in sorted(node_pool.model_fields_set & set(_FIELD_KINDS)):
        if kind not in _FIELD_KINDS[field]:
            yield f"{path}.{to_camel(field)}", f"applies to {' and '.join(_FIELD_KINDS[field])} node pools only"
    if kind in CLOUD_KINDS:
        yield from _cloud_node_pool_problems(path, node_pool)


def _cloud_node_pool_problems(path: str, node_pool: NodePoolSpec) -> Iterator[Problem]:
    block = node_pool.capacity_type == "capacityBlock"
    if block and node_pool.capacity_reservation_id is None:
        yield f"{path}.capacityReservationId", "required with capacityType capacityBlock: the cr-... id of the block"
    if not block and node_pool.capacity_reservation_id is not None:
        yield f"{path}.capacityReservationId", "applies with capacityType capacityBlock only"
    yield from _scaling_problems(f"{path}.scaling", node_pool)
    if node_pool.kind == "karpenter" and node_pool.ami_version is None:
        yield (
            f"{path}.amiVersion",
            "required for karpenter node pools: pin an AMI release (e.g. v20260810), or 'latest' to take "
            "every release (each one replaces the nodes)",
        )


def _scaling_problems(path: str, node_pool: NodePoolSpec) -> Iterator[Problem]:
    scaling = node_pool.scaling
    if node_pool.kind == "karpenter":
        for field in sorted(scaling.model_fields_set - {"max"}):
            yield f"{path}.{field}", "Karpenter launches nodes for pending pods; only scaling.max (the limit) applies"
    elif scaling.min > scaling.max:
        yield f"{path}.min", f"{scaling.min} is above scaling.max ({scaling.max})"
    elif scaling.desired is not None and not scaling.min <= scaling.desired <= scaling.max:
        yield f"{path}.desired", f"{scaling.desired} is outside scaling.min..max ({scaling.min}..{scaling.max})"
