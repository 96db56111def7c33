"""Supply-chain rules: every image, model and chart is pinned, and images come from the mirror."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from components import generated
from components.chart_images import IMAGES_BY_CHART
from components.images import MIRROR_PREFIXES_OUTPUT
from components.vllm_args import MODEL, REVISION
from policy import flags
from policy.commands import HUB_DOWNLOAD, hub_downloads
from policy.kube import (
    ENVOY_PROXY,
    INFERENCE_SERVICE,
    KNATIVE_SERVING,
    LLM_INFERENCE_SERVICE,
    Container,
    at,
    containers,
    kind_of,
    mapping,
    sequence,
)
from policy.rule import (
    ResourceValidationArgs,
    StackValidationArgs,
    in_production,
    production_stacks_config,
    resource_rule,
    setting,
    stack_output,
    stack_rule,
    string_list_config,
)
from policy.workloads import LOCAL_MODEL_CACHE

COMMIT = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# An exact release: major.minor.patch, optionally with a build suffix (v0.32.0, 1.2.3-cuda12.8).
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+.][0-9A-Za-z.+-]+)?$")
_MOVING_TAGS = {"latest", "stable", "main", "master", "nightly", "edge", "dev", "develop", "head",
                "canary", "rolling", "release", "lts", "current", "next", "trunk", "beta", "alpha"}  # fmt: skip
_MOVING_SUFFIX = re.compile(r"[-_.](latest|nightly|edge|dev)$")
_HELM_CHARTS = {("helm.sh", "Chart"), ("helm.sh", "Release")}


# --- pinned-image-tags ----------------------------------------------------------------

IMAGE_TAG_CONFIG = production_stacks_config("Stacks held to digests or exact version tags")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference; tag and digest may be None."""
    name, _, digest = image.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1 :], digest or None
    return name, None, digest or None


def image_pin_problem(image: str, production: bool) -> str | None:
    _, tag, digest = split_image(image)
    if digest:
        return None if _DIGEST.search(image) else "has a malformed digest (expected @sha256:<64 hex>)"
    if tag is None:
        return "has no tag, so Kubernetes pulls the moving 'latest'"
    if tag.lower() in _MOVING_TAGS or _MOVING_SUFFIX.search(tag.lower()):
        return f"uses the moving tag '{tag}'"
    if production and not EXACT_VERSION.match(tag):
        return "is pinned neither by digest nor by an exact version tag (major.minor.patch), as production requires"
    return None


def is_production(args: ResourceValidationArgs) -> bool:
    return in_production(args, IMAGE_TAG_CONFIG)


def _pinned_image_tags(args: ResourceValidationArgs) -> Iterator[str]:
    production = is_production(args)
    for container in containers(args.resource_type, args.props):
        problem = image_pin_problem(container.image, production) if container.image else None
        if problem:
            yield f"{container.path}: image '{container.image}' {problem}"


PINNED_IMAGE_TAGS = resource_rule(
    "pinned-image-tags",
    "Every container image is pinned: no missing or moving tag (latest, main, nightly, ...); "
    "in production stacks a digest or an exact version tag.",
    _pinned_image_tags,
    "Reference the image by digest (image@sha256:...) or by an exact release tag such as v0.32.0; "
    "pin our own images in components/versions.py.",
    config=IMAGE_TAG_CONFIG,
)


# --- pinned-model-revisions -----------------------------------------------------------


def model_uri_problem(uri: str) -> str | None:
    """The revision is read where the loader reads it: after ':' in `hf://org/name:<rev>`, and
    the last path segment of a storage path (`.../<org>/<name>/<commit>`, the model cache's
    layout), not any 40-hex segment somewhere in the string."""
    if uri.startswith("hf://"):
        revision = uri[len("hf://") :].partition(":")[2]
        return None if COMMIT.match(revision) else "does not end in ':<40-hex commit>'"
    path = (uri.partition("://")[2] or uri).split("?")[0].rstrip("/")
    return None if COMMIT.match(path.rpartition("/")[2]) else "has no 40-hex commit revision as its last path segment"


def _served_model(container: Container) -> str | None:
    """The model a vLLM command line loads: `--model X`, the word after `serve`, or (for
    KServe, whose runtime supplies `vllm serve`) the first argument."""
    argv = container.argv
    named = flags.last_value(argv, *MODEL.names)
    if named is not None:
        return named
    if "serve" in argv:
        argv = argv[argv.index("serve") + 1 :]
    elif container.model_format is None:
        return None
    return argv[0] if argv and not argv[0].startswith("-") else None


def _container_model_problems(container: Container) -> Iterator[str]:
    uri = container.spec.get("storageUri")
    if uri:
        problem = model_uri_problem(str(uri))
        if problem:
            yield f"{container.path}: storageUri '{uri}' {problem}"
    argv = container.argv
    hub_id = _served_model(container) if container.is_vllm else None
    if hub_id and not hub_id.startswith(("/", ".")):
        revision = flags.last_value(argv, *REVISION.names) or ""
        if not COMMIT.match(revision):
            yield f"{container.path}: serves hub model '{hub_id}' without {REVISION.name} <40-hex commit>"
    # Each download statement carries its own revision, read as its command reads it.
    downloads = list(hub_downloads(container.command_line))
    for statement, pinned in downloads:
        if not COMMIT.match(pinned or ""):
            yield f"{container.path}: downloads from the hub without a 40-hex commit revision: {statement.strip()[:120]}"
    if not downloads and HUB_DOWNLOAD.search(" ".join(container.command_line)):
        yield f"{container.path}: downloads from the hub where no revision can be read (not a plain hf download command)"


def _pinned_model_revisions(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        yield from _container_model_problems(container)
    for component, spec in (
        generated.components_of(args.props) if kind_of(args.resource_type) == INFERENCE_SERVICE else ()
    ):
        for index, item in enumerate(sequence(spec.get("storageUris"))):
            uri = str(mapping(item).get("uri", ""))
            problem = model_uri_problem(uri)
            if problem:
                yield f"spec.{component}.storageUris[{index}]: '{uri}' {problem}"
    if kind_of(args.resource_type) == LLM_INFERENCE_SERVICE:
        uri = str(at(args.props, "spec", "model", "uri") or "")
        problem = model_uri_problem(uri)
        if problem:
            yield f"spec.model.uri: '{uri}' {problem}"
    if kind_of(args.resource_type) == LOCAL_MODEL_CACHE:
        uri = str(at(args.props, "spec", "sourceModelUri") or "")
        problem = model_uri_problem(uri)
        if problem:
            yield f"spec.sourceModelUri: '{uri}' {problem}"


PINNED_MODEL_REVISIONS = resource_rule(
    "pinned-model-revisions",
    "Every served model and every warm-up download comes from a 40-hex commit revision, "
    "never a branch or tag of the hub repository.",
    _pinned_model_revisions,
    "Pin the model's `revision` to the full commit hash of the hub repository; storage URIs "
    "end in .../<org>/<name>/<commit> (or hf://org/name:<commit>), downloads pass --revision <commit>.",
)


# --- pinned-chart-versions ------------------------------------------------------------


def _pinned_chart_versions(args: ResourceValidationArgs) -> Iterator[str]:
    if kind_of(args.resource_type) not in _HELM_CHARTS or "chart" not in args.props:
        return
    chart = str(args.props.get("chart") or "")
    if chart.startswith(("./", "../", "/")):
        return  # a chart in this repository is versioned with it
    version = args.props.get("version")
    if not version:
        yield f"chart '{chart}' has no version: Helm installs whatever is newest"
    elif not EXACT_VERSION.match(str(version)):
        yield f"chart '{chart}' version '{version}' is not an exact version (a range or moving tag)"


PINNED_CHART_VERSIONS = resource_rule(
    "pinned-chart-versions",
    "Every Helm chart is installed at an exact version.",
    _pinned_chart_versions,
    "Set `version` to an exact chart version (e.g. v0.20.0), defined once in components/versions.py.",
)


# --- images-from-mirror ---------------------------------------------------------------

MIRROR_CONFIG = string_list_config(
    "mirrors",
    "Registry prefixes images may also come from, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/; "
    f"added to the stack's own mirror (its {MIRROR_PREFIXES_OUTPUT} output). With neither, the rule passes.",
)
_ENVOY_CONTAINER = ("spec", "provider", "kubernetes", "envoyDeployment", "container")


def allowed_prefixes(args: StackValidationArgs) -> list[str]:
    """The stack's mirror (its stack output) and the configured extra prefixes."""
    configured = [str(prefix) for prefix in setting(args, MIRROR_CONFIG, "mirrors")]
    declared = [str(prefix) for prefix in sequence(stack_output(args, MIRROR_PREFIXES_OUTPUT))]
    return sorted({*configured, *declared})


def _chart_sources(props: Mapping) -> Iterator[tuple[str, str]]:
    """What a chart of ours pulls, per its values (a value left unset is the chart's default)."""
    chart = str(props.get("chart") or "").rstrip("/").rpartition("/")[2]
    values = mapping(props.get("values"))
    for image in IMAGES_BY_CHART.get(chart, ()):
        yield f"values.{'.'.join((*image.path, '+'.join(image.source_keys)))}", image.source_in(values)


def _knative_sources(props: Mapping) -> Iterator[tuple[str, str]]:
    """The images the Knative Operator deploys that the KnativeServing names."""
    registry = mapping(at(props, "spec", "registry"))
    if registry.get("default"):
        yield "spec.registry.default", str(registry["default"])
    for key, image in sorted(mapping(registry.get("override")).items()):
        yield f"spec.registry.override.{key}", str(image)
    queue_sidecar = at(props, "spec", "config", "deployment", "queue-sidecar-image")
    if queue_sidecar:
        yield "spec.config.deployment.queue-sidecar-image", str(queue_sidecar)


def _envoy_proxy_sources(props: Mapping) -> Iterator[tuple[str, str]]:
    container = mapping(at(props, *_ENVOY_CONTAINER))
    for key in ("image", "imageRepository"):
        if container.get(key):
            yield f"{'.'.join(_ENVOY_CONTAINER)}.{key}", str(container[key])


class TypedProps(Protocol):
    """What `pulled_images` reads of a `PolicyResource`; tools/image_list.py passes a stand-in."""

    @property
    def resource_type(self) -> str: ...

    @property
    def props(self) -> Mapping[str, Any]: ...


def pulled_images(resource: TypedProps) -> Iterator[tuple[str, str]]:
    """(where, image or repository) of everything a resource makes the cluster pull."""
    props = resource.props
    for container in containers(resource.resource_type, props):
        if container.image:
            yield container.path, container.image
    kind = kind_of(resource.resource_type)
    if kind in _HELM_CHARTS and "chart" in props:
        yield from _chart_sources(props)
    elif kind == KNATIVE_SERVING:
        yield from _knative_sources(props)
    elif kind == ENVOY_PROXY:
        yield from _envoy_proxy_sources(props)


def _images_from_mirror(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    prefixes = allowed_prefixes(args)
    if not prefixes:
        return
    for resource in args.resources:
        for where, image in pulled_images(resource):
            if not image.startswith(tuple(prefixes)):
                yield f"{where}: '{image}' does not come from the registry mirror ({', '.join(prefixes)})", resource.urn


IMAGES_FROM_MIRROR = stack_rule(
    "images-from-mirror",
    "When the stack has a registry mirror (spec registryMirror) or the rule's `mirrors` config lists "
    "prefixes, every image is pulled through them: pod containers of every workload, the images "
    "of our Helm charts' values, KnativeServing registry overrides and EnvoyProxy images.",
    _images_from_mirror,
    "Reference every image through the mirror (the RegistryMirror component turns an upstream "
    "image into its mirrored reference: `images.mirrored`); list any other registry you trust "
    "in this rule's `mirrors` config.",
    config=MIRROR_CONFIG,
)
