"""Every image the charts we install deploy, and the values that point them at the mirror.

Pure Python, no Pulumi imports. Each chart spells an image its own way (one string; a
repository and a tag; a registry, a repository and a tag; NVIDIA's repository, image and
version), so each entry names where the image lives in the chart's values, the chart's
default image at its pinned version, and the spelling. `values_for` turns a list of them
into the values that make the chart pull through the mirror (`images.mirrored`, the one
mapping); an image the mirror leaves unchanged gets no value, so without a mirror (and
without pinned digests) the charts keep their own defaults.

The defaults were read from the chart's values at the pinned version (../shared/schemas/
helm-values; tests compare every entry with it). Two charts have no defaults file there,
so their image keys were read from upstream and are listed in `HAND_CHECKED_VALUE_PATHS`
for the helm-values gate:
- KEDA 2.21.1 (kedacore/charts keda/values.yaml and templates/manager/deployment.yaml):
  `image.{keda,metricsApiServer,webhooks}.{registry,repository,tag}`, rendered as
  `<registry>/<repository>:<tag>`; the images are `ghcr.io/kedacore/<name>:2.21.1`.
- The GPU Operator's node-feature-discovery subchart (NVIDIA/gpu-operator
  deployments/gpu-operator/charts/node-feature-discovery/values.yaml):
  `image.repository`, the tag being the subchart's appVersion, which we leave alone; and
  the GPU Operator's own `operator.version`, `validator.version` and
  `nodeStatusExporter.version`, which its values.yaml documents but leaves commented out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components import versions
from components.images import ImageRef, Mirror, mirrored, mirrored_ref, parse


def _nvidia(ref: ImageRef) -> dict[str, str | None]:
    directory, _, name = ref.path.rpartition("/")
    return {"repository": f"{ref.registry}/{directory}", "image": name, "version": ref.version}


def _registry_and_namespace(ref: ImageRef) -> dict[str, str]:
    """cert-manager's chart-wide `<imageRegistry>/<imageNamespace>/<name>`: what any image of
    the chart we did not list would be pulled from."""
    *prefix, namespace, _ = ref.path.split("/")
    return {"imageRegistry": "/".join([ref.registry, *prefix]), "imageNamespace": namespace}


def _with_digest(ref: ImageRef) -> dict[str, str | None]:
    return {"repository": ref.repository, "tag": ref.tag, **({"digest": ref.digest} if ref.digest else {})}


# Keys of a spelling that say which version, not where the image comes from.
_VERSION_KEYS = frozenset({"tag", "digest", "version", "defaultVersion", "defaultJobTag"})

# How a chart's values spell one image, given the mirrored reference.
SPELLINGS: dict[str, Callable[[ImageRef], dict[str, Any]]] = {
    "image": lambda ref: {"image": str(ref)},
    "rbacProxyImage": lambda ref: {"rbacProxyImage": str(ref)},
    "repository+tag+digest": _with_digest,
    "imageRegistry+imageNamespace": _registry_and_namespace,
    "image+tag": lambda ref: {"image": ref.repository, "tag": ref.version},
    "image+defaultVersion": lambda ref: {"image": ref.repository, "defaultVersion": ref.version},
    "defaultJobImage+defaultJobTag": lambda ref: {"defaultJobImage": ref.repository, "defaultJobTag": ref.version},
    "registry+repository+tag": lambda ref: {"registry": ref.registry, "repository": ref.path, "tag": ref.version},
    "repository+image+version": _nvidia,
    "repository": lambda ref: {"repository": ref.repository},
}


@dataclass(frozen=True)
class ChartImage:
    """One image a chart deploys: where its settings live in the values, the chart's
    default image, and how the values spell it (a key of SPELLINGS)."""

    path: tuple[str, ...]
    upstream: str
    spelling: str

    def values(self, mirror: Mirror) -> dict[str, Any]:
        return SPELLINGS[self.spelling](mirrored_ref(self.upstream, mirror))

    def changed_by(self, mirror: Mirror) -> bool:
        return mirrored(self.upstream, mirror) != str(parse(self.upstream))

    @property
    def source_keys(self) -> tuple[str, ...]:
        """The values keys (under `path`) that say where the image comes from, in the order
        the chart joins them: `registry`, `repository`; `repository`, `image`; ..."""
        return tuple(key for key in self._chart_defaults() if key not in _VERSION_KEYS)

    def source_in(self, chart_values: Mapping[str, Any]) -> str:
        """Where the chart pulls this image from, given its values: the `source_keys` joined,
        each one the values leave unset being the chart's default."""
        settings: Any = chart_values
        for key in self.path:
            settings = settings.get(key) if isinstance(settings, Mapping) else None
        settings = settings if isinstance(settings, Mapping) else {}
        defaults = self._chart_defaults()
        return "/".join(str(settings.get(key) or defaults[key]) for key in self.source_keys)

    def _chart_defaults(self) -> dict[str, Any]:
        return SPELLINGS[self.spelling](parse(self.upstream))


def values_for(chart_images: Iterable[ChartImage], mirror: Mirror) -> dict[str, Any]:
    """The values that make these images come through `mirror`; {} when it changes none."""
    values: dict[str, Any] = {}
    for image in chart_images:
        if image.changed_by(mirror):
            values = deep_merge(values, _nested(image.path, image.values(mirror)))
    return values


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, maps merged key by key, anything else taken from `extra`."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _nested(path: tuple[str, ...], leaf: dict[str, Any]) -> dict[str, Any]:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


# --- the charts' images ---------------------------------------------------------------

_CM = versions.CERT_MANAGER_VERSION
CERT_MANAGER_IMAGES = (
    ChartImage((), f"quay.io/jetstack/cert-manager-controller:{_CM}", "imageRegistry+imageNamespace"),
    *(
        ChartImage(path, f"quay.io/jetstack/cert-manager-{name}:{_CM}", "repository+tag+digest")
        for path, name in (
            (("image",), "controller"),
            (("webhook", "image"), "webhook"),
            (("cainjector", "image"), "cainjector"),
            (("acmesolver", "image"), "acmesolver"),
            (("startupapicheck", "image"), "startupapicheck"),
        )
    ),
)

_GPU_OPERATOR_DEFAULTS = (
    # values key, repository, image, version (the chart's defaults at v26.7.0; the operator
    # and validator default to the chart's appVersion)
    (("validator",), "nvcr.io/nvidia", "gpu-operator", versions.GPU_OPERATOR_VERSION),
    (("operator",), "nvcr.io/nvidia", "gpu-operator", versions.GPU_OPERATOR_VERSION),
    (("driver",), "nvcr.io/nvidia", "driver", "595.91.07"),
    (("driver", "manager"), "nvcr.io/nvidia/cloud-native", "k8s-driver-manager", "v0.12.0"),
    (("toolkit",), "nvcr.io/nvidia/k8s", "container-toolkit", "v1.20.0"),
    (("devicePlugin",), "nvcr.io/nvidia", "k8s-device-plugin", "v0.20.0"),
    (("dcgm",), "nvcr.io/nvidia/cloud-native", "dcgm", "4.6.0-1-ubuntu24.04"),
    (("dcgmExporter",), "nvcr.io/nvidia/k8s", "dcgm-exporter", "4.6.0-4.8.3-distroless"),
    (("gfd",), "nvcr.io/nvidia", "k8s-device-plugin", "v0.20.0"),
    (("migManager",), "nvcr.io/nvidia/cloud-native", "k8s-mig-manager", "v0.15.0"),
    (("nodeStatusExporter",), "nvcr.io/nvidia", "gpu-operator", versions.GPU_OPERATOR_VERSION),
    (("gds",), "nvcr.io/nvidia/cloud-native", "nvidia-fs", "2.29.4"),
    (("gdrcopy",), "nvcr.io/nvidia/cloud-native", "gdrdrv", "v2.6"),
    (("vgpuManager", "driverManager"), "nvcr.io/nvidia/cloud-native", "k8s-driver-manager", "v0.12.0"),
    (("vgpuDeviceManager",), "nvcr.io/nvidia/cloud-native", "vgpu-device-manager", "v0.5.0"),
    (("vfioManager",), "nvcr.io/nvidia/cloud-native", "k8s-driver-manager", "v0.12.0"),
    (("vfioManager", "driverManager"), "nvcr.io/nvidia/cloud-native", "k8s-driver-manager", "v0.12.0"),
    (("sandboxDevicePlugin",), "nvcr.io/nvidia", "kubevirt-gpu-device-plugin", "v1.6.0"),
    (("kataSandboxDevicePlugin",), "nvcr.io/nvidia/cloud-native", "nvidia-sandbox-device-plugin", "v0.0.5"),
    (("ccManager",), "nvcr.io/nvidia/cloud-native", "k8s-cc-manager", "v0.4.3"),
    (("draDriver",), "nvcr.io/nvidia", "dra-driver-nvidia-gpu", "v0.5.0"),
)
# The subchart's image (tag: its appVersion); vgpuManager has no default image to mirror
# (the user builds the vGPU driver image).
NFD_IMAGE = ChartImage(("node-feature-discovery", "image"), "registry.k8s.io/nfd/node-feature-discovery", "repository")
GPU_OPERATOR_IMAGES = (
    *(ChartImage(path, f"{repo}/{image}:{version}", "repository+image+version")
      for path, repo, image, version in _GPU_OPERATOR_DEFAULTS),
    NFD_IMAGE,
)  # fmt: skip

_KNATIVE_RELEASES = "gcr.io/knative-releases/knative.dev"
_KN = versions.KNATIVE_VERSION
KNATIVE_OPERATOR_IMAGES = (
    ChartImage(
        ("knative_operator", "knative_operator"), f"{_KNATIVE_RELEASES}/operator/cmd/operator:{_KN}", "image+tag"
    ),
    ChartImage(
        ("knative_operator", "operator_webhook"), f"{_KNATIVE_RELEASES}/operator/cmd/webhook:{_KN}", "image+tag"
    ),
)
# What the Knative Operator deploys for a KnativeServing, keyed the way `spec.registry.override`
# names them: a container name, `<deployment>/<container>` where two share a container name,
# or a caching Image (queue-proxy, Knative's sidecar in every Knative pod). The list is every
# container of the operator's own manifests at KNATIVE_VERSION (knative/operator
# cmd/operator/kodata/knative-serving/1.23.0/: 2-serving-core.yaml activator, autoscaler,
# controller, webhook and the queue-proxy Image; 3-serving-hpa.yaml autoscaler-hpa;
# 4-serving-post-install-jobs.yaml the Jobs' `migrate` and `cleanup`) and of its Kourier
# ingress (kodata/ingress/1.23/kourier: net-kourier-controller/controller, kourier-gateway).
# Those manifests are not in ../shared/schemas, so this table is the source; a container it
# misses would pull from gcr.io past the mirror.
KOURIER_GATEWAY_CONTAINER = "kourier-gateway"
KNATIVE_SERVING_IMAGES: dict[str, str] = {
    "activator": f"{_KNATIVE_RELEASES}/serving/cmd/activator:{_KN}",
    "autoscaler": f"{_KNATIVE_RELEASES}/serving/cmd/autoscaler:{_KN}",
    "autoscaler-hpa": f"{_KNATIVE_RELEASES}/serving/cmd/autoscaler-hpa:{_KN}",
    "controller": f"{_KNATIVE_RELEASES}/serving/cmd/controller:{_KN}",
    "webhook": f"{_KNATIVE_RELEASES}/serving/cmd/webhook:{_KN}",
    "queue-proxy": f"{_KNATIVE_RELEASES}/serving/cmd/queue:{_KN}",
    "migrate": f"{_KNATIVE_RELEASES}/pkg/apiextensions/storageversion/cmd/migrate:{_KN}",
    # The post-install `cleanup-serving-` Job (container `cleanup`).
    "cleanup": f"{_KNATIVE_RELEASES}/serving/pkg/cleanup/cmd/cleanup:{_KN}",
    # Kourier: its controller, and the Envoy gateway it programs.
    "net-kourier-controller/controller": f"{_KNATIVE_RELEASES}/net-kourier/cmd/kourier:{_KN}",
    KOURIER_GATEWAY_CONTAINER: versions.KOURIER_ENVOY_IMAGE,
}
QUEUE_PROXY = "queue-proxy"
# Overridden even without a mirror: upstream names a floating tag.
ALWAYS_OVERRIDDEN = (KOURIER_GATEWAY_CONTAINER,)

_KS = versions.KSERVE_VERSION
# Both KServe charts share one values layout: these images appear in either chart's values
# (kserve-resources writes them into its inferenceservice-config), whichever chart runs them.
_KSERVE_SHARED = (
    ChartImage(("kserve", "agent"), f"docker.io/kserve/agent:{_KS}", "image+tag"),
    ChartImage(("kserve", "router"), f"docker.io/kserve/router:{_KS}", "image+tag"),
    ChartImage(("kserve", "storage"), f"docker.io/kserve/storage-initializer:{_KS}", "image+tag"),
    ChartImage(("kserve", "servingruntime", "art"), f"docker.io/kserve/art-explainer:{_KS}", "image+defaultVersion"),
    ChartImage(
        ("kserve", "localmodel", "controller"), f"docker.io/kserve/kserve-localmodel-controller:{_KS}", "image+tag"
    ),
    ChartImage(
        ("kserve", "localmodel"), f"docker.io/kserve/storage-initializer:{_KS}", "defaultJobImage+defaultJobTag"
    ),
    ChartImage(("kserve", "localmodel", "agent"), f"docker.io/kserve/kserve-localmodelnode-agent:{_KS}", "image+tag"),
)
KSERVE_IMAGES = (
    ChartImage(("kserve", "controller"), f"docker.io/kserve/kserve-controller:{_KS}", "image+tag"),
    ChartImage(("kserve", "controller"), "quay.io/brancz/kube-rbac-proxy:v0.18.0", "rbacProxyImage"),
    *_KSERVE_SHARED,
)
KSERVE_LOCALMODEL_IMAGES = (
    *_KSERVE_SHARED,
    ChartImage(
        ("kserve", "localmodelnode", "controller"), f"docker.io/kserve/kserve-localmodelnode-agent:{_KS}", "image+tag"
    ),
)

KEDA_IMAGES = tuple(
    ChartImage(("image", key), f"ghcr.io/kedacore/{name}:{versions.KEDA_VERSION}", "registry+repository+tag")
    for key, name in (
        ("keda", "keda"),
        ("metricsApiServer", "keda-metrics-apiserver"),
        ("webhooks", "keda-admission-webhooks"),
    )
)

ENVOY_GATEWAY_IMAGES = (
    ChartImage(
        ("global", "images", "envoyGateway"), f"docker.io/envoyproxy/gateway:{versions.ENVOY_GATEWAY_VERSION}", "image"
    ),
    ChartImage(("global", "images", "ratelimit"), versions.ENVOY_RATELIMIT_IMAGE, "image"),
)

# The images of each chart we install, by chart name.
IMAGES_BY_CHART: dict[str, tuple[ChartImage, ...]] = {
    versions.CERT_MANAGER_CHART.name: CERT_MANAGER_IMAGES,
    versions.GPU_OPERATOR_CHART.name: GPU_OPERATOR_IMAGES,
    versions.KNATIVE_OPERATOR_CHART.name: KNATIVE_OPERATOR_IMAGES,
    versions.KSERVE_CHART.name: KSERVE_IMAGES,
    versions.KSERVE_LOCALMODEL_CHART.name: KSERVE_LOCALMODEL_IMAGES,
    versions.KEDA_CHART.name: KEDA_IMAGES,
    versions.ENVOY_GATEWAY_CHART.name: ENVOY_GATEWAY_IMAGES,
}

# Value paths of charts with no defaults file in ../shared/schemas to check them against,
# read from upstream at the pinned versions (module docstring).
HAND_CHECKED_VALUE_PATHS: dict[str, frozenset[tuple[str, ...]]] = {
    versions.KEDA_CHART.name: frozenset(
        (*image.path, key) for image in KEDA_IMAGES for key in ("registry", "repository", "tag")
    ),
    versions.GPU_OPERATOR_CHART.name: frozenset(
        {
            (*NFD_IMAGE.path, "repository"),
            # Commented out in the chart's values.yaml ("#version: \"\"", default the appVersion).
            *((operand, "version") for operand in ("operator", "validator", "nodeStatusExporter")),
        }
    ),
}


# --- the platform's images ------------------------------------------------------------


def with_envoy_proxy_image(proxy: dict[str, Any], mirror: Mirror) -> dict[str, Any]:
    """An EnvoyProxy spec whose proxies come through the mirror: `imageRepository` (not `image`)
    leaves the tag to the Envoy Gateway version that runs them, which the chart's
    `global.images.envoyProxy.image` could not (it needs a tag and defaults one of its own)."""
    repository = mirrored(versions.ENVOY_PROXY_REPOSITORY, mirror)
    if repository == versions.ENVOY_PROXY_REPOSITORY:
        return proxy
    container = {"provider": {"kubernetes": {"envoyDeployment": {"container": {"imageRepository": repository}}}}}
    return deep_merge(proxy, container)


def knative_registry(mirror: Mirror) -> dict[str, Any]:
    """KnativeServing `spec.registry`: every Knative Serving image through the mirror; without
    one, the images whose upstream tag floats, pinned."""
    override = {key: mirrored(image, mirror) for key, image in sorted(KNATIVE_SERVING_IMAGES.items())}
    if all(override[key] == str(parse(KNATIVE_SERVING_IMAGES[key])) for key in override):
        override = {key: override[key] for key in ALWAYS_OVERRIDDEN}
    return {"override": override}
