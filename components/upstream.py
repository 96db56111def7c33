"""What other projects generate or expect: names, labels and ports that KServe, Knative,
Kourier, Envoy Gateway, the GPU Operator, EKS and Kubernetes itself put on (or require of)
the objects around ours. Each fact cites its upstream source and version; ours live in
`components/conventions.py`. Pure: no Pulumi import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

_Container = TypeVar("_Container", bound=Mapping[str, Any])

# Kubernetes labels every namespace with its own name (k8s.io/api core/v1
# well_known_labels.go LabelMetadataName; set by the API server since Kubernetes 1.22), so a
# NetworkPolicy can select a namespace by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

# The namespace the Knative Operator (KNATIVE_VERSION) expects its KnativeServing in, and so
# where it installs Knative Serving's own pods (activator, autoscaler, Kourier's gateway).
KNATIVE_SERVING_NAMESPACE = "knative-serving"

# Kourier's gateway, as the Knative Operator installs it into the KnativeServing's namespace
# (net-kourier 1.23 config/300-gateway.yaml): cluster-local routes are served on the internal
# Service's port, which forwards to the gateway pods' `http2-internal` port; Envoy's admin
# stats are on the metrics port.
KOURIER_GATEWAY_DEPLOYMENT = "3scale-kourier-gateway"
KOURIER_GATEWAY_LABELS = {"app": KOURIER_GATEWAY_DEPLOYMENT}
KOURIER_INTERNAL_SERVICE = "kourier-internal"
KOURIER_INTERNAL_SERVICE_PORT = 80
KOURIER_INTERNAL_POD_PORT = 8081
KOURIER_METRICS_PORT = 9000
KOURIER_EXTERNAL_SERVICE = "kourier"
KOURIER_EXTERNAL_POD_PORT = 8080
# The gateway container's ports, (name, containerPort), as config/300-gateway.yaml declares them.
KOURIER_GATEWAY_PORTS = (
    ("http2-external", KOURIER_EXTERNAL_POD_PORT), ("http2-internal", KOURIER_INTERNAL_POD_PORT), ("https-external", 8443),
    ("http-probe", 8090), ("https-probe", 9443), ("metrics", KOURIER_METRICS_PORT),
)  # fmt: skip
# Its two Services, (port name, port, targetPort) each, as upstream declares them;
# kourier-internal's 443 targets 8444, a port the gateway opens only with internal TLS
# (config-kourier cluster-cert-secret).
KOURIER_SERVICES = {
    KOURIER_EXTERNAL_SERVICE: (("http2", 80, KOURIER_EXTERNAL_POD_PORT), ("https", 443, 8443)),
    KOURIER_INTERNAL_SERVICE: (
        ("http2", KOURIER_INTERNAL_SERVICE_PORT, KOURIER_INTERNAL_POD_PORT),
        ("https", 443, 8444),
    ),
}

# Knative's activator pods (knative/serving v1.23 config/core/deployments/activator.yaml) and
# the container ports declared there, (name, containerPort): HTTP/1 and h2c from the ingress, metrics.
KNATIVE_ACTIVATOR_LABELS = {"app": "activator"}
KNATIVE_ACTIVATOR_PORTS = (("http1-port", 8012), ("h2c-port", 8013), ("metrics-port", 9090))
KNATIVE_ACTIVATOR_METRICS_PORT = 9090

# knative/serving v1.23 pkg/networking/constants.go: queue-proxy's HTTP/1 port
# (BackendHTTPPort), which the activator and the gateways send to, and its autoscaling
# metrics port (AutoscalingQueueMetricsPort), which the autoscaler scrapes.
QUEUE_PROXY_PORT = 8012
QUEUE_PROXY_METRICS_PORT = 9090
# The ports Knative adds with the queue-proxy sidecar to every revision pod, (name, port), as
# knative/serving v1.23 pkg/reconciler/revision/resources/queue.go declares them: names from
# pkg/apis/serving/v1/revision_helpers.go (QueueAdminPortName, AutoscalingQueueMetricsPortName,
# UserQueueMetricsPortName), numbers from pkg/networking/constants.go (QueueAdminPort 8022,
# UserQueueMetricsPort 9091).
QUEUE_PROXY_PORT_NAME = "queue-port"
QUEUE_PROXY_PORTS = (
    (QUEUE_PROXY_PORT_NAME, QUEUE_PROXY_PORT),
    ("http-queueadm", 8022),
    ("http-autometric", QUEUE_PROXY_METRICS_PORT),
    ("http-usermetric", 9091),
)
# Knative renames the serving port of every revision pod (knative/serving v1.23
# pkg/apis/serving/v1/revision_helpers.go UserPortName).
KNATIVE_USER_PORT = "user-port"
# Knative Serving's API group, and the label it puts on a Knative Service's revision pods,
# the Service's name (knative/serving v1.23 pkg/apis/serving/register.go GroupName, ServiceLabelKey).
KNATIVE_SERVING_API_GROUP = "serving.knative.dev"
# The Knative Operator's API group, whose KnativeServing installs and configures Serving.
KNATIVE_OPERATOR_API_GROUP = "operator.knative.dev"
KNATIVE_SERVICE_LABEL = "serving.knative.dev/service"

# Cluster DNS: CoreDNS keeps kube-dns's label and ports (EKS's and kubeadm's CoreDNS
# deployment; kubernetes/kubernetes cluster/addons/dns/coredns/coredns.yaml.base): pods
# `k8s-app: kube-dns` in kube-system, port 53 named `dns` (UDP) and `dns-tcp` (TCP).
CLUSTER_DNS_NAMESPACE = "kube-system"
CLUSTER_DNS_LABELS = {"k8s-app": "kube-dns"}
CLUSTER_DNS_PORT = 53
CLUSTER_DNS_PORTS = (("dns", CLUSTER_DNS_PORT, "UDP"), ("dns-tcp", CLUSTER_DNS_PORT, "TCP"))

# The ServiceAccount Kubernetes gives every namespace and every pod that names none
# (kube-controller-manager serviceaccounts-controller).
DEFAULT_SERVICE_ACCOUNT = "default"

# The labels prometheus-operator (PROMETHEUS_OPERATOR_CRDS_VERSION) puts on every Prometheus
# pod it runs, whatever the Prometheus resource is named (pkg/prometheus/server/statefulset.go;
# kube-prometheus-stack keeps them; its pods also get `operator.prometheus.io/name` and
# `prometheus: <name>`). Alertmanager's, Grafana's and the operator's own pods carry other names.
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator"}

# The node-local EKS Pod Identity Agent the AWS SDKs get credentials from (AWS EKS user
# guide, "Set up the Amazon EKS Pod Identity Agent": 169.254.170.23, port 80).
EKS_POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)


# pulumi-kubernetes (since v4.18; pinned 4.34.2) waits for an object whose `pulumi.com/waitFor`
# annotation names a condition, in `kubectl wait --for=` syntax, before it counts as created
# (pulumi/pulumi-kubernetes provider/pkg/metadata/overrides.go ReadyCondition,
# provider/pkg/await/await.go); without it a custom resource is "created" once the API accepts it.
PULUMI_WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
# The Knative Operator sets `Ready` on a KnativeServing once Serving's manifests (the Knative
# Service CRD among them) are applied and its Deployments available: Ready is the happy
# condition of a living set of DependenciesInstalled, DeploymentsAvailable, InstallSucceeded,
# VersionMigrationEligible, TargetClusterResolved (knative/operator v1.23
# pkg/apis/operator/v1beta1/knativeserving_lifecycle.go servingCondSet).
KNATIVE_SERVING_READY = "condition=Ready"

# --- Knative Serving and Kourier, as KnativeServing configures them (knative-v1.23.0) ---
# net-kourier's ingress class (config-network `ingress-class`, net-kourier config/200-config.yaml).
KOURIER_INGRESS_CLASS = "kourier.ingress.networking.knative.dev"
# Knative's domain suffix for cluster-local routes (knative/networking pkg/network/domain.go:
# `svc.` + the cluster domain, `cluster.local` by default).
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"
# Knative's controller resolves each revision's image tags to digests by asking the registry
# itself, with the revision's service account's pull secrets and the controller pod's own
# identity, not the node's credentials the kubelet pulls with (knative/serving v1.23
# pkg/reconciler/revision/resolve.go, background.go); a registry in
# config-deployment `registries-skipping-tag-resolving` is skipped, and the default list is
# these (config/core/configmaps/deployment.yaml). A reference with a digest is never resolved.
KNATIVE_DEFAULT_REGISTRIES_SKIPPING_TAG_RESOLVING = ("kind.local", "ko.local", "dev.local")
# A revision annotated `initial-scale: "0"` starts with no pod, which Knative admits only where
# config-autoscaler `allow-zero-initial-scale` is "true" (default "false"; knative/serving
# v1.23 pkg/apis/autoscaling/register.go InitialScaleAnnotationKey,
# config/core/configmaps/autoscaler.yaml). Otherwise every new revision (every config change)
# starts `initial-scale` (default 1) pods and keeps them until scale-down.
KNATIVE_INITIAL_SCALE = "autoscaling.knative.dev/initial-scale"
KNATIVE_ALLOW_ZERO_INITIAL_SCALE = "allow-zero-initial-scale"
# Knative's activator pods keep `terminationGracePeriodSeconds: 600` (knative/serving v1.23
# config/core/deployments/activator.yaml; config-defaults asks to raise it together with
# max-revision-timeout-seconds). Nothing we own can raise it: the Knative Operator's workload
# overrides have no such field (knative/operator v1.23 pkg/apis/operator/base/common.go
# WorkloadOverride; ../shared/schemas/crds/operator.knative.dev_knativeservings.yaml), and the
# operator re-applies its manifest with a three-way strategic merge that restores every field
# the manifest sets (manifestival internal/patch/patch.go: CreateThreeWayMergePatch with
# overwrite; the revert is reported in knative/operator#1295), so a patch of the Deployment
# would be undone. A request an activator pod still holds when that grace ends is cut.
KNATIVE_ACTIVATOR_TERMINATION_GRACE_SECONDS = 600
# Kourier's gateway pods, which carry every request to a Knative pool, drain for 15 s when they
# stop (preStop: drain_listeners?graceful, then sleep DRAIN_TIME_SECONDS "15"; the kubelet's
# SIGTERM then ends Envoy) within terminationGracePeriodSeconds 30 (knative/operator v1.23
# cmd/operator/kodata/ingress/1.23/kourier/kourier.yaml, Deployment 3scale-kourier-gateway).
# The operator's workload overrides could set the env var, but not the grace period that caps it.
KOURIER_GATEWAY_DRAIN_SECONDS = 15
KOURIER_GATEWAY_TERMINATION_GRACE_SECONDS = 30
# The longest a request to a Knative pool survives a restart of the proxies on its path:
# Kourier's gateway, then (for a revision at zero, or short of burst capacity) the activator.
KNATIVE_PROXY_DRAIN_SECONDS = min(KOURIER_GATEWAY_DRAIN_SECONDS, KNATIVE_ACTIVATOR_TERMINATION_GRACE_SECONDS)
# The grace period of a pod that sets none (k8s.io/api core/v1 PodSpec
# DefaultTerminationGracePeriodSeconds).
KUBERNETES_DEFAULT_TERMINATION_GRACE_SECONDS = 30
# Knative's request timeout of a revision when it sets none (config-defaults
# `revision-timeout-seconds`, knative/serving config/core/configmaps/defaults.yaml).
KNATIVE_DEFAULT_REVISION_TIMEOUT_SECONDS = 300
KNATIVE_REVISION_TIMEOUT_KEY = "revision-timeout-seconds"
# A revision annotated target-burst-capacity "0" has the activator in its request path only
# while it is scaled to zero: the autoscaler then reports an excess burst capacity of 0
# (knative/serving v1.23 pkg/autoscaler/scaling/autoscaler.go), and the KPA proxies through the
# activator only when the revision wants no pod or that capacity is negative
# (pkg/reconciler/autoscaling/kpa/kpa.go). With Knative's default, 211 (config-autoscaler),
# a revision with fewer than 211 spare request slots keeps the activator in front of every
# request. Without it, requests queue in each pod's queue-proxy (at most 10 x
# containerConcurrency, pkg/queue/sharedmain buildBreaker) instead of in the activator.
KNATIVE_TARGET_BURST_CAPACITY = "autoscaling.knative.dev/target-burst-capacity"
# config-deployment `progress-deadline` default (knative/serving config/core/configmaps/deployment.yaml).
KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS = 600


def knative_cluster_local_host(knative_service: str, namespace: str) -> str:
    """The host Knative serves a Knative Service's cluster-local route on: config-network's
    default domain-template `{{.Name}}.{{.Namespace}}.{{.Domain}}` with the cluster-local domain
    (knative/serving config/core/configmaps/network.yaml)."""
    return f"{knative_service}.{namespace}.{CLUSTER_LOCAL_DOMAIN}"


# --- KServe (KSERVE_VERSION v0.20.0): what it makes of an InferenceService ---
KSERVE_API_GROUP = "serving.kserve.io"
# pkg/constants/constants.go: the runtime container KServe merges the predictor's model into
# (InferenceServiceContainerName), the deployment-mode annotation (DeploymentMode) and its
# values that run a component as a Knative Service (Knative; Serverless, its older name),
# the labels on every pod of an InferenceService (InferenceServicePodLabelKey,
# KServiceComponentLabel), the components (InferenceServiceComponent), the predictor's
# name suffix (PredictorServiceName: its Standard-mode Service and its Knative Service),
# that Service's port (CommonDefaultHttpPort) and the serving port when the runtime
# declares none (InferenceServiceDefaultHttpPort).
KSERVE_CONTAINER = "kserve-container"
KSERVE_DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
KSERVE_KNATIVE_MODES = ("Knative", "Serverless")
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_COMPONENT_LABEL = "component"
KSERVE_PREDICTOR = "predictor"
KSERVE_COMPONENTS = (KSERVE_PREDICTOR, "transformer", "explainer")
PREDICTOR_SUFFIX = "-predictor"
PREDICTOR_SERVICE_PORT = 80
KSERVE_DEFAULT_HTTP_PORT = 8080
# pkg/apis/serving/v1beta1: the keys of a component that name its serving container by model
# format (predictor.go PredictorSpec: `model`, or one of the older per-framework keys) ...
KSERVE_MODEL_KEYS = ("model", "huggingface", "pytorch", "triton", "onnx", "sklearn", "xgboost",
                     "tensorflow", "lightgbm", "paddle", "pmml")  # fmt: skip
# ... the fields of a component that are not PodSpec fields (component.go
# ComponentExtensionSpec, predictor.go PredictorSpec; `containers` is merged apart) ...
KSERVE_COMPONENT_FIELDS = frozenset({
    "model", "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations", "deploymentStrategy",
    "autoScaling", "workerSpec", "storageUris", "name", "containers",
})  # fmt: skip
# ... and the fields of a model that are not Container fields (predictor_model.go ModelSpec).
KSERVE_MODEL_FIELDS = ("modelFormat", "runtime", "storageUri", "protocolVersion", "runtimeVersion", "storage")
# Model formats whose runtime serves with vLLM: KServe's Hugging Face server runs LLMs on vLLM
# unless told `--backend=huggingface` (config/runtimes/kserve-huggingfaceserver.yaml).
KSERVE_VLLM_MODEL_FORMATS = frozenset({"vllm", "huggingface"})
KSERVE_HF_NO_VLLM_ARG = "--backend=huggingface"


def predictor_service_name(inference_service: str) -> str:
    """KServe's name for the predictor: the Standard-mode Service and the Knative Service
    (constants.PredictorServiceName)."""
    return f"{inference_service}{PREDICTOR_SUFFIX}"


def component_pod_metadata(
    isvc: Mapping[str, Any], component: Mapping[str, Any], runtime: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The labels (or annotations) KServe gives a component's pods before adding its own
    (`kserve_pod_labels`): the ServingRuntime's, under the InferenceService's, under the
    component's (pkg/controller/v1beta1/inferenceservice/components/predictor.go
    buildObjectMeta)."""
    return {**(runtime or {}), **isvc, **component}


def kserve_pod_labels(inference_service: str | None, component: str) -> dict[str, Any]:
    """The labels KServe adds to every pod of an InferenceService's component."""
    return {KSERVE_ISVC_LABEL: inference_service, KSERVE_COMPONENT_LABEL: component}


def serving_container(containers: Sequence[_Container]) -> _Container | None:
    """The runtime container KServe merges the predictor's model into, and so the one that serves."""
    return next((c for c in containers if c.get("name") == KSERVE_CONTAINER), None)


# --- KServe local model cache (kserve/kserve v0.20.0) ---
# `kserve.localmodel.jobNamespace` default: where the local-model controller runs its download
# Jobs (charts/kserve-localmodel-resources/values.yaml and charts/kserve-resources/values.yaml).
LOCAL_MODEL_JOB_NAMESPACE = "kserve-localmodel-jobs"


# --- AWS Load Balancer Controller (kubernetes-sigs/aws-load-balancer-controller, v2.2 and later) ---
# Service annotations for an NLB straight to the proxy pods (docs/guide/service/annotations.md).
# With the controller absent, type "external" makes the in-tree controller skip the Service,
# so no load balancer appears rather than an internet-facing default one.
EKS_NLB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
}
# `internal` or `internet-facing`; the controller's default is internal.
EKS_SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"

# A Kubernetes taint effect as the EKS API spells it in a managed node group's `taints`
# (EKS API reference, Taint `effect`: NO_SCHEDULE | NO_EXECUTE | PREFER_NO_SCHEDULE).
EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}


# --- Gateway API and Envoy Gateway (ENVOY_GATEWAY_VERSION v1.9.0) ---
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
# Envoy Gateway's own API group (EnvoyProxy, SecurityPolicy, BackendTrafficPolicy, ...).
ENVOY_GATEWAY_API_GROUP = "gateway.envoyproxy.io"
# The labels Envoy Gateway puts on the proxy pods of one Gateway
# (internal/gatewayapi/resource OwningGatewayNameLabel, OwningGatewayNamespaceLabel).
ENVOY_OWNING_GATEWAY_NAME = "gateway.envoyproxy.io/owning-gateway-name"
ENVOY_OWNING_GATEWAY_NAMESPACE = "gateway.envoyproxy.io/owning-gateway-namespace"
# The controller's namespace, where it runs the proxies unless in GatewayNamespace mode
# (charts/gateway-helm: the release namespace its docs install into; api/v1alpha1 DefaultNamespace).
ENVOY_GATEWAY_NAMESPACE = "envoy-gateway-system"
# Envoy Gateway runs its proxies unprivileged: a listener port below 1024 becomes this
# much higher on the proxy pods (internal/gatewayapi helpers.go servicePortToContainerPort).
ENVOY_PRIVILEGED_PORT_SHIFT = 10000


# The proxies' Prometheus stats port (internal/xds/bootstrap bootstrap.go EnvoyStatsPort; the
# readiness port 19003 is the kubelet's, and Envoy's admin listens on localhost only).
ENVOY_PROXY_METRICS_PORT = 19001


def envoy_proxy_labels(gateway: str, namespace: str) -> dict[str, str]:
    """The labels Envoy Gateway puts on the proxy pods of one Gateway."""
    return {ENVOY_OWNING_GATEWAY_NAME: gateway, ENVOY_OWNING_GATEWAY_NAMESPACE: namespace}


def envoy_proxy_port(listener_port: int) -> int:
    """The proxy pods' port for a Gateway listener's port."""
    return listener_port + ENVOY_PRIVILEGED_PORT_SHIFT if listener_port < 1024 else listener_port
