"""Which upstream images a spec deploys: the config's view of the supply chain, read by
the spec's own rules (every image has a mirror path, digests name real images), the mirror
plan and `tools images`. The images of each chart are `components/chart_images.py`'s tables."""

from __future__ import annotations

from collections.abc import Iterable

from components import versions
from components.chart_images import (
    CERT_MANAGER_IMAGES,
    ENVOY_GATEWAY_IMAGES,
    GPU_OPERATOR_IMAGES,
    KEDA_IMAGES,
    KNATIVE_OPERATOR_IMAGES,
    KNATIVE_SERVING_IMAGES,
    KSERVE_IMAGES,
    KSERVE_LOCALMODEL_IMAGES,
    ChartImage,
)
from components.images import parse
from components.spec.platform import PlatformSpec


def warmup_image(spec: PlatformSpec) -> str:
    """The upstream image of the warm-up Jobs: the AWS CLI for an s3 model mirror; the pinned
    vLLM image otherwise, which already ships huggingface_hub's `hf` CLI (so nothing is
    installed from PyPI at run time and no extra image enters the cluster)."""
    return versions.AWS_CLI_IMAGE if spec.model_mirror.kind == "s3" else versions.VLLM_IMAGE


def platform_images(spec: PlatformSpec) -> list[str]:
    """Every upstream image this spec deploys: our pods and Jobs, and what each installed chart runs."""
    switches = spec.control_plane
    found = [versions.VLLM_IMAGE, versions.ENVOY_PROXY_REPOSITORY, *(image.upstream for image in ENVOY_GATEWAY_IMAGES)]
    if spec.model_cache.kind == "pvc":
        found.append(warmup_image(spec))
    chart_sets: list[tuple[bool, Iterable[ChartImage]]] = [
        (spec.gpu_operator.enabled, GPU_OPERATOR_IMAGES),
        (switches.cert_manager.enabled, CERT_MANAGER_IMAGES),
        (switches.knative.enabled, KNATIVE_OPERATOR_IMAGES),
        (switches.kserve.enabled, KSERVE_IMAGES),
        (switches.kserve.enabled and spec.model_cache.kind == "local", KSERVE_LOCALMODEL_IMAGES),
        (switches.keda.enabled, KEDA_IMAGES),
    ]
    for enabled, chart_images in chart_sets:
        if enabled:
            found += [image.upstream for image in chart_images]
    if switches.knative.enabled:
        found += list(KNATIVE_SERVING_IMAGES.values())
    return sorted({str(parse(image)) for image in found})
