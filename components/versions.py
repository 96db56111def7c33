"""Every pinned chart and image version, in one place.

Versions match ../shared/schemas/SOURCES.md (the schemas our manifests are validated
against); moving one means moving the schemas with it.
"""

from __future__ import annotations

VLLM_VERSION = "v0.32.0"
VLLM_IMAGE = f"docker.io/vllm/vllm-openai:{VLLM_VERSION}"

KSERVE_VERSION = "v0.20.0"
KNATIVE_VERSION = "v1.23.0"
GPU_OPERATOR_VERSION = "v26.7.0"
CERT_MANAGER_VERSION = "v1.21.1"
ENVOY_GATEWAY_VERSION = "v1.9.0"
GATEWAY_API_VERSION = "v1.6.1"
PROMETHEUS_OPERATOR_CRDS_VERSION = "v0.93.0"
