"""Every pinned chart and image version, in one place.

Versions match ../shared/schemas/SOURCES.md (the schemas our manifests are validated
against); moving one means moving the schemas with it.
"""

from __future__ import annotations

from dataclasses import dataclass

VLLM_VERSION = "v0.32.0"
VLLM_IMAGE = f"docker.io/vllm/vllm-openai:{VLLM_VERSION}"

KSERVE_VERSION = "v0.20.0"
KNATIVE_VERSION = "v1.23.0"
GPU_OPERATOR_VERSION = "v26.7.0"
CERT_MANAGER_VERSION = "v1.21.1"
ENVOY_GATEWAY_VERSION = "v1.9.0"
GATEWAY_API_VERSION = "v1.6.1"
PROMETHEUS_OPERATOR_CRDS_VERSION = "v0.93.0"

# KEDA is not in SOURCES.md: no defaults file in ../shared/schemas, so we set no KEDA
# values (tools/helm_values.py refuses values for a chart without defaults).
KEDA_VERSION = "2.21.1"  # kedacore/charts release "KEDA Chart: v2.21.1" (chart and app 2.21.1)

# Images we run ourselves besides vLLM. The s3 warm-up copies weights with the AWS CLI
# (an exact release of the official image on ECR Public).
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.36.15"
# The Envoy proxy Envoy Gateway runs for each Gateway: its repository only, since each
# EnvoyProxy names it with `imageRepository` and Envoy Gateway adds the tag it was built with.
ENVOY_PROXY_REPOSITORY = "docker.io/envoyproxy/envoy"
# Kourier, Knative's cluster-internal ingress: net-kourier 1.23 (as the Knative Operator
# v1.23.0 bundles it) runs Envoy from the floating tag `v1.37-latest`; we pin a release of
# that line. Not distroless: Kourier's preStop hook runs /bin/sh and curl.
KOURIER_ENVOY_IMAGE = "docker.io/envoyproxy/envoy:v1.37.2"
ENVOY_RATELIMIT_IMAGE = "docker.io/envoyproxy/ratelimit:17b1956c"  # gateway-helm v1.9.0 values default


@dataclass(frozen=True)
class Chart:
    """A Helm chart pinned to one exact version; `repo` is an HTTP repository or an OCI prefix."""

    name: str
    version: str
    repo: str

    @property
    def is_oci(self) -> bool:
        return self.repo.startswith("oci://")


GPU_OPERATOR_CHART = Chart("gpu-operator", GPU_OPERATOR_VERSION, "https://helm.ngc.nvidia.com/nvidia")
CERT_MANAGER_CHART = Chart("cert-manager", CERT_MANAGER_VERSION, "https://charts.jetstack.io")
KNATIVE_OPERATOR_CHART = Chart("knative-operator", KNATIVE_VERSION, "https://knative.github.io/operator")
KSERVE_CRD_CHART = Chart("kserve-crd", KSERVE_VERSION, "oci://ghcr.io/kserve/charts")
KSERVE_CHART = Chart("kserve-resources", KSERVE_VERSION, "oci://ghcr.io/kserve/charts")
KEDA_CHART = Chart("keda", KEDA_VERSION, "https://kedacore.github.io/charts")
# KServe's local model cache (modelCache.kind local): its CRDs and its controller and node agent.
KSERVE_LOCALMODEL_CRD_CHART = Chart("kserve-localmodel-crd", KSERVE_VERSION, "oci://ghcr.io/kserve/charts")
KSERVE_LOCALMODEL_CHART = Chart("kserve-localmodel-resources", KSERVE_VERSION, "oci://ghcr.io/kserve/charts")
# Brings the Gateway API CRDs (GATEWAY_API_VERSION) with Envoy Gateway's own.
ENVOY_GATEWAY_CHART = Chart("gateway-helm", ENVOY_GATEWAY_VERSION, "oci://docker.io/envoyproxy")
