"""Image references and the one function that turns an upstream image into its mirrored one.

Pure Python, no Pulumi imports. Every image the platform deploys, whether in a pod we
declare or in a Helm chart's values, goes through `mirrored`, so a mirror configured in the
spec reaches all of them and a review of the render shows the exact reference each node
pulls.

A reference is normalised the way container runtimes read it: no registry means Docker Hub
(`docker.io`), and a Docker Hub name without an organisation is an official image under
`library/` (`python:3.12` is `docker.io/library/python:3.12`). A mirror keeps the upstream
path under a prefix per upstream registry (`<host>/<prefix>/<path>`), keeps the tag, and
adds the digest the spec pins for that image (`<...>:<tag>@sha256:...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

DOCKER_HUB = "docker.io"
# Names runtimes accept for Docker Hub; the mirror sees one.
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """Registry and path: what a chart's `repository` value holds."""
        return f"{self.registry}/{self.path}"

    @property
    def version(self) -> str | None:
        """The tag with the digest after it (`v1.2.3@sha256:...`): charts that join
        `<repository>:<tag>` then render a pinned reference."""
        if self.digest and self.tag:
            return f"{self.tag}@{self.digest}"
        return self.tag

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(image: str) -> ImageRef:
    """An image reference, normalised (`vllm/vllm-openai:v1` -> `docker.io/vllm/vllm-openai:v1`)."""
    name, _, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, remainder = first, rest
    else:
        registry, remainder = DOCKER_HUB, name
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in remainder:
            remainder = f"library/{remainder}"
    path, colon, tag = remainder.rpartition(":") if ":" in remainder else (remainder, "", "")
    return ImageRef(registry=registry, path=path if colon else remainder, tag=tag or None, digest=digest or None)


@dataclass(frozen=True)
class Mirror:
    """Where images come from instead of their upstream registries.

    `host` is the mirror registry, `prefixes` the path under it per upstream registry
    (`docker.io` -> `docker-hub`), `digests` the digest pinned per upstream image
    (normalised reference without digest -> `sha256:...`). With no host, images stay
    upstream and only the digests apply.
    """

    host: str | None = None
    prefixes: Mapping[str, str] = field(default_factory=dict)
    digests: Mapping[str, str] = field(default_factory=dict)

    def prefix_for(self, registry: str) -> str:
        if registry not in self.prefixes:
            raise UnmirroredRegistry(registry)
        return self.prefixes[registry]


NO_MIRROR = Mirror()


class UnmirroredRegistry(KeyError):
    """An image from an upstream registry the mirror has no path for; the spec's cross-field
    rules catch this before any resource exists, so reaching it is a bug."""


def mirrored(image: str, mirror: Mirror) -> str:
    """`image` as pulled through `mirror`: same path and tag, plus the digest pinned for it."""
    return str(mirrored_ref(image, mirror))


def mirrored_ref(image: str, mirror: Mirror) -> ImageRef:
    upstream = parse(image)
    pinned = mirror.digests.get(str(replace(upstream, digest=None)))
    if pinned:
        upstream = replace(upstream, digest=pinned)
    if mirror.host is None:
        return upstream
    prefix = mirror.prefix_for(upstream.registry)
    return replace(upstream, registry=mirror.host, path=f"{prefix}/{upstream.path}" if prefix else upstream.path)


def unpinned(image: str) -> str:
    """The normalised reference without a digest: how the spec's `digests` name an image."""
    return str(replace(parse(image), digest=None))


# The stack output that tells the policy pack's `images-from-mirror` where this stack's
# images must come from: a stack policy sees the stack's outputs, not the program's spec.
MIRROR_PREFIXES_OUTPUT = "registryMirrorPrefixes"


def mirror_prefixes(mirror: Mirror) -> list[str]:
    """What every reference `mirrored` makes starts with: `<host>/<prefix>/`, one per upstream
    registry the mirror serves; none when images stay upstream."""
    if mirror.host is None:
        return []
    return sorted({f"{mirror.host}/{prefix}/" for prefix in mirror.prefixes.values()})


# --- ECR pull-through cache ------------------------------------------------------------


@dataclass(frozen=True)
class PullThroughUpstream:
    """An upstream ECR can cache: the URL its rule names, the repository prefix we give its
    images in ECR (AWS's own examples use these), and whether ECR needs credentials for it."""

    url: str
    ecr_prefix: str
    needs_credentials: bool


# CreatePullThroughCacheRule's supported upstreams (Amazon ECR API reference, upstreamRegistryUrl);
# Docker Hub's rule names its registry API host. nvcr.io and gcr.io have no pull-through cache.
ECR_PULL_THROUGH: dict[str, PullThroughUpstream] = {
    "docker.io": PullThroughUpstream("registry-1.docker.io", "docker-hub", needs_credentials=True),
    "ghcr.io": PullThroughUpstream("ghcr.io", "github", needs_credentials=True),
    "quay.io": PullThroughUpstream("quay.io", "quay", needs_credentials=False),
    "registry.k8s.io": PullThroughUpstream("registry.k8s.io", "k8s", needs_credentials=False),
    "public.ecr.aws": PullThroughUpstream("public.ecr.aws", "ecr-public", needs_credentials=False),
}


def ecr_registry_host(account_id: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account_id}.dkr.ecr.{region}.{suffix}"
