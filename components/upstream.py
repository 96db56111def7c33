"""What other projects generate or expect: names, labels and ports that KServe, Knative,
Kourier, Envoy Gateway, the GPU Operator, EKS and Kubernetes itself put on (or require of)
the objects around ours. Each fact cites its upstream source and version; ours live in
`components/conventions.py`. Pure: no Pulumi import.
"""

from __future__ import annotations

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

# Knative's activator pods (knative/serving v1.23 config/core/deployments/activator.yaml).
KNATIVE_ACTIVATOR_LABELS = {"app": "activator"}

# knative/serving v1.23 pkg/networking/constants.go: queue-proxy's HTTP/1 port
# (BackendHTTPPort), which the activator and the gateways send to, and its autoscaling
# metrics port (AutoscalingQueueMetricsPort), which the autoscaler scrapes.
QUEUE_PROXY_PORT = 8012
QUEUE_PROXY_METRICS_PORT = 9090

# The node-local EKS Pod Identity Agent the AWS SDKs get credentials from (AWS EKS user
# guide, "Set up the Amazon EKS Pod Identity Agent": 169.254.170.23, port 80).
EKS_POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)


# --- Knative Serving and Kourier, as KnativeServing configures them (knative-v1.23.0) ---
# net-kourier's ingress class (config-network `ingress-class`, net-kourier config/200-config.yaml).
KOURIER_INGRESS_CLASS = "kourier.ingress.networking.knative.dev"
# Knative's domain suffix for cluster-local routes (knative/networking pkg/network/domain.go:
# `svc.` + the cluster domain, `cluster.local` by default).
CLUSTER_LOCAL_DOMAIN = "svc.cluster.local"
# config-deployment `progress-deadline` default (knative/serving config/core/configmaps/deployment.yaml).
KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS = 600


def knative_cluster_local_host(knative_service: str, namespace: str) -> str:
    """The host Knative serves a Knative Service's cluster-local route on: config-network's
    default domain-template `{{.Name}}.{{.Namespace}}.{{.Domain}}` with the cluster-local domain
    (knative/serving config/core/configmaps/network.yaml)."""
    return f"{knative_service}.{namespace}.{CLUSTER_LOCAL_DOMAIN}"


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
