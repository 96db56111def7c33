"""The typed stack configuration: `private-llm-serving:platform`, parsed into `PlatformSpec`.

Pure Python (pydantic), no Pulumi imports. `load_platform` is the one entry point: it
applies class defaults, validates every field and every cross-field rule, and raises
`SpecError` with one line per problem, each naming the stack file and the config path.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.capacity import PoolCapacity, evaluate_pool, model_cache_error, weight_bytes_total
from components.catalog import ARCHITECTURES, GPUS, INSTANCE_TYPES, Architecture
from components.chart_images import platform_images
from components.images import ECR_PULL_THROUGH, Mirror, ecr_registry_host, parse, unpinned
from components.vllm_args import managed_flag_clash

CONFIG_KEY = "private-llm-serving:platform"

# KServe's admission webhook pattern for InferenceService names; 40 characters keeps
# the generated "<name>-predictor-<hash>" Knative and Deployment names under 63.
POOL_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HOSTNAME_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$"
HUB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$"
COMMIT_PATTERN = r"^[0-9a-f]{40}$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"

# Knative's own config-defaults max-revision-timeout-seconds; its webhook rejects a
# longer revision timeout unless the KnativeServing raises it.
KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS = 600
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]
LabelKey = Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=316)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN)]
# A client name of `apiKeys`: a Secret data key and a header value the gateway forwards.
CLIENT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
ClientName = Annotated[str, Field(pattern=CLIENT_NAME_PATTERN, max_length=63)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        protected_namespaces=(),
    )


# --- cluster --------------------------------------------------------------------------


class EksCluster(_Spec):
    """An existing EKS cluster, looked up by name; kubeconfig authenticates with `aws eks get-token`."""

    kind: Literal["eks"]
    name: str = Field(min_length=1, max_length=100, description="EKS cluster name.")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region, e.g. us-east-1.")


class KubeconfigCluster(_Spec):
    """Any conformant cluster reached through a kubeconfig file and context."""

    kind: Literal["kubeconfig"]
    path: str | None = Field(default=None, description="Kubeconfig path; default ~/.kube/config.")
    context: str | None = Field(default=None, description="Context name; default the current one.")


ClusterSpec = Annotated[EksCluster | KubeconfigCluster, Field(discriminator="kind")]


class Namespaces(_Spec):
    serving: DnsLabel = Field(default="llm-serving", description="Namespace of the serving pools.")


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
    local_path: str = Field(
        default="/mnt/models",
        pattern=r"^/[A-Za-z0-9._/-]+$",
        description="local: the directory on each GPU node's disk that holds the cache.",
    )
    warmup_deadline_seconds: int = Field(
        default=7200,
        ge=300,
        le=86400,
        description="pvc: how long one warm-up Job may run, all retries included (activeDeadlineSeconds).",
    )
    warmup_retries: int = Field(
        default=3, ge=0, le=10, description="pvc: how often a failed warm-up pod is retried (backoffLimit)."
    )


# --- supply chain: registry mirror and model mirror -----------------------------------

UpstreamRegistry = Literal["docker.io", "ghcr.io", "quay.io", "nvcr.io", "registry.k8s.io", "gcr.io", "public.ecr.aws"]
RepositoryPrefix = Annotated[
    str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$", max_length=200)
]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
AWS_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
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
    account_id: str = Field(pattern=r"^\d{12}$", description="AWS account of the private ECR registry.")
    region: str | None = Field(
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
    host: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$", description="Mirror registry host[:port]."
    )
    prefixes: dict[UpstreamRegistry, RepositoryPrefix] = Field(
        description="Path prefix per upstream registry, e.g. {docker.io: dockerhub-proxy}; every upstream "
        "the platform pulls from needs one."
    )


RegistryMirrorSpec = Annotated[
    NoRegistryMirror | EcrPullThroughMirror | ExternalRegistryMirror, Field(discriminator="kind")
]


class HubModelMirror(_Spec):
    """The public Hugging Face hub."""

    kind: Literal["hub"] = "hub"
    token: bool = Field(
        default=False,
        description="Download with the hub token from secret config private-llm-serving:hfToken: gated "
        "models (Llama) need it, and anonymous downloads are rate-limited.",
    )


class HubMirrorModelMirror(_Spec):
    """An internal Hugging Face-compatible endpoint (HF_ENDPOINT)."""

    kind: Literal["hub-mirror"]
    endpoint: str = Field(pattern=r"^https?://[^\s/]+(:\d+)?(/\S*)?$", description="Base URL of the mirror.")
    token: bool = Field(default=False, description="The mirror wants the hub token (hfToken) too.")


class S3ModelMirror(_Spec):
    """An S3 bucket prefix holding <org>/<name>/<revision>/ for every pinned model, read through
    an IAM role bound to the warm-up Jobs' service account with EKS Pod Identity."""

    kind: Literal["s3"]
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket name.")
    prefix: str = Field(
        pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$",
        description="Key prefix (no leading or trailing slash); the role may read below it and nowhere else.",
    )
    region: str | None = Field(
        default=None, pattern=AWS_REGION_PATTERN, description="Region of the bucket; default the cluster's."
    )
    kms_key_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/.+$",
        description="KMS key the objects are encrypted with (SSE-KMS); the role may decrypt with it.",
    )

    def source_path(self, model: ModelSpec) -> str:
        """Where `model`'s revision lies in the bucket, without scheme."""
        return f"{self.bucket}/{self.prefix}/{model.source}/{model.revision}"


ModelMirrorSpec = Annotated[HubModelMirror | HubMirrorModelMirror | S3ModelMirror, Field(discriminator="kind")]


class MonitoringSpec(_Spec):
    enabled: bool = Field(
        default=True, description="Create scrape configs, alerts and dashboards (needs the Prometheus Operator CRDs)."
    )
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc.cluster.local:9090",
        pattern=r"^https?://[^\s/]+(:\d+)?(/\S*)?$",
        description="Prometheus that KEDA queries for vLLM's gauges.",
    )
    namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of the cluster's Prometheus and Grafana; the PodMonitor, alert rules and "
        "dashboard go there, so a Prometheus that watches only its own namespace still finds them.",
    )
    release_label: LabelValue = Field(
        default="kube-prometheus-stack",
        description="Value of the `release` label the Prometheus selects monitors and rules by "
        "(kube-prometheus-stack's convention: its Helm release name).",
    )
    dashboard_label: LabelKey = Field(
        default="grafana_dashboard", description="Label the Grafana dashboard sidecar watches ConfigMaps for."
    )
    dashboard_label_value: LabelValue = Field(default="1", description="Value of `dashboardLabel`.")
    alert_for_minutes: int = Field(
        default=10, ge=1, le=120, description="How long a condition must hold before its alert fires."
    )
    kv_cache_saturation: float = Field(
        default=0.95, gt=0, le=1, description="KV-cache usage fraction that, with requests waiting, alerts."
    )
    error_ratio: float = Field(
        default=0.05, gt=0, lt=1, description="Share of requests ending in abort or error that alerts."
    )
    runbook_url: str = Field(
        default="docs/runbook.md",
        pattern=r"^\S+$",
        description="Where docs/runbook.md is served; alerts link to <runbookUrl>#<alert name in lower case>.",
    )


class IssuerRef(_Spec):
    kind: Literal["ClusterIssuer", "Issuer"] = Field(description="An Issuer must live in the gateway namespace.")
    name: str = Field(min_length=1, max_length=253, description="cert-manager issuer name.")


class GatewayTls(_Spec):
    """The HTTPS listener's certificate: issued by cert-manager, or an existing TLS Secret."""

    issuer: IssuerRef | None = Field(
        default=None,
        description="cert-manager issuer of a certificate for every pool hostname; absent: secretName "
        "must already exist in the gateway namespace.",
    )
    secret_name: DnsLabel = Field(default="llm-gateway-tls", description="TLS Secret the listener serves.")


class GatewaySpec(_Spec):
    """Where the one Gateway API `Gateway` in front of every pool lives."""

    namespace: DnsLabel = Field(default="llm-gateway", description="Namespace of the Gateway and its proxies.")
    name: DnsLabel = Field(default="llm-gateway", description="Name of the Gateway object.")
    class_name: DnsLabel = Field(default="envoy-gateway", description="GatewayClass of the Gateway.")
    tls: GatewayTls = GatewayTls()
    internet_facing: bool = Field(
        default=False,
        description="Expose the gateway's load balancer to the internet (EKS: an internet-facing NLB). "
        "Off: an internal NLB, reachable from the VPC and its peers only.",
    )
    service_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Extra annotations on the gateway's load balancer Service (subnets, security groups, "
        "or an on-prem load balancer's settings); they may not restate the scheme set by internetFacing.",
    )
    service_type: Literal["LoadBalancer", "ClusterIP"] | None = Field(
        default=None,
        description="How the edge is exposed. Default: a LoadBalancer on EKS (internal NLB) or where "
        "sourceRanges fence it in; elsewhere ClusterIP, for an ingress of your own in front.",
    )
    source_ranges: tuple[Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")], ...] = Field(
        default=(),
        description="CIDRs that may reach the gateway's load balancer (loadBalancerSourceRanges); on "
        "clusters other than EKS, private ranges here are what keeps the load balancer internal.",
    )
    replicas: int = Field(default=2, ge=1, le=20, description="Envoy proxies per gateway; rate limits count per proxy.")
    vllm_api_key: bool = Field(
        default=False,
        description="vLLM itself also checks the client's API key (defence in depth behind the gateway).",
    )


# --- cluster layer: GPU Operator and serving control plane ----------------------------


class InstallSwitch(_Spec):
    enabled: bool = Field(default=True, description="Install it; false when the cluster already runs it.")


class GpuOperatorSpec(InstallSwitch):
    """The NVIDIA GPU Operator: device plugin, feature discovery, DCGM exporter."""

    driver_on_host: bool | None = Field(
        default=None,
        description="Nodes already carry the NVIDIA driver and container toolkit (EKS NVIDIA AMIs do), so the "
        "operator installs neither. Default: true on eks clusters, false otherwise.",
    )


class KnativeSpec(InstallSwitch):
    """Knative Serving through the Knative Operator; Knative-mode pools run on it."""

    max_revision_timeout_seconds: int | None = Field(
        default=None,
        gt=0,
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


# --- hardware and models --------------------------------------------------------------


DURATION_PATTERN = r"^([0-9]+(s|m|h))+$"


class NodeScaling(_Spec):
    min: int = Field(default=0, ge=0, description="Fewest nodes (managed node groups).")
    max: int = Field(default=1, ge=1, description="Most nodes; for Karpenter, the pool's GPU limit in nodes.")
    desired: int | None = Field(default=None, ge=0, description="Nodes at creation (managed); default min.")


class KarpenterOptions(_Spec):
    node_role: str | None = Field(
        default=None,
        min_length=1,
        description="IAM role of Karpenter's nodes (with its EKS access entry); default "
        "KarpenterNodeRole-<cluster name>, the Karpenter getting-started convention.",
    )
    consolidate_after: str = Field(
        default="15m",
        pattern=DURATION_PATTERN,
        description="How long a node must stay empty before Karpenter removes it.",
    )
    expire_after: str = Field(
        default="Never",
        pattern=r"^(([0-9]+(s|m|h))+|Never)$",
        description="Maximum node age; Never, because expiry evicts serving pods that took minutes to load.",
    )


class NodePoolSpec(_Spec):
    """A set of GPU nodes; either an EC2 instance type from the catalog, or a GPU model and count."""

    name: DnsLabel
    instance_type: str | None = Field(default=None, description="EC2 instance type, e.g. g6e.2xlarge.")
    gpu: str | None = Field(default=None, description="GPU catalog key, for nodes that are not EC2.")
    gpu_count: int | None = Field(default=None, gt=0, description="GPUs per node, with `gpu`.")
    kind: Literal["managed", "karpenter", "existing"] = Field(
        default="existing",
        description="managed: an EKS managed node group; karpenter: a Karpenter NodePool and EC2NodeClass "
        "(Karpenter already installed); existing: nodes labelled and tainted by someone else. "
        "Default: managed on eks clusters, existing on kubeconfig clusters.",
    )
    ami_family: Literal["al2023", "bottlerocket"] = Field(
        default="al2023", description="EKS-optimized NVIDIA AMI family: the driver and container toolkit ship on it."
    )
    ami_version: str | None = Field(
        default=None,
        pattern=r"^(latest|v[0-9][0-9.]*)$",
        description="Karpenter: the AMI release, e.g. v20260810 (al2023); 'latest' replaces the nodes at "
        "every AWS release.",
    )
    capacity_type: Literal["onDemand", "spot", "capacityBlock"] = Field(
        default="onDemand", description="How the instances are bought; capacityBlock needs capacityReservationId."
    )
    capacity_reservation_id: str | None = Field(
        default=None, pattern=r"^cr-[0-9a-z]+$", description="The Capacity Block for ML (cr-...) to launch into."
    )
    scaling: NodeScaling = NodeScaling()
    disk_size_gib: int = Field(
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

    @property
    def gpu_key(self) -> str:
        return INSTANCE_TYPES[self.instance_type].gpu if self.instance_type else self.gpu

    @property
    def gpus_per_node(self) -> int:
        return INSTANCE_TYPES[self.instance_type].gpu_count if self.instance_type else self.gpu_count


def _architecture_kind(value: Any) -> str:
    return "key" if isinstance(value, str) else "inline"


ArchitectureRef = Annotated[
    Annotated[str, Tag("key")] | Annotated[Architecture, Tag("inline")],
    Discriminator(_architecture_kind),
]


class ModelSpec(_Spec):
    """One model pinned to an exact hub commit."""

    name: DnsLabel = Field(description="Served model name clients put in `model`.")
    source: str = Field(pattern=HUB_ID_PATTERN, description="Hub id, e.g. meta-llama/Llama-3.1-8B-Instruct.")
    revision: str = Field(pattern=COMMIT_PATTERN, description="40-hex commit of the hub repository.")
    architecture: ArchitectureRef = Field(description="Catalog key, or the numbers inline.")
    dtype: Literal["auto", "bfloat16", "float16"] = "auto"
    quantization: Literal["none", "fp8", "awq", "gptq"] = Field(
        default="none", description="Format of the weights in GPU memory."
    )
    quantize_on_load: bool = Field(
        default=False,
        description="The checkpoint is 16-bit and vLLM quantizes it to FP8 at load "
        "(--quantization fp8). Pre-quantized checkpoints leave this off: vLLM reads their "
        "quantization_config and picks its fastest kernel.",
    )

    @property
    def arch(self) -> Architecture:
        if isinstance(self.architecture, Architecture):
            return self.architecture
        return ARCHITECTURES[self.architecture]

    @property
    def checkpoint_bytes(self) -> int:
        """Weights as stored in the cache: 16-bit when vLLM quantizes them at load."""
        stored = "none" if self.quantize_on_load else self.quantization
        return weight_bytes_total(self.arch, self.dtype, stored)

    @property
    def cache_path(self) -> str:
        """Where the warm-up puts this revision inside the model cache."""
        return f"models/{self.source}/{self.revision}"


# --- serving pools --------------------------------------------------------------------


class Replicas(_Spec):
    min: int = Field(ge=0)
    max: int = Field(ge=1)


class Autoscaling(_Spec):
    """Inference signals only: vLLM reserves its memory at start, so CPU/memory say nothing."""

    signal: Literal["queue", "kvCache", "concurrency"] = Field(
        description="queue: vllm:num_requests_waiting per replica; kvCache: vllm:kv_cache_usage_perc; "
        "concurrency: Knative in-flight requests per replica."
    )
    target: float = Field(gt=0)
    scale_down_delay_seconds: int = Field(
        default=900,
        ge=0,
        le=3600,
        description="How long load must stay low before a replica is removed: a GPU pod takes minutes "
        "to load its weights, so a short lull must not kill it. At most 3600 (the HPA and Knative limit).",
    )


class Slo(_Spec):
    ttft_p95_seconds: float = Field(gt=0, description="Time to first token, 95th percentile.")
    e2e_p95_seconds: float = Field(
        gt=0, alias="e2eP95Seconds", description="End-to-end request latency, 95th percentile."
    )


CLASS_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    # Interactive: short prompts, tight TTFT, always warm, scale on queue depth.
    "chat": {
        "mode": "standard",
        "maxModelLen": 8192,
        "maxNumSeqs": 64,
        "maxNumBatchedTokens": 8192,
        "replicas": {"min": 1, "max": 4},
        "autoscaling": {"signal": "queue", "target": 4},
        "slo": {"ttftP95Seconds": 1.0, "e2eP95Seconds": 30},
        "timeoutSeconds": 120,
        "defaultMaxTokens": 1024,
        "minConcurrentAtCap": 8,
        "requestsPerMinute": 600,
    },
    # Throughput: long documents, big batches, may scale to zero behind the Knative activator.
    "batch": {
        "mode": "knative",
        "maxModelLen": 32768,
        "maxNumSeqs": 256,
        "maxNumBatchedTokens": 16384,
        "replicas": {"min": 0, "max": 2},
        "autoscaling": {"signal": "concurrency"},  # target: half of maxNumSeqs, see below
        "slo": {"ttftP95Seconds": 30, "e2eP95Seconds": 600},
        "timeoutSeconds": 600,
        "defaultMaxTokens": 4096,
        "minConcurrentAtCap": 1,
        "requestsPerMinute": 60,
    },
}


class PoolSpec(_Spec):
    """One serving pool: one model, one engine configuration, one workload class."""

    name: str = Field(pattern=POOL_NAME_PATTERN, max_length=40)
    workload_class: Literal["chat", "batch"] = Field(alias="class")
    model: str = Field(description="A name from `models`.")
    node_pool: str = Field(description="A name from `nodePools`.")
    mode: Literal["standard", "knative"] = Field(
        description="KServe deployment mode: standard (Deployment + KEDA) or knative (scale to zero)."
    )
    hostname: str = Field(pattern=HOSTNAME_PATTERN, description="Clients call https://<hostname>/v1.")
    max_model_len: int = Field(gt=0, description="Context cap in tokens (--max-model-len).")
    max_num_seqs: int = Field(gt=0, description="Sequences batched at once (--max-num-seqs).")
    max_num_batched_tokens: int = Field(gt=0, description="Tokens per engine step (--max-num-batched-tokens).")
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=0.98)
    tensor_parallel_size: int = Field(default=1, ge=1)
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    replicas: Replicas
    autoscaling: Autoscaling
    slo: Slo
    timeout_seconds: int = Field(gt=0, description="Request timeout at the gateway and in KServe.")
    default_max_tokens: int = Field(
        gt=0,
        description="Output-token limit: the default for requests without max_tokens; vLLM also "
        "caps requests that ask for more at this value.",
    )
    min_concurrent_at_cap: int = Field(ge=1, description="Sequences the KV cache must hold at the cap.")
    startup_timeout_seconds: int = Field(
        default=1200, ge=60, description="Model load + CUDA graph capture budget for the startup probe."
    )
    cpu: Quantity | None = Field(default=None, description="CPU request; default 4 per GPU.")
    memory: Quantity | None = Field(default=None, description="Memory request and limit; default 32Gi per GPU.")
    extra_args: tuple[str, ...] = Field(
        default=(), description="Extra vLLM flags appended verbatim after ours; may not repeat ours."
    )
    requests_per_minute: int = Field(
        gt=0, description="Requests one API-key client may send per minute, counted at each gateway proxy."
    )
    clients: tuple[ClientName, ...] | None = Field(
        default=None, min_length=1, description="API-key clients allowed on this pool; default every client."
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_class_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("class") not in CLASS_DEFAULTS:
            return data
        merged = dict(data)
        for key, default in CLASS_DEFAULTS[data["class"]].items():
            given = merged.get(key)
            if given is None and _snake(key) not in merged:
                merged[key] = default
            elif isinstance(default, dict) and isinstance(given, dict):
                merged[key] = {**default, **given}
        return _with_concurrency_target(merged)

    @property
    def cpu_request(self) -> str:
        return self.cpu or str(4 * self.tensor_parallel_size)

    @property
    def memory_request(self) -> str:
        return self.memory or f"{32 * self.tensor_parallel_size}Gi"

    @property
    def request_timeout_seconds(self) -> int:
        """How long a request may take end to end: `timeoutSeconds`, plus `startupTimeoutSeconds`
        for a pool that may scale to zero, since Knative's activator holds the request through
        the cold start and counts that wait against the same revision timeout."""
        cold_start = self.startup_timeout_seconds if self.mode == "knative" and self.replicas.min == 0 else 0
        return self.timeout_seconds + cold_start


def _with_concurrency_target(pool: dict[str, Any]) -> dict[str, Any]:
    """Knative's default target: half the engine's batch, so a replica is added well before
    requests start queueing inside vLLM."""
    autoscaling = pool.get("autoscaling")
    if not isinstance(autoscaling, dict) or autoscaling.get("signal") != "concurrency" or "target" in autoscaling:
        return pool
    seqs = pool.get("maxNumSeqs")
    target = max(1, seqs // 2) if isinstance(seqs, int) and seqs > 0 else None
    return {**pool, "autoscaling": {**autoscaling, "target": target}}


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


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


class PlatformSpec(_Spec):
    """The whole platform of one stack."""

    cluster: ClusterSpec
    namespaces: Namespaces = Namespaces()
    model_cache: ModelCacheSpec = ModelCacheSpec()
    registry_mirror: RegistryMirrorSpec = NoRegistryMirror()
    model_mirror: ModelMirrorSpec = HubModelMirror()
    monitoring: MonitoringSpec = MonitoringSpec()
    gateway: GatewaySpec = GatewaySpec()
    gpu_operator: GpuOperatorSpec = GpuOperatorSpec()
    control_plane: ControlPlaneSpec = ControlPlaneSpec()
    node_pools: tuple[NodePoolSpec, ...] = Field(min_length=1)
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    pools: tuple[PoolSpec, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _default_node_pool_kinds(cls, data: Any) -> Any:
        return _with_node_pool_kinds(data)

    @property
    def on_eks(self) -> bool:
        return isinstance(self.cluster, EksCluster)

    @property
    def gpu_operator_device_plugin(self) -> bool:
        """Whether the GPU Operator runs its device plugin: not when every node pool is Bottlerocket,
        whose NVIDIA variant runs its own (two plugins on a node fight over nvidia.com/gpu)."""
        families = {pool.ami_family if pool.kind in _CLOUD_KINDS else "other" for pool in self.node_pools}
        return families != {"bottlerocket"}

    @property
    def gpu_driver_on_host(self) -> bool:
        driver_on_host = self.gpu_operator.driver_on_host
        return self.on_eks if driver_on_host is None else driver_on_host

    @property
    def knative_max_revision_timeout_seconds(self) -> int:
        """What Knative's max-revision-timeout-seconds is on this stack's cluster."""
        knative = self.control_plane.knative
        if knative.max_revision_timeout_seconds is not None:
            return knative.max_revision_timeout_seconds
        if not knative.enabled:
            return KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS
        return max([KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS, *(p.request_timeout_seconds for p in self.knative_pools)])

    @property
    def image_mirror(self) -> Mirror:
        """What `images.mirrored` needs to turn any upstream image into the one this stack pulls."""
        mirror = self.registry_mirror
        digests = {unpinned(image): digest for image, digest in mirror.digests.items()}
        if isinstance(mirror, EcrPullThroughMirror):
            prefixes = {registry: upstream.ecr_prefix for registry, upstream in ECR_PULL_THROUGH.items()}
            host = ecr_registry_host(mirror.account_id, self.registry_mirror_region)
            return Mirror(host=host, prefixes={**prefixes, **mirror.copied_prefixes}, digests=digests)
        if isinstance(mirror, ExternalRegistryMirror):
            return Mirror(host=mirror.host, prefixes=dict(mirror.prefixes), digests=digests)
        return Mirror(digests=digests)

    @property
    def registry_mirror_region(self) -> str:
        region = getattr(self.registry_mirror, "region", None)
        return region or getattr(self.cluster, "region", "")

    @property
    def model_mirror_region(self) -> str:
        region = getattr(self.model_mirror, "region", None)
        return region or getattr(self.cluster, "region", "")

    @property
    def hub_token_needed(self) -> bool:
        """Whether the warm-up downloads with the hub token (secret config hfToken)."""
        return getattr(self.model_mirror, "token", False)

    @property
    def knative_pools(self) -> tuple[PoolSpec, ...]:
        return tuple(pool for pool in self.pools if pool.mode == "knative")

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def node_pool(self, name: str) -> NodePoolSpec:
        return next(n for n in self.node_pools if n.name == name)

    def pool_capacity(self, pool: PoolSpec) -> PoolCapacity:
        """The capacity model's figures and verdict for one replica of `pool`."""
        model = self.model(pool.model)
        return evaluate_pool(
            arch=model.arch,
            gpu=GPUS[self.node_pool(pool.node_pool).gpu_key],
            tensor_parallel_size=pool.tensor_parallel_size,
            dtype=model.dtype,
            quantization=model.quantization,
            kv_cache_dtype=pool.kv_cache_dtype,
            max_model_len=pool.max_model_len,
            max_num_seqs=pool.max_num_seqs,
            max_num_batched_tokens=pool.max_num_batched_tokens,
            gpu_memory_utilization=pool.gpu_memory_utilization,
            min_concurrent_at_cap=pool.min_concurrent_at_cap,
        )


# --- errors ---------------------------------------------------------------------------


class SpecError(Exception):
    """An invalid stack config: one problem per line, each with its file and config path."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {CONFIG_KEY}{_dot(path)}: {message}" for path, message in self.problems]


def _dot(path: str) -> str:
    return "" if not path else path if path.startswith("[") else f".{path}"


def load_platform(raw: Any, source: str, capacity_gate: bool = True) -> PlatformSpec:
    """Parse and check a stack's platform config; raise SpecError naming `source` on any problem.

    `capacity_gate=False` skips only the capacity verdicts, so a capacity report can still
    show the figures of a pool that the gate would reject.
    """
    if not isinstance(raw, dict):
        raise SpecError(source, [("", f"must be a mapping, got {type(raw).__name__}")])
    try:
        spec = PlatformSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(source, [_describe(e) for e in _root_causes(error.errors())]) from None
    # The capacity gate needs every reference resolved, so it runs on a consistent spec.
    problems = list(cross_field_problems(spec))
    if not problems and capacity_gate:
        problems = list(capacity_problems(spec))
    if problems:
        raise SpecError(source, problems)
    return spec


def _root_causes(errors: list[Any]) -> list[Any]:
    """Drop errors that only echo another: a list's length when its items failed, and
    the fields a pool's class would have defaulted when the class itself is wrong."""
    failed_items = {tuple(e["loc"][:1]) for e in errors if len(e["loc"]) > 1}
    classless = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("class",)}
    defaulted = set(CLASS_DEFAULTS["chat"])
    return [
        e for e in errors
        if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)
        and not (e["type"] == "missing" and tuple(e["loc"][:-1]) in classless and e["loc"][-1] in defaulted)
    ]  # fmt: skip


# Tags pydantic puts in an error location for union branches; they are not config keys.
_UNION_TAGS = {"eks", "kubeconfig", "key", "inline", "none", "ecr-pull-through", "external", "hub", "hub-mirror", "s3"}
# Where pydantic names a dict key that failed validation (the key itself, not its value).
_KEY_MARK = "[key]"


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    loc = [part for part in error["loc"] if part not in _UNION_TAGS and part != _KEY_MARK]
    message = _PLAIN_MESSAGES.get(error["type"], error["msg"])
    if error["type"] == "extra_forbidden":
        message = _unknown_field_message(list(error["loc"]))
    return _format_path(loc), message


# pydantic's wording for these names our Python classes; a stack file has mappings and lists.
_PLAIN_MESSAGES = {
    "missing": "required field is missing",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _unknown_field_message(loc: list[Any]) -> str:
    """`loc` as pydantic gives it: union tags pick the variant whose keys are allowed."""
    allowed = _allowed_keys(PlatformSpec, loc[:-1])
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown field{suggestion}; allowed: {', '.join(sorted(allowed))}"


def _allowed_keys(model: type[BaseModel], loc: list[Any]) -> list[str]:
    """The config keys accepted at `loc`, found by walking the model classes."""
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _UNION_TAGS:
            model = _variant(annotation, part) or model
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        nested = _model_in(field.annotation) if field else None
        if nested is None:
            return []
        model, annotation = nested, field.annotation
    return [f.alias or n for n, f in model.model_fields.items()]


def _variant(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The member of a union discriminated by `kind` whose kind is `tag`."""
    for arg in getattr(annotation, "__args__", ()):
        kind = arg.model_fields.get("kind") if isinstance(arg, type) and issubclass(arg, BaseModel) else None
        if kind is not None and tag in getattr(kind.annotation, "__args__", ()):
            return arg
        found = _variant(arg, tag)
        if found is not None:
            return found
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _format_path(loc: list[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# --- cross-field rules ----------------------------------------------------------------


def cross_field_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    yield from _unique_names(spec)
    yield from _node_pool_problems(spec)
    yield from _model_problems(spec)
    yield from _gateway_problems(spec.gateway)
    for index, pool in enumerate(spec.pools):
        yield from _pool_problems(spec, f"pools[{index}]", pool)
    yield from _registry_mirror_problems(spec)
    yield from _model_supply_problems(spec)


def _unique_names(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    for section, items, attr in (
        ("nodePools", spec.node_pools, "name"),
        ("models", spec.models, "name"),
        ("pools", spec.pools, "name"),
        ("pools", spec.pools, "hostname"),
    ):
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            value = getattr(item, attr)
            if value in seen:
                yield f"{section}[{index}].{attr}", f"'{value}' is already used by {section}[{seen[value]}]"
            seen.setdefault(value, index)


def _node_pool_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    for index, node_pool in enumerate(spec.node_pools):
        path = f"nodePools[{index}]"
        if node_pool.instance_type is not None:
            if node_pool.gpu is not None or node_pool.gpu_count is not None:
                yield path, "give either instanceType, or gpu and gpuCount, not both"
            elif node_pool.instance_type not in INSTANCE_TYPES:
                yield f"{path}.instanceType", _not_in_catalog(node_pool.instance_type, INSTANCE_TYPES)
        elif node_pool.gpu is None or node_pool.gpu_count is None:
            yield path, "give instanceType (EC2), or both gpu and gpuCount"
        elif node_pool.gpu not in GPUS:
            yield f"{path}.gpu", _not_in_catalog(node_pool.gpu, GPUS)
        yield from _node_pool_kind_problems(spec, path, node_pool)
    yield from _device_plugin_problems(spec)


def _device_plugin_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    """Bottlerocket's NVIDIA variant runs its own device plugin; the GPU Operator's can be left
    out only cluster-wide, so Bottlerocket cannot share a cluster with other GPU nodes."""
    bottlerocket = [
        index
        for index, pool in enumerate(spec.node_pools)
        if pool.kind in _CLOUD_KINDS and pool.ami_family == "bottlerocket"
    ]
    if not spec.gpu_operator.enabled or not bottlerocket:
        return
    if not spec.gpu_driver_on_host:
        yield (
            "gpuOperator.driverOnHost",
            "Bottlerocket ships the NVIDIA driver and toolkit on a read-only OS, where the operator cannot install "
            "them; leave driverOnHost unset or true",
        )
    if not spec.gpu_operator_device_plugin:
        return
    for index, node_pool in enumerate(spec.node_pools):
        if node_pool.kind in _CLOUD_KINDS and node_pool.ami_family == "bottlerocket":
            yield (
                f"nodePools[{index}].amiFamily",
                "Bottlerocket runs its own NVIDIA device plugin, and the GPU Operator's runs for the other node "
                "pools too: give every GPU node pool amiFamily bottlerocket (the operator then leaves its plugin "
                "out) or none, or set gpuOperator.enabled: false",
            )


# Node pool fields and the kinds they apply to; anything else is a mistake to point out,
# since the kind would silently ignore it.
_CLOUD_KINDS = ("managed", "karpenter")
_FIELD_KINDS = {
    "ami_family": _CLOUD_KINDS,
    "ami_version": ("karpenter",),
    "capacity_type": _CLOUD_KINDS,
    "capacity_reservation_id": _CLOUD_KINDS,
    "scaling": _CLOUD_KINDS,
    "disk_size_gib": _CLOUD_KINDS,
    "subnet_ids": _CLOUD_KINDS,
    "karpenter": ("karpenter",),
}


def _node_pool_kind_problems(spec: PlatformSpec, path: str, node_pool: NodePoolSpec) -> Iterator[tuple[str, str]]:
    kind = node_pool.kind
    if kind in _CLOUD_KINDS and not spec.on_eks:
        yield (
            f"{path}.kind",
            f"'{kind}' creates AWS resources and needs an eks cluster; a kubeconfig cluster allows: existing",
        )
    if kind in _CLOUD_KINDS and node_pool.instance_type is None:
        yield f"{path}.instanceType", f"required for kind {kind}: the EC2 instance type to launch"
    for field in sorted(node_pool.model_fields_set & set(_FIELD_KINDS)):
        if kind not in _FIELD_KINDS[field]:
            yield f"{path}.{to_camel(field)}", f"applies to {' and '.join(_FIELD_KINDS[field])} node pools only"
    if kind in _CLOUD_KINDS:
        yield from _cloud_node_pool_problems(path, node_pool)


def _cloud_node_pool_problems(path: str, node_pool: NodePoolSpec) -> Iterator[tuple[str, str]]:
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


def _scaling_problems(path: str, node_pool: NodePoolSpec) -> Iterator[tuple[str, str]]:
    scaling = node_pool.scaling
    if node_pool.kind == "karpenter":
        for field in sorted(scaling.model_fields_set - {"max"}):
            yield f"{path}.{field}", "Karpenter launches nodes for pending pods; only scaling.max (the limit) applies"
    elif scaling.min > scaling.max:
        yield f"{path}.min", f"{scaling.min} is above scaling.max ({scaling.max})"
    elif scaling.desired is not None and not scaling.min <= scaling.desired <= scaling.max:
        yield f"{path}.desired", f"{scaling.desired} is outside scaling.min..max ({scaling.min}..{scaling.max})"


def _model_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    for index, model in enumerate(spec.models):
        if isinstance(model.architecture, str) and model.architecture not in ARCHITECTURES:
            yield f"models[{index}].architecture", _not_in_catalog(model.architecture, ARCHITECTURES)
        if model.quantize_on_load and model.quantization != "fp8":
            yield f"models[{index}].quantizeOnLoad", "only FP8 can be applied at load; set quantization: fp8"


# Annotations that decide who can reach the load balancer: only internetFacing sets them.
LOAD_BALANCER_SCHEME_ANNOTATIONS = (
    "service.beta.kubernetes.io/aws-load-balancer-scheme",
    "service.beta.kubernetes.io/aws-load-balancer-internal",
)


def _gateway_problems(gateway: GatewaySpec) -> Iterator[tuple[str, str]]:
    for key in sorted(set(gateway.service_annotations) & set(LOAD_BALANCER_SCHEME_ANNOTATIONS)):
        yield f"gateway.serviceAnnotations.{key}", "the load balancer scheme follows gateway.internetFacing; set that"
    if gateway.service_type == "ClusterIP" and (gateway.internet_facing or gateway.source_ranges):
        yield "gateway.serviceType", "ClusterIP has no load balancer; drop internetFacing and sourceRanges"
    for index, cidr in enumerate(gateway.source_ranges):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as error:
            yield f"gateway.sourceRanges[{index}]", f"'{cidr}' is not a network address in CIDR form ({error})"


def _not_in_catalog(value: str, catalog: Mapping[str, Any]) -> str:
    return f"'{value}' is not in the catalog; allowed: {', '.join(sorted(catalog))}"


def _pool_problems(spec: PlatformSpec, path: str, pool: PoolSpec) -> Iterator[tuple[str, str]]:
    yield from _pool_local_problems(path, pool)
    yield from _knative_timeout_problems(spec, path, pool)
    model = next((m for m in spec.models if m.name == pool.model), None)
    node_pool = next((n for n in spec.node_pools if n.name == pool.node_pool), None)
    if model is None:
        yield f"{path}.model", f"'{pool.model}' is not a model name; defined: {_names(spec.models)}"
    elif isinstance(model.architecture, Architecture) or model.architecture in ARCHITECTURES:
        limit = model.arch.max_context
        if pool.max_model_len > limit:
            yield f"{path}.maxModelLen", f"{pool.max_model_len} is above the maximum context of {model.name} ({limit})"
    if node_pool is None:
        yield f"{path}.nodePool", f"'{pool.node_pool}' is not a node pool name; defined: {_names(spec.node_pools)}"
    elif _resolvable(node_pool) and node_pool.gpus_per_node % pool.tensor_parallel_size:
        yield (
            f"{path}.tensorParallelSize",
            f"{pool.tensor_parallel_size} does not divide the {node_pool.gpus_per_node} GPUs "
            f"of a '{node_pool.name}' node",
        )


def _resolvable(node_pool: NodePoolSpec) -> bool:
    if node_pool.instance_type is not None:
        return node_pool.instance_type in INSTANCE_TYPES
    return node_pool.gpu_count is not None


def _names(items: tuple[Any, ...]) -> str:
    return ", ".join(item.name for item in items)


def _pool_local_problems(path: str, pool: PoolSpec) -> Iterator[tuple[str, str]]:
    if pool.replicas.min > pool.replicas.max:
        yield f"{path}.replicas.min", f"{pool.replicas.min} is above replicas.max ({pool.replicas.max})"
    if pool.workload_class == "chat" and pool.replicas.min < 1:
        yield f"{path}.replicas.min", "chat pools keep at least one warm replica (a cold start takes minutes)"
    if pool.max_num_batched_tokens < pool.max_num_seqs:
        yield (
            f"{path}.maxNumBatchedTokens",
            f"{pool.max_num_batched_tokens} is below maxNumSeqs ({pool.max_num_seqs}); vLLM refuses to start",
        )
    yield from _autoscaling_problems(path, pool)
    for index, client in enumerate(pool.clients or ()):
        if pool.clients.index(client) != index:
            yield f"{path}.clients[{index}]", f"'{client}' is listed twice"
    for index, arg in enumerate(pool.extra_args):
        clash = managed_flag_clash(arg)
        if clash:
            yield f"{path}.extraArgs[{index}]", clash


def _knative_timeout_problems(spec: PlatformSpec, path: str, pool: PoolSpec) -> Iterator[tuple[str, str]]:
    limit = spec.knative_max_revision_timeout_seconds
    if pool.mode == "knative" and pool.request_timeout_seconds > limit:
        total = (
            f"{pool.request_timeout_seconds} (timeoutSeconds {pool.timeout_seconds} + startupTimeoutSeconds "
            f"{pool.startup_timeout_seconds}, as the pool scales from zero)"
            if pool.request_timeout_seconds != pool.timeout_seconds else str(pool.timeout_seconds)
        )  # fmt: skip
        yield (
            f"{path}.timeoutSeconds",
            f"{total} is above Knative's max-revision-timeout-seconds on this cluster ({limit}); "
            "raise controlPlane.knative.maxRevisionTimeoutSeconds, or use standard mode",
        )


_SIGNALS_BY_MODE = {"standard": ("queue", "kvCache"), "knative": ("concurrency",)}


def _autoscaling_problems(path: str, pool: PoolSpec) -> Iterator[tuple[str, str]]:
    signal, target = pool.autoscaling.signal, pool.autoscaling.target
    allowed = _SIGNALS_BY_MODE[pool.mode]
    if signal not in allowed:
        yield (
            f"{path}.autoscaling.signal",
            f"'{signal}' does not apply to {pool.mode} mode; allowed: {', '.join(allowed)}",
        )
    elif signal == "kvCache" and target > 1:
        yield f"{path}.autoscaling.target", f"{target} is a KV-cache usage fraction and must be at most 1"
    elif signal == "concurrency" and target > pool.max_num_seqs:
        yield (
            f"{path}.autoscaling.target",
            f"{target} concurrent requests per replica is above maxNumSeqs ({pool.max_num_seqs})",
        )


# --- supply chain ---------------------------------------------------------------------


def _registry_mirror_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    mirror = spec.registry_mirror
    used = _images_by_registry(spec)
    if isinstance(mirror, EcrPullThroughMirror):
        yield from _ecr_problems(spec, mirror, used)
    elif isinstance(mirror, ExternalRegistryMirror):
        for registry in sorted(set(used) - set(mirror.prefixes)):
            yield f"registryMirror.prefixes.{registry}", f"required: this stack pulls {_examples(used[registry])}"
    known = {unpinned(image) for image in platform_images(spec) if parse(image).tag}
    for image in sorted(mirror.digests):
        if unpinned(image) not in known:
            yield (
                f"registryMirror.digests.{image}",
                "not a tagged image this stack deploys; name it as its chart or pod does upstream",
            )


def _ecr_problems(
    spec: PlatformSpec, mirror: EcrPullThroughMirror, used: dict[str, list[str]]
) -> Iterator[tuple[str, str]]:
    if not spec.on_eks:
        yield (
            "registryMirror.kind",
            "'ecr-pull-through' creates ECR rules and needs an eks cluster; a kubeconfig cluster allows: external, none",
        )
    for registry in sorted(mirror.credential_arns):
        upstream = ECR_PULL_THROUGH.get(registry)
        if upstream is None or not upstream.needs_credentials:
            yield f"registryMirror.credentialArns.{registry}", "ECR takes credentials only for docker.io and ghcr.io"
    for registry in sorted(set(mirror.copied_prefixes) & set(ECR_PULL_THROUGH)):
        yield f"registryMirror.copiedPrefixes.{registry}", "ECR caches it through a rule; copy only nvcr.io and gcr.io"
    for registry, found in sorted(used.items()):
        upstream = ECR_PULL_THROUGH.get(registry)
        if upstream is None and registry not in mirror.copied_prefixes:
            yield (
                f"registryMirror.copiedPrefixes.{registry}",
                f"required: ECR has no pull-through cache for {registry}; name the ECR prefix your image copy job "
                f"fills with {_examples(found)}",
            )
        elif upstream is not None and upstream.needs_credentials and registry not in mirror.credential_arns:
            yield (
                f"registryMirror.credentialArns.{registry}",
                f"required: ECR caches {registry} only with a Secrets Manager secret named ecr-pullthroughcache/... "
                f"holding its credentials; this stack pulls {_examples(found)}",
            )


def _images_by_registry(spec: PlatformSpec) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for image in platform_images(spec):
        found.setdefault(parse(image).registry, []).append(image)
    return found


def _examples(images: list[str]) -> str:
    more = f" and {len(images) - 1} more" if len(images) > 1 else ""
    return f"{images[0]}{more}"


# ModelCacheSpec fields and the cache kinds they apply to.
_CACHE_FIELD_KINDS = {
    "claim_name": "pvc",
    "storage_class_name": "pvc",
    "warmup_deadline_seconds": "pvc",
    "warmup_retries": "pvc",
    "local_path": "local",
}


def _model_supply_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    cache, mirror = spec.model_cache, spec.model_mirror
    if isinstance(mirror, S3ModelMirror) and not spec.on_eks:
        yield (
            "modelMirror.kind",
            "'s3' reads the bucket through an IAM role bound with EKS Pod Identity and needs an eks cluster; "
            "a kubeconfig cluster allows: hub, hub-mirror",
        )
    for field in sorted(cache.model_fields_set & set(_CACHE_FIELD_KINDS)):
        if cache.kind != _CACHE_FIELD_KINDS[field]:
            yield f"modelCache.{to_camel(field)}", f"applies to modelCache.kind {_CACHE_FIELD_KINDS[field]} only"
    if cache.kind == "local":
        yield from _local_cache_problems(spec)


def _local_cache_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    if not isinstance(spec.model_mirror, HubModelMirror):
        yield (
            "modelMirror.kind",
            f"'{spec.model_mirror.kind}' does not work with modelCache.kind local: KServe's local-model download "
            "Jobs get only the hub token from us; use modelCache.kind pvc (warm-up Jobs) for hub-mirror and s3",
        )
    if spec.model_cache.size is None:
        yield "modelCache.size", "required for modelCache.kind local: the space each GPU node sets aside"
        return
    size = quantity_bytes(spec.model_cache.size)
    used = {pool.node_pool for pool in spec.pools}
    for index, node_pool in enumerate(spec.node_pools):
        if node_pool.name in used and node_pool.kind in _CLOUD_KINDS and size >= node_pool.disk_size_gib * 2**30:
            yield (
                f"nodePools[{index}].diskSizeGib",
                f"{node_pool.disk_size_gib} GiB leaves no room next to modelCache.size {spec.model_cache.size}, "
                "which each node keeps on this disk",
            )


# --- capacity gate --------------------------------------------------------------------


def capacity_problems(spec: PlatformSpec) -> Iterator[tuple[str, str]]:
    """Pools that cannot start or cannot serve their concurrency, and a cache too small."""
    for index, pool in enumerate(spec.pools):
        for error in spec.pool_capacity(pool).errors:
            yield f"pools[{index}]", f"capacity: {error}"
    if spec.model_cache.size is not None:
        error = model_cache_error(quantity_bytes(spec.model_cache.size), [m.checkpoint_bytes for m in spec.models])
        if error:
            yield "modelCache.size", error


_QUANTITY_SUFFIXES = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 0.001,
}  # fmt: skip


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity (as QUANTITY_PATTERN admits) in bytes."""
    number, suffix = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity).groups()
    return int(float(number) * _QUANTITY_SUFFIXES[suffix])
