"""Where images and weights come from: the registry mirror every image is pulled through,
the model mirror the warm-up downloads from, and the model cache serving pods read."""

from __future__ import annotations

import posixpath
from typing import Annotated, Literal

from pydantic import Field

from components.spec.base import AWS_REGION_PATTERN, DnsLabel, HttpUrl, Int32, Quantity, Switch, Text, _Spec
from components.spec.models import ModelSpec

# --- model cache ----------------------------------------------------------------------


class ModelCacheSpec(_Spec):
    """Where serving pods read weights from; they never download."""

    kind: Literal["pvc", "local"] = Field(
        default="pvc",
        description="pvc: one ReadWriteMany PersistentVolumeClaim that warm-up Jobs fill and every pool "
        "mounts; local: KServe's LocalModelCache, each revision downloaded onto the GPU nodes' own disks.",
    )
    claim_name: DnsLabel = Field(
        default="model-cache",
        description="pvc: the PersistentVolumeClaim holding models/<org>/<name>/<revision>/ for every pinned model.",
    )
    size: Quantity | None = Field(
        default=None,
        description="Cache capacity, e.g. 500Gi; must hold every pinned model's weights x 1.1. pvc: the "
        "claim's request; local: the space each GPU node sets aside.",
    )
    storage_class_name: DnsLabel | None = Field(
        default=None,
        description="pvc: create the claim on this ReadWriteMany storage class (EFS, FSx for Lustre, NFS), "
        "retained when the stack is destroyed. Absent: the claim already exists.",
    )
    local_path: Text = Field(
        default="/mnt/models",
        pattern=r"^/[A-Za-z0-9._/-]+$",
        max_length=255,
        description="local: the directory on each GPU node's disk that holds the cache: an absolute, "
        "normalised path outside the node's system directories.",
    )
    warmup_deadline_seconds: Int32 = Field(
        default=7200,
        ge=300,
        le=86400,
        description="pvc: how long one warm-up Job may run, all retries included (activeDeadlineSeconds).",
    )
    warmup_retries: Int32 = Field(
        default=3, ge=0, le=10, description="pvc: how often a failed warm-up pod is retried (backoffLimit)."
    )


# ModelCacheSpec fields and the cache kinds they apply to.
_CACHE_FIELD_KINDS = {
    "claim_name": "pvc",
    "storage_class_name": "pvc",
    "warmup_deadline_seconds": "pvc",
    "warmup_retries": "pvc",
    "local_path": "local",
}


# --- registry mirror ------------------------------------------------------------------

UpstreamRegistry = Literal["docker.io", "ghcr.io", "quay.io", "nvcr.io", "registry.k8s.io", "gcr.io", "public.ecr.aws"]
RepositoryPrefix = Annotated[
    str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", max_length=200)
]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
# ECR only accepts Secrets Manager secrets named with this prefix as upstream credentials.
PULL_THROUGH_SECRET_PATTERN = r"^arn:aws(-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache/.+$"


class _RegistryMirrorBase(_Spec):
    digests: dict[str, Digest] = Field(
        default_factory=dict,
        description="Digests to pin, keyed by the upstream image as the platform names it "
        "(e.g. docker.io/vllm/vllm-openai:v0.32.0); the reference keeps its tag and gains @sha256:....",
    )


class NoRegistryMirror(_RegistryMirrorBase):
    """Images come straight from their upstream registries."""

    kind: Literal["none"] = "none"


class EcrPullThroughMirror(_RegistryMirrorBase):
    """ECR pull-through cache rules in the cluster's AWS account: the first pull of an image
    fetches it upstream, later pulls (every node, every replica) come from ECR."""

    kind: Literal["ecr-pull-through"]
    account_id: Text = Field(pattern=r"^\d{12}$", description="AWS account of the private ECR registry.")
    region: Text | None = Field(
        default=None, pattern=AWS_REGION_PATTERN, description="Region of the registry; default the cluster's."
    )
    credential_arns: dict[UpstreamRegistry, Annotated[str, Field(pattern=PULL_THROUGH_SECRET_PATTERN)]] = Field(
        default_factory=dict,
        description="Existing Secrets Manager secret (ecr-pullthroughcache/...) per upstream that needs "
        "credentials: docker.io and ghcr.io.",
    )
    copied_prefixes: dict[UpstreamRegistry, RepositoryPrefix] = Field(
        default_factory=dict,
        description="Upstreams ECR cannot pull through (nvcr.io, gcr.io): the ECR repository prefix under "
        "which your image copy job (e.g. crane or skopeo in CI) keeps their images, upstream path and tag unchanged.",
    )
    node_roles: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9+=,.@_-]{1,64}$")], ...] = Field(
        default=(),
        description="IAM role names of the cluster's other nodes (those running cert-manager, Knative, KServe, "
        "KEDA, Envoy Gateway); like the GPU nodes' roles, they get the right to import images into the cache.",
    )


class ExternalRegistryMirror(_RegistryMirrorBase):
    """An existing registry mirror (Harbor proxy cache, Artifactory, Nexus, Quay) that serves
    each upstream under a path prefix."""

    kind: Literal["external"]
    host: Text = Field(
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$", description="Mirror registry host[:port]."
    )
    prefixes: dict[UpstreamRegistry, RepositoryPrefix] = Field(
        description="Path prefix per upstream registry, e.g. {docker.io: dockerhub-proxy}; every upstream "
        "the platform pulls from needs one."
    )


RegistryMirrorSpec = Annotated[
    NoRegistryMirror | EcrPullThroughMirror | ExternalRegistryMirror, Field(discriminator="kind")
]


# --- model mirror ---------------------------------------------------------------------


class HubModelMirror(_Spec):
    """The public Hugging Face hub."""

    kind: Literal["hub"] = "hub"
    token: Switch = Field(
        default=False,
        description="Download with the hub token from secret config private-llm-serving:hfToken: gated "
        "models (Llama) need it, and anonymous downloads are rate-limited.",
    )


class HubMirrorModelMirror(_Spec):
    """An internal Hugging Face-compatible endpoint (HF_ENDPOINT)."""

    kind: Literal["hub-mirror"]
    endpoint: HttpUrl = Field(description="Base URL of the mirror.")
    token: Switch = Field(default=False, description="The mirror wants the hub token (hfToken) too.")


class S3ModelMirror(_Spec):
    """An S3 bucket prefix holding <org>/<name>/<revision>/ for every pinned model, read through
    an IAM role bound to the warm-up Jobs' service account with EKS Pod Identity."""

    kind: Literal["s3"]
    bucket: Text = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket name.")
    prefix: Text = Field(
        pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$",
        description="Key prefix (no leading or trailing slash); the role may read below it and nowhere else.",
    )
    region: Text | None = Field(
        default=None, pattern=AWS_REGION_PATTERN, description="Region of the bucket; default the cluster's."
    )
    kms_key_arn: Text | None = Field(
        default=None,
        pattern=r"^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/.+$",
        description="KMS key the objects are encrypted with (SSE-KMS); the role may decrypt with it.",
    )

    def source_path(self, model: ModelSpec) -> str:
        """Where `model`'s revision lies in the bucket, without scheme."""
        return f"{self.bucket}/{self.prefix}/{model.source}/{model.revision}"


ModelMirrorSpec = Annotated[HubModelMirror | HubMirrorModelMirror | S3ModelMirror, Field(discriminator="kind")]


# Node directories a model cache must not be, or be inside: the OS, the kubelet's and the
# container runtime's state (pod volumes and secrets live under /var/lib/kubelet), logs.
# KServe's LocalModelNodeGroup mounts `localPath` from the host into its download Jobs,
# which write there as root.
SYSTEM_DIRECTORIES = (
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin",
    "/sys", "/tmp", "/usr", "/var/lib/containerd", "/var/lib/docker", "/var/lib/kubelet", "/var/log", "/var/run",
)  # fmt: skip


def host_path_problem(path: str) -> str | None:
    """Why `path` is no place for the model cache on a node, or None."""
    normal = posixpath.normpath(path)
    if normal != path or "/./" in f"{path}/" or "/../" in f"{path}/":
        return f"must be a normalised absolute path (normalised: {normal}); no '.', '..', '//' or trailing '/'"
    if normal == "/" or normal in ("/var", "/var/lib", "/mnt", "/opt", "/srv"):
        return "must be a directory of its own, not the root of the disk or a top-level directory"
    for system in SYSTEM_DIRECTORIES:
        if normal == system or normal.startswith(f"{system}/"):
            return f"is inside {system}, a system directory of the node; use e.g. /mnt/models"
    return None
