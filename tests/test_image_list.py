"""`python -m tools images`: every image a stack deploys, and the ones to copy into the mirror
yourself (tools/image_list.py)."""

from __future__ import annotations

import copy

import pytest

from components.images import parse
from components.spec.images import platform_images
from policy.kube import containers
from tests.conftest import SHIPPED_STACKS, write_stack_file
from tests.test_supply_chain import ECR, HOST, image_settings, on_eks
from tools import image_list, render
from tools.__main__ import main
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

COPIED_REGISTRIES = {"nvcr.io", "gcr.io"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(stack: str) -> tuple[list[image_list.StackImage], render.Rendered]:
    loaded = load_stack(stack)
    return image_list.stack_images(loaded.spec), render.render(loaded)


def leads_to_a_listed_image(setting: str, pulled: set[str]) -> bool:
    """A setting names a full reference, a repository, or a registry/prefix of a listed one."""
    return any(p == setting or p.startswith((f"{setting}/", f"{setting}:", f"{setting}@")) for p in pulled)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_container_image_of_the_render_is_listed_as_pulled(stack):
    images, rendered = listed(stack)
    pulled = {image.pulled for image in images}
    found = {c.image for r in rendered.resources for c in containers(r["type"], r["inputs"]) if c.image}
    assert found, "the walk found no container"
    assert found <= pulled, sorted(found - pulled)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_image_setting_of_objects_and_chart_values_leads_to_a_listed_image(stack):
    images, rendered = listed(stack)
    pulled = {image.pulled for image in images}
    trees = [r["inputs"].get("values") or {} for r in rendered.resources if r["type"].startswith("kubernetes:helm.sh/")]
    trees += rendered.manifests
    settings = [value for tree in trees for _, value in image_settings(tree)]
    assert len(settings) > 20
    assert [s for s in settings if not leads_to_a_listed_image(s, pulled)] == []
    # The policy pack's own walk of the render (pods, chart values, KnativeServing, EnvoyProxy) agrees.
    assert list(image_list.unlisted(images, rendered)) == []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_list_is_every_platform_image_once_mirrored_and_sorted(stack):
    spec = load_stack(stack).spec
    images = image_list.stack_images(spec)
    assert [i.upstream for i in images] == sorted(platform_images(spec))
    assert all(i.pulled.startswith(f"{spec.image_mirror.host}/") for i in images)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_copy_only_for_ecr_stacks_holds_exactly_the_nvcr_and_gcr_images(capsys, stack):
    spec = load_stack(stack).spec
    code, out, err = run_cli(capsys, "images", stack, "--copy-only")
    assert code == 0, err
    pairs = [line.split(" ") for line in out.splitlines()]
    assert all(len(pair) == 2 for pair in pairs)
    expected = sorted(i for i in platform_images(spec) if parse(i).registry in COPIED_REGISTRIES)
    assert [source for source, _ in pairs] == expected
    prefixes = spec.registry_mirror.copied_prefixes
    for source, destination in pairs:
        ref = parse(source)
        assert destination == f"{spec.image_mirror.host}/{prefixes[ref.registry]}/{ref.path}:{ref.tag}"


def test_the_full_listing_marks_each_route_and_says_how_many_to_copy(capsys):
    code, out, _ = run_cli(capsys, "images", "prod")
    assert code == 0
    lines = out.splitlines()
    header, rows = (
        [line for line in lines if line.startswith("#")],
        [line for line in lines if not line.startswith("#")],
    )
    assert "registryMirror.kind ecr-pull-through" in header[0]
    copied = [row for row in rows if row.split()[2] == "copy"]
    assert f"# {len(copied)} to copy yourself" in header[1]
    assert {parse(row.split()[0]).registry for row in copied} == COPIED_REGISTRIES
    assert {row.split()[2] for row in rows} == {"copy", "pull-through"}


def test_an_external_mirror_copies_nothing(capsys):
    code, out, _ = run_cli(capsys, "images", "onprem", "--copy-only")
    assert (code, out) == (0, "")
    code, out, _ = run_cli(capsys, "images", "onprem")
    assert {line.split()[2] for line in out.splitlines() if not line.startswith("#")} == {"proxy"}


def test_two_runs_print_the_same_bytes(capsys):
    first = run_cli(capsys, "images", "dev")
    assert run_cli(capsys, "images", "dev") == first


def test_a_pinned_digest_is_copied_by_digest_to_the_tag_the_cluster_resolves(tmp_path, capsys, platform):
    digest = "sha256:" + "c" * 64
    gpu_operator = "nvcr.io/nvidia/gpu-operator:v26.7.0"
    pinned = on_eks(platform, registryMirror={**ECR, "digests": {gpu_operator: digest}})
    config = write_stack_file(tmp_path / "Pulumi.pinned.yaml", pinned)
    code, out, err = run_cli(capsys, "images", "pinned", "--config-file", str(config), "--copy-only")
    assert code == 0, err
    assert f"{gpu_operator}@{digest} {HOST}/nvcr/nvidia/gpu-operator:v26.7.0" in out.splitlines()


def test_an_image_the_list_lacks_stops_the_verb_naming_it():
    images, rendered = listed("dev")
    resources = copy.deepcopy(rendered.resources)
    job = next(r for r in resources if r["type"] == "kubernetes:batch/v1:Job")
    job["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/library/busybox:1.37"
    tampered = render.Rendered(rendered.manifests, resources, rendered.outputs, rendered.capacity)
    with pytest.raises(image_list.UnlistedImage, match=r"containers\[0\].*docker.io/library/busybox:1.37"):
        image_list.check_against_render(images, tampered)


def test_an_unknown_stack_exits_2_naming_it(capsys):
    # Not "staging": a user's own stacks/Pulumi.staging.yaml may sit beside the shipped ones.
    code, out, err = run_cli(capsys, "images", "no-such-stack")
    assert (code, out) == (2, "")
    assert "no stack 'no-such-stack'" in err and all(stack in err for stack in SHIPPED_STACKS)
