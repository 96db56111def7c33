"""Every image a stack deploys: the upstream reference, the reference the cluster pulls, and
whether you must copy it into the mirror yourself (`python -m tools images <stack>`).

Where the list comes from, and why two sources:
- The list itself is `spec.images.platform_images(spec)` mapped through `images.mirrored`
  with the stack's mirror: the very functions the components use (the chart values come
  from the same `ChartImage` entries through `values_for`, our pods from
  `RegistryMirror.image`), and the ones the spec's mirror checks and the ECR rules read. It
  names the images a chart runs by default even where our values leave them alone, which a
  render cannot show (charts are rendered by the provider at preview, not offline). Where a
  chart is concerned it is a superset: it names every image the chart's values name, also
  operands the stack leaves off (the GPU Operator's driver when the driver is on the host),
  since the values point each one at the mirror and an operand switched on later pulls it.
- The render under the mock runtime (`tools.render`) is then read back with the policy
  pack's own `pulled_images` (containers of every workload, chart image values,
  `KnativeServing` overrides, `EnvoyProxy` repositories): anything the stack pulls that the
  list lacks is an `UnlistedImage` error, so an image added to a component without going
  through `platform_images` cannot be missed silently.

Copying: an image must be copied by you when the mirror cannot fetch it itself. With
`registryMirror.kind: ecr-pull-through` that is every image of a registry ECR has no
pull-through cache for (nvcr.io, gcr.io), kept under `copiedPrefixes`. An `external` mirror
serves every upstream under its own prefix (a proxy cache), so nothing is copied for it; with
no mirror, images come from upstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from components import versions
from components.images import ECR_PULL_THROUGH, Mirror, mirrored_ref, parse
from components.spec import EcrPullThroughMirror, PlatformSpec
from components.spec.images import platform_images
from policy.rules.supply_chain import pulled_images
from tools.render import Rendered

# How an image reaches the cluster: straight from upstream, fetched by the mirror on first
# pull (ECR pull-through rule, proxy cache), or copied there by your own job.
Route = Literal["upstream", "pull-through", "proxy", "copy"]


class UnlistedImage(Exception):
    """The render pulls an image the list does not hold: a component bypasses `platform_images`."""


@dataclass(frozen=True)
class StackImage:
    upstream: str  # normalised upstream reference, with the digest the stack pins, if any
    pulled: str  # the reference the cluster pulls
    route: Route

    @property
    def copy_source(self) -> str:
        return self.upstream

    @property
    def copy_destination(self) -> str:
        """Where a copy job writes it: the pulled repository and tag, without the digest (the
        copy keeps the manifest, so the pinned digest resolves there)."""
        return str(replace(parse(self.pulled), digest=None))

    @property
    def tag_note(self) -> str:
        """Why a repository has no tag: whoever runs it adds one at run time."""
        ref = parse(self.upstream)
        if ref.tag or ref.digest:
            return ""
        if self.upstream == versions.ENVOY_PROXY_REPOSITORY:
            return "no tag: Envoy Gateway adds the Envoy tag it was built with"
        return "no tag: its chart adds one (the chart's appVersion)"


def stack_images(spec: PlatformSpec) -> list[StackImage]:
    """Every image the stack deploys, sorted by upstream reference."""
    mirror = spec.image_mirror
    pinned_only = Mirror(digests=mirror.digests)
    found = [
        StackImage(str(mirrored_ref(image, pinned_only)), str(mirrored_ref(image, mirror)), _route(spec, image))
        for image in platform_images(spec)
    ]
    return sorted(found, key=lambda image: image.upstream)


def _route(spec: PlatformSpec, image: str) -> Route:
    mirror = spec.registry_mirror
    if spec.image_mirror.host is None:
        return "upstream"
    if isinstance(mirror, EcrPullThroughMirror):
        return "pull-through" if parse(image).registry in ECR_PULL_THROUGH else "copy"
    return "proxy"


def to_copy(images: Iterable[StackImage]) -> list[StackImage]:
    return [image for image in images if image.route == "copy"]


def check_against_render(images: list[StackImage], rendered: Rendered) -> None:
    """Raise UnlistedImage naming every image the render pulls that `images` does not hold."""
    missing = sorted(set(unlisted(images, rendered)))
    if missing:
        raise UnlistedImage(
            "the render pulls images this list does not hold (add them to components/chart_images.py "
            "platform_images): " + "; ".join(missing)
        )


def unlisted(images: list[StackImage], rendered: Rendered) -> Iterator[str]:
    """`<where>: <image>` for each image the render pulls that no listed image accounts for.

    A container names a full reference; a chart value, `KnativeServing` override or
    `EnvoyProxy` repository may name only a repository, or (cert-manager's chart-wide
    `imageRegistry/imageNamespace`) a prefix of one: each must lead to a listed reference."""
    pulled = {image.pulled for image in images}
    repositories = {parse(image.pulled).repository for image in images}
    for resource in rendered.resources:
        for where, reference in pulled_images(_AsPolicySees(resource["type"], resource["inputs"])):
            if reference in pulled or reference in repositories:
                continue
            if any(repository.startswith(f"{reference}/") for repository in repositories):
                continue
            yield f"{resource['name']} {where}: {reference}"


@dataclass(frozen=True)
class _AsPolicySees:
    """The two attributes of a `PolicyResource` that `pulled_images` reads."""

    resource_type: str
    props: Any


# --- output ---------------------------------------------------------------------------


def listing(stack: str, spec: PlatformSpec, images: list[StackImage]) -> list[str]:
    """The full table: a `#` header, then `<upstream>  <pulled>  <route>` per image."""
    copied = to_copy(images)
    mirror = spec.registry_mirror
    lines = [
        f"# {stack}: {len(images)} images, registryMirror.kind {mirror.kind}"
        + (f" ({spec.image_mirror.host})" if spec.image_mirror.host else ""),
        f"# {len(copied)} to copy yourself" + _copy_hint(spec, copied),
        "# upstream  pulled-by-the-cluster  route (upstream | pull-through | proxy | copy)",
    ]
    width = max((len(image.upstream) for image in images), default=0)
    for image in images:
        note = f"  # {image.tag_note}" if image.tag_note else ""
        lines.append(f"{image.upstream:<{width}}  {image.pulled}  {image.route}{note}")
    return lines


def _copy_hint(spec: PlatformSpec, copied: list[StackImage]) -> str:
    if not copied:
        return ""
    registries = sorted({parse(image.upstream).registry for image in copied})
    mirror = spec.registry_mirror
    assert isinstance(mirror, EcrPullThroughMirror)  # the only mirror that routes images to "copy" (`_route`)
    # Keyed by registry name as `parse` gives it (str), not as the spec's Literal.
    copied_prefixes: dict[str, str] = dict(mirror.copied_prefixes.items())
    prefixes = ", ".join(f"{r} -> {copied_prefixes[r]}/" for r in registries)
    return f" (registryMirror.copiedPrefixes: {prefixes}); list them with --copy-only"


def copy_lines(images: list[StackImage]) -> list[str]:
    """`<source> <destination>` per image to copy, for a copy job (`crane copy SRC DST`)."""
    return [f"{image.copy_source} {image.copy_destination}" for image in to_copy(images)]
