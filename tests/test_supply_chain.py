"""The supply chain under Pulumi's mock runtime: registry mirror, model cache, warm-up Jobs.

Every image the platform deploys (our objects, and each chart's image settings over its
defaults in ../shared/schemas) must point at the mirror; weights come from the cache only,
and only the warm-up Jobs see the hub token.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from components import chart_images, versions
from components.chart_images import SPELLINGS, deep_merge
from components.conventions import HUB_TOKEN_SECRET
from components.images import MIRROR_PREFIXES_OUTPUT, Mirror, mirror_prefixes, mirrored, parse
from components.spec import SpecError, load_platform
from components.spec.images import platform_images
from tests.conftest import REVISION, SCHEMAS_DIR, stack_config
from tools import helm_values, policy_gate, render
from tools.__main__ import main
from tools.mockrun import run_program
from tools.schemas import SchemaRegistry
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

EKS = {"kind": "eks", "name": "llm-test", "region": "eu-west-1"}
ACCOUNT = "123456789012"
HOST = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/{}-Ab12Cd"
ECR = {
    "kind": "ecr-pull-through",
    "accountId": ACCOUNT,
    "credentialArns": {"docker.io": SECRET_ARN.format("docker-hub"), "ghcr.io": SECRET_ARN.format("github")},
    "copiedPrefixes": {"nvcr.io": "nvcr", "gcr.io": "gcr"},
}
SOURCE = "meta-llama/Llama-3.1-8B-Instruct"
CHART = helm_values.CHART_TYPE
JOB = "kubernetes:batch/v1:Job"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
# Keys whose value is a full image reference (or, for imageRegistry, the part that holds the host).
IMAGE_KEYS = {"image", "imageRepository", "rbacProxyImage", "defaultJobImage", "imageRegistry", "queue-sidecar-image"}


def on_eks(platform: dict[str, Any], **extra: Any) -> dict[str, Any]:
    platform["cluster"] = dict(EKS)
    return {**platform, **extra}


def record(platform: dict[str, Any], stack: str = "test"):
    return run_program(stack, stack_config(platform))


def objects(recording) -> list[dict[str, Any]]:
    return render.kubernetes_objects(recording.resources)


def of_type(recording, resource_type: str) -> list[dict[str, Any]]:
    return [r for r in recording.resources if r["type"] == resource_type]


def named(found: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in found if o["kind"] == kind and o["metadata"]["name"] == name)


def of_kind(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in found if o["kind"] == kind]


def urn_of(recording, obj: dict[str, Any]) -> str:
    return next(r["urn"] for r in recording.resources if r["inputs"] is obj or r["inputs"] == obj)


def named_urn(recording, kind: str) -> str:
    return next(r["urn"] for r in recording.resources if r["type"].endswith(f":{kind}"))


# --- walking every image setting ---------------------------------------------------------


def image_settings(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, value) of every image reference in a manifest or a chart's values. Where a map
    spells an image as registry/repository (+ name, tag), the registry, or else the
    repository, carries the host."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from image_settings(item, (*path, index))
        return
    if not isinstance(node, dict):
        return
    rest = node
    host_key = "registry" if node.get("registry") else "repository" if "repository" in node else None
    if host_key:
        if isinstance(node[host_key], str) and node[host_key]:
            yield (*path, host_key), node[host_key]
        rest = {key: value for key, value in node.items() if key not in ("registry", "repository", "image")}
    for key, value in rest.items():
        if key == "override" and isinstance(value, dict):
            yield from (((*path, key, name), image) for name, image in value.items())
        elif key in IMAGE_KEYS and isinstance(value, str):
            if value and "${" not in value:
                yield (*path, key), value
        else:
            yield from image_settings(value, (*path, key))


def effective_chart_values(chart: dict[str, Any]) -> dict[str, Any]:
    """The chart's defaults at its version (where ../shared/schemas has them) with our values over them."""
    inputs = chart["inputs"]
    name = helm_values.chart_name(inputs["chart"])
    defaults_name = {"gateway-helm": "envoy-gateway-helm"}.get(name, name)
    path = SCHEMAS_DIR / "helm-values" / f"{defaults_name}-{inputs['version']}.values.yaml"
    defaults = helm_values.load_defaults(path) if path.is_file() else {}
    return deep_merge(defaults, inputs.get("values") or {})


def first_upstream_reference(recording, host: str) -> str | None:
    """The first image setting, in our objects or any chart's effective values, not on `host`."""
    sources = [(f"{o['kind']} {o['metadata']['name']}", o) for o in objects(recording)]
    sources += [(f"chart {c['name']}", effective_chart_values(c)) for c in of_type(recording, CHART)]
    for where, tree in sources:
        for path, value in image_settings(tree):
            if not value.startswith(f"{host}/") and value != host:
                return f"{where}: {'.'.join(map(str, path))} = {value}"
    return None


def test_with_ecr_pull_through_every_image_of_every_object_and_chart_comes_from_ecr(platform):
    recording = record(on_eks(platform, registryMirror=ECR))
    assert first_upstream_reference(recording, HOST) is None
    # The walk saw the charts' own image settings, not only ours.
    gpu = effective_chart_values(next(c for c in of_type(recording, CHART) if c["name"] == "gpu-operator"))
    assert len(list(image_settings(gpu))) > 15


def test_the_walk_finds_a_chart_default_we_left_upstream(platform):
    recording = record(on_eks(platform, registryMirror=ECR))
    gpu = next(c for c in recording.resources if c["type"] == CHART and c["name"] == "gpu-operator")
    del gpu["inputs"]["values"]["dcgmExporter"]["repository"]
    assert first_upstream_reference(recording, HOST) == (
        "chart gpu-operator: dcgmExporter.repository = nvcr.io/nvidia/k8s"
    )


def test_render_prod_holds_no_upstream_image_reference(tmp_path):
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    rendered = render.read(tmp_path)
    prod_host = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
    recording = type("Recording", (), {"resources": rendered.resources})()
    assert first_upstream_reference(recording, prod_host) is None
    # The policy pack's own rule agrees, with the mirror the render declares and no policy config.
    assert rendered.outputs[MIRROR_PREFIXES_OUTPUT] == [f"{prod_host}/{prefix}/" for prefix in
                                                        ("docker-hub", "ecr-public", "gcr", "github", "k8s", "nvcr", "quay")]  # fmt: skip
    assert [v for v in policy_gate.violations(rendered) if v.rule == "images-from-mirror"] == []


def test_the_external_mirror_puts_each_upstream_under_its_prefix(platform):
    prefixes = {"docker.io": "hub", "ghcr.io": "ghcr", "quay.io": "quay", "nvcr.io": "nvcr",
                "registry.k8s.io": "k8s", "gcr.io": "gcr"}  # fmt: skip
    platform["registryMirror"] = {"kind": "external", "host": "harbor.example.internal:8443", "prefixes": prefixes}
    recording = record(platform)
    assert first_upstream_reference(recording, "harbor.example.internal:8443") is None
    runtime = named(objects(recording), "ServingRuntime", "chat-vllm")
    assert runtime["spec"]["containers"][0]["image"] == "harbor.example.internal:8443/hub/vllm/vllm-openai:v0.32.0"


def test_without_a_mirror_the_charts_keep_their_own_image_defaults(platform):
    recording = record(platform)
    for chart in of_type(recording, CHART):
        assert not list(image_settings(chart["inputs"].get("values") or {})), chart["name"]
    # Except Kourier's Envoy, whose upstream tag floats: pinned even without a mirror.
    registry = named(objects(recording), "KnativeServing", "knative-serving")["spec"]["registry"]
    assert registry == {"override": {"kourier-gateway": versions.KOURIER_ENVOY_IMAGE}}
    assert "latest" not in versions.KOURIER_ENVOY_IMAGE


# --- the one mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        ("vllm/vllm-openai:v0.32.0", f"{HOST}/docker-hub/vllm/vllm-openai:v0.32.0"),
        ("python:3.12", f"{HOST}/docker-hub/library/python:3.12"),
        ("index.docker.io/library/busybox:1.37", f"{HOST}/docker-hub/library/busybox:1.37"),
        ("quay.io/jetstack/cert-manager-controller:v1.21.1", f"{HOST}/quay/jetstack/cert-manager-controller:v1.21.1"),
        ("registry.k8s.io/nfd/node-feature-discovery", f"{HOST}/k8s/nfd/node-feature-discovery"),
        ("nvcr.io/nvidia/gpu-operator:v26.7.0", f"{HOST}/nvcr/nvidia/gpu-operator:v26.7.0"),
    ],
)
def test_mirrored_keeps_path_and_tag_under_the_registry_prefix(platform, upstream, expected):
    spec = load_platform(on_eks(platform, registryMirror=ECR), "test")
    assert mirrored(upstream, spec.image_mirror) == expected


def test_a_pinned_digest_is_added_after_the_tag_in_pods_and_charts(platform):
    digest = "sha256:" + "a" * 64
    webhook = f"quay.io/jetstack/cert-manager-webhook:{versions.CERT_MANAGER_VERSION}"
    mirror = {**ECR, "digests": {"docker.io/vllm/vllm-openai:v0.32.0": digest, webhook: digest}}
    recording = record(on_eks(platform, registryMirror=mirror))
    runtime = named(objects(recording), "ServingRuntime", "chat-vllm")
    assert runtime["spec"]["containers"][0]["image"] == f"{HOST}/docker-hub/vllm/vllm-openai:v0.32.0@{digest}"
    cert_manager = next(c for c in of_type(recording, CHART) if c["name"] == "cert-manager")["inputs"]["values"]
    assert cert_manager["webhook"]["image"] == {
        "repository": f"{HOST}/quay/jetstack/cert-manager-webhook",
        "tag": versions.CERT_MANAGER_VERSION,
        "digest": digest,
    }


def test_without_a_mirror_digests_still_pin_upstream_images(platform):
    digest = "sha256:" + "b" * 64
    platform["registryMirror"] = {"kind": "none", "digests": {"vllm/vllm-openai:v0.32.0": digest}}
    runtime = named(objects(record(platform)), "ServingRuntime", "chat-vllm")
    assert runtime["spec"]["containers"][0]["image"] == f"docker.io/vllm/vllm-openai:v0.32.0@{digest}"


# --- what the chart tables claim about each chart's defaults ----------------------------------

_TABLES = {
    "gpu-operator-v26.7.0": chart_images.GPU_OPERATOR_IMAGES,
    "cert-manager-v1.21.1": chart_images.CERT_MANAGER_IMAGES,
    "knative-operator-v1.23.0": chart_images.KNATIVE_OPERATOR_IMAGES,
    "kserve-resources-v0.20.0": chart_images.KSERVE_IMAGES,
    "kserve-localmodel-resources-v0.20.0": chart_images.KSERVE_LOCALMODEL_IMAGES,
    "envoy-gateway-helm-v1.9.0": chart_images.ENVOY_GATEWAY_IMAGES,
}


@pytest.mark.parametrize("defaults_name", sorted(_TABLES))
def test_each_listed_image_is_the_charts_own_default_at_its_version(defaults_name):
    defaults = helm_values.load_defaults(SCHEMAS_DIR / "helm-values" / f"{defaults_name}.values.yaml")
    hand_checked = {path for paths in chart_images.HAND_CHECKED_VALUE_PATHS.values() for path in paths}
    for image in _TABLES[defaults_name]:
        node = defaults
        for key in image.path:
            node = node.get(key, {})
        spelled = SPELLINGS[image.spelling](parse(image.upstream))
        if not node:  # a subchart's values: read by hand from upstream
            assert {(*image.path, key) for key in spelled} <= hand_checked, image.path
        for key, ours in spelled.items():
            theirs = node.get(key)
            if (*image.path, key) in hand_checked or theirs in (None, "", "templated") or "${" in str(theirs):
                continue  # the chart leaves it to its appVersion or a template
            if key in ("image", "repository", "rbacProxyImage", "defaultJobImage") and "/" in str(theirs):
                theirs = str(parse(theirs))
            assert str(theirs) == str(ours), (defaults_name, image.path, key)


def test_every_chart_the_platform_installs_has_its_images_listed(platform):
    platform["modelCache"] = {"kind": "local", "localPath": "/mnt/models", "size": "100Gi"}
    recording = record(on_eks(platform, registryMirror=ECR))
    installed = {helm_values.chart_name(chart["inputs"]["chart"]) for chart in of_type(recording, CHART)}
    without_images = {versions.KSERVE_CRD_CHART.name, versions.KSERVE_LOCALMODEL_CRD_CHART.name}
    assert installed - without_images == set(chart_images.IMAGES_BY_CHART)


@pytest.mark.parametrize("chart", sorted(chart_images.IMAGES_BY_CHART))
def test_source_in_reads_back_where_the_values_send_each_image(platform, chart):
    mirror = load_platform(on_eks(platform, registryMirror=ECR), "test").image_mirror
    for image in chart_images.IMAGES_BY_CHART[chart]:
        source = image.source_in(chart_images.values_for([image], mirror))
        assert source.startswith(tuple(mirror_prefixes(mirror))), (image.path, source)
        assert mirrored(image.upstream, mirror).startswith(source), (image.path, source)
        # Values that leave the image unset: the chart's own default, upstream.
        assert str(parse(image.upstream)).startswith(image.source_in({})), image.path


def test_mirror_prefixes_start_every_image_the_mirror_serves(platform):
    ecr = load_platform(on_eks(platform, registryMirror=ECR), "test")
    assert all(mirrored(image, ecr.image_mirror).startswith(tuple(mirror_prefixes(ecr.image_mirror)))
               for image in platform_images(ecr))  # fmt: skip
    external = Mirror(host="harbor.x:8443", prefixes={"docker.io": "hub", "quay.io": "proxy", "ghcr.io": "proxy"})
    assert mirror_prefixes(external) == ["harbor.x:8443/hub/", "harbor.x:8443/proxy/"]
    assert mirror_prefixes(Mirror(digests={"docker.io/vllm/vllm-openai:v0.32.0": "sha256:" + "c" * 64})) == []


# --- ECR pull-through cache rules ---------------------------------------------------------------


def test_one_ecr_rule_per_upstream_the_stack_pulls_from_with_credentials_where_needed(platform):
    recording = record(on_eks(platform, registryMirror=ECR))
    found = of_type(recording, "aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    rules = {r["inputs"]["ecrRepositoryPrefix"]: r["inputs"] for r in found}
    assert {prefix: rule["upstreamRegistryUrl"] for prefix, rule in rules.items()} == {
        "docker-hub": "registry-1.docker.io",
        "github": "ghcr.io",
        "k8s": "registry.k8s.io",
        "quay": "quay.io",
    }
    assert rules["docker-hub"]["credentialArn"] == ECR["credentialArns"]["docker.io"]
    assert "credentialArn" not in rules["quay"]
    (policy,) = [json.loads(r["inputs"]["policy"]) for r in of_type(recording, "aws:iam/rolePolicy:RolePolicy")]
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert statement["Resource"] == [
        f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{prefix}/*" for prefix in ("docker-hub", "github", "quay", "k8s")
    ]


def test_ecr_mirror_spec_errors_name_the_field_and_the_fix(platform):
    def problems(mirror, cluster=EKS):
        config = copy.deepcopy(platform)
        config["cluster"] = dict(cluster)
        config["registryMirror"] = mirror
        with pytest.raises(SpecError) as error:
            load_platform(config, "stacks/Pulumi.test.yaml")
        return dict(error.value.problems)

    no_credentials = {k: v for k, v in ECR.items() if k != "credentialArns"}
    found = problems(no_credentials)
    assert "Secrets Manager secret named ecr-pullthroughcache/" in found["registryMirror.credentialArns.docker.io"]
    assert "registryMirror.credentialArns.ghcr.io" in found
    found = problems({**ECR, "copiedPrefixes": {"gcr.io": "gcr"}})
    assert found["registryMirror.copiedPrefixes.nvcr.io"].startswith(
        "required: ECR has no pull-through cache for nvcr.io"
    )
    found = problems(ECR, cluster={"kind": "kubeconfig"})
    assert "needs an eks cluster; a kubeconfig cluster allows: external, none" in found["registryMirror.kind"]
    found = problems({**ECR, "credentialArns": {**ECR["credentialArns"], "quay.io": SECRET_ARN.format("quay")}})
    assert found == {"registryMirror.credentialArns.quay.io": "ECR takes credentials only for docker.io and ghcr.io"}
    found = problems({"kind": "external", "host": "harbor.example.internal", "prefixes": {"docker.io": "hub"}})
    assert found["registryMirror.prefixes.quay.io"].startswith("required: this stack pulls quay.io/")
    found = problems({"kind": "none", "digests": {"docker.io/vllm/vllm-openai:v0.31.0": "sha256:" + "c" * 64}})
    assert list(found) == ["registryMirror.digests.docker.io/vllm/vllm-openai:v0.31.0"]


# --- model cache and warm-up -----------------------------------------------------------------


def test_two_pools_on_one_revision_share_one_warmup_job_and_both_wait_for_it(platform):
    platform["models"].append({**platform["models"][0], "name": "llama-8b-again"})
    platform["pools"][1]["model"] = "llama-8b-again"
    recording = record(platform)
    (job,) = of_type(recording, JOB)
    for isvc in of_type(recording, ISVC):
        assert job["urn"] in recording.dependencies[isvc["urn"]], isvc["name"]


def test_prod_has_one_warmup_job_per_pinned_revision():
    stack = load_stack("prod")
    jobs = of_type(run_program("prod", stack.config), JOB)
    revisions = {(m.source, m.revision) for m in stack.spec.models}
    assert len(revisions) == 2 and len(jobs) == 2
    assert sorted(job["inputs"]["metadata"]["name"] for job in jobs) == [
        "warmup-meta-llama-llama-3-1-8b-instruct-0e9e39f2",
        "warmup-redhatai-llama-3-3-70b-instruct-fp8-dynamic-f50dbad2",
    ]


def test_the_warmup_job_downloads_the_pinned_revision_into_the_cache_path_marker_last(platform):
    recording = record(on_eks(platform, registryMirror=ECR))
    (job,) = [r["inputs"] for r in of_type(recording, JOB)]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["command"][2]
    target = f"/model-cache/models/{SOURCE}/{REVISION}"
    assert f"hf download {SOURCE} --revision {REVISION} --local-dir {target}" in script
    lines = script.splitlines()
    assert lines[1].startswith(f"if [ -f {target}/.llmserving-complete ]; then") and lines[1].endswith("exit 0; fi")
    assert lines[-1] == f"mv {target}/.llmserving-complete.tmp {target}/.llmserving-complete"
    assert container["image"] == f"{HOST}/docker-hub/vllm/vllm-openai:{versions.VLLM_VERSION}"
    assert pod["volumes"][0] == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "model-cache"}}
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (3, 7200)
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    isvc = named(objects(recording), "InferenceService", "chat")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == f"pvc://model-cache/models/{SOURCE}/{REVISION}"


def test_the_warmup_script_skips_a_complete_revision_and_never_marks_a_partial_one(platform, tmp_path):
    """Runs the Job's script with a stand-in `hf` that writes a model, then again (skipped),
    then with a download that fails (no marker)."""
    import os
    import subprocess

    (job,) = [r["inputs"] for r in of_type(record(platform), JOB)]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2].replace("/model-cache", str(tmp_path))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake_hf = bin_dir / "hf"
    fake_hf.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n[ -n "${{FAIL:-}}" ] && exit 1\n'
        'while [ "$1" != --local-dir ]; do shift; done\ntouch "$2/config.json" "$2/model.safetensors"\n'
    )
    fake_hf.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(**extra):
        return subprocess.run(["/bin/sh", "-c", script], env={**env, **extra}, capture_output=True, text=True)

    target = tmp_path / "models" / SOURCE / REVISION
    assert run().returncode == 0 and (target / ".llmserving-complete").is_file()
    assert run().returncode == 0 and len(calls.read_text().splitlines()) == 1  # skipped: marker present
    (target / ".llmserving-complete").unlink()
    (target / "config.json").unlink()
    failed = run(FAIL="1")
    assert failed.returncode != 0 and not (target / ".llmserving-complete").exists()


def test_only_the_warmup_job_sees_the_hub_token(platform):
    platform["modelMirror"] = {"kind": "hub", "token": True}
    found = objects(record(platform))
    holders = sorted((o["kind"], o["metadata"]["name"]) for o in found if mentions_hub_token(o))
    assert holders == [("Job", "warmup-meta-llama-llama-3-1-8b-instruct-0e9e39f2"), ("Secret", HUB_TOKEN_SECRET)]
    (job,) = of_kind(found, "Job")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HUB_TOKEN_SECRET, "key": "HF_TOKEN"}}} in env
    assert named(found, "Secret", HUB_TOKEN_SECRET)["stringData"] == {"HF_TOKEN": "[secret]"}


def mentions_hub_token(obj: dict[str, Any]) -> bool:
    text = json.dumps(obj)
    return HUB_TOKEN_SECRET in text or "HF_TOKEN" in text


def test_prod_serving_pods_carry_no_hub_token_and_read_offline():
    found = render.kubernetes_objects(run_program("prod", load_stack("prod").config).resources)
    for kind in ("InferenceService", "ServingRuntime"):
        for obj in of_kind(found, kind):
            assert not mentions_hub_token(obj), obj["metadata"]["name"]
    for isvc in of_kind(found, "InferenceService"):
        assert {"name": "HF_HUB_OFFLINE", "value": "1"} in isvc["spec"]["predictor"]["model"]["env"]
    assert {j["metadata"]["name"] for j in of_kind(found, "Job") if mentions_hub_token(j)} == {
        j["metadata"]["name"] for j in of_kind(found, "Job")
    }


def test_a_missing_hub_token_stops_the_program_with_the_command_that_sets_it(platform):
    from components.program import SecretConfigError, read_hub_token
    from components.secret_config import SET_HUB_TOKEN_COMMAND

    class Config:
        def get_secret(self, key):
            return None

    spec = load_platform({**platform, "modelMirror": {"kind": "hub", "token": True}}, "test")
    with pytest.raises(SecretConfigError) as error:
        read_hub_token(Config(), "stacks/Pulumi.test.yaml", spec)
    assert SET_HUB_TOKEN_COMMAND in str(error.value)
    assert read_hub_token(Config(), "x", load_platform(platform, "test")) is None


def test_the_hub_mirror_is_reached_through_hf_endpoint_and_the_netpol_allows_its_port(platform):
    platform["modelMirror"] = {"kind": "hub-mirror", "endpoint": "https://hf.example.internal:8443"}
    found = objects(record(platform))
    (job,) = of_kind(found, "Job")
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HF_ENDPOINT"] == "https://hf.example.internal:8443" and "HF_TOKEN" not in env
    egress = named(found, "NetworkPolicy", "model-warmup-egress")["spec"]
    assert egress["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert egress["egress"] == [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 8443}]}
    ]


S3 = {"kind": "s3", "bucket": "corp-models", "prefix": "approved/llm"}


def test_the_s3_mirror_role_reads_only_below_its_prefix_through_pod_identity(platform):
    recording = record(on_eks(platform, modelMirror=S3))
    (role_policy,) = [
        r for r in of_type(recording, "aws:iam/rolePolicy:RolePolicy") if r["name"] == "model-warmup-read"
    ]
    statements = json.loads(role_policy["inputs"]["policy"])["Statement"]
    assert statements == [
        {
            "Sid": "ReadModels",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::corp-models/approved/llm/*"],
        },
        {
            "Sid": "ListModels",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::corp-models"],
            "Condition": {"StringLike": {"s3:prefix": ["approved/llm/*"]}},
        },
    ]
    (role,) = of_type(recording, "aws:iam/role:Role")[-1:]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (association,) = of_type(recording, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert {k: association["inputs"][k] for k in ("clusterName", "namespace", "serviceAccount")} == {
        "clusterName": "llm-test",
        "namespace": "llm-serving",
        "serviceAccount": "model-warmup",
    }
    (job,) = of_kind(objects(recording), "Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    sync = f"aws s3 sync s3://corp-models/approved/llm/{SOURCE}/{REVISION}/ /model-cache/models/{SOURCE}/{REVISION}/"
    assert sync in container["command"][2]
    assert container["image"] == versions.AWS_CLI_IMAGE
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "model-warmup"


def test_s3_and_local_need_what_they_need(platform):
    def problems(**config):
        with pytest.raises(SpecError) as error:
            load_platform({**copy.deepcopy(platform), **config}, "stacks/Pulumi.test.yaml")
        return dict(error.value.problems)

    assert "needs an eks cluster" in problems(modelMirror=S3)["modelMirror.kind"]
    hub_mirror = {"kind": "hub-mirror", "endpoint": "https://h.example"}
    found = problems(modelCache={"kind": "local", "storageClassName": "efs-sc"}, modelMirror=hub_mirror)
    assert set(found) == {"modelCache.storageClassName", "modelMirror.kind", "modelCache.size"}
    assert found["modelCache.storageClassName"] == "applies to modelCache.kind pvc only"
    on_small_disks = on_eks(copy.deepcopy(platform))
    on_small_disks["nodePools"][0].update(kind="managed", diskSizeGib=100)
    with pytest.raises(SpecError) as error:
        load_platform({**on_small_disks, "modelCache": {"kind": "local", "size": "200Gi"}}, "test")
    disk = dict(error.value.problems)["nodePools[0].diskSizeGib"]
    assert disk.startswith("100 GiB leaves no room next to modelCache.size 200Gi")


def test_the_claim_the_stack_creates_is_rwx_sized_and_retained(platform, monkeypatch):
    from tools import mockrun

    retained = {}
    register = mockrun._RecordingMonitor.RegisterResource

    def spy(self, request):
        retained[(request.type, request.name)] = request.retainOnDelete
        return register(self, request)

    monkeypatch.setattr(mockrun._RecordingMonitor, "RegisterResource", spy)
    platform["modelCache"] = {"storageClassName": "efs-sc", "size": "100Gi"}
    recording = record(platform)
    claim = named(objects(recording), "PersistentVolumeClaim", "model-cache")
    assert claim["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "efs-sc",
        "resources": {"requests": {"storage": "100Gi"}},
    }
    assert retained[("kubernetes:core/v1:PersistentVolumeClaim", "model-cache-claim")] is True
    platform_inputs = next(r for r in recording.resources if r["type"] == "llmserving:platform:Platform")["inputs"]
    assert not [item for item in platform_inputs["preExisting"] if item["kind"] == "PersistentVolumeClaim"]


def test_the_local_cache_serves_exactly_the_uri_it_cached(platform):
    platform["modelCache"] = {"kind": "local", "size": "100Gi"}
    platform["modelMirror"] = {"kind": "hub", "token": True}
    platform = on_eks(platform, registryMirror=ECR)
    recording = record(platform)
    found = objects(recording)
    (cache,) = of_kind(found, "LocalModelCache")
    assert cache["spec"]["sourceModelUri"] == f"hf://{SOURCE}:{REVISION}"
    for isvc in of_kind(found, "InferenceService"):
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == cache["spec"]["sourceModelUri"]
        assert named_urn(recording, "LocalModelCache") in recording.dependencies[urn_of(recording, isvc)]
    (group,) = of_kind(found, "LocalModelNodeGroup")
    assert cache["spec"]["nodeGroups"] == [group["metadata"]["name"]]
    assert group["spec"]["persistentVolumeSpec"]["local"] == {"path": "/mnt/models"}
    assert not of_kind(found, "Job") and cache["spec"]["serviceAccountName"] == "model-download"
    assert named(found, "Secret", HUB_TOKEN_SECRET)["metadata"]["namespace"] == "kserve-localmodel-jobs"
    assert [line for line in SchemaRegistry(SCHEMAS_DIR).validate_all(found)] == []
    assert helm_values.findings(recording.resources, SCHEMAS_DIR) == []
    assert first_upstream_reference(recording, HOST) is None
    charts = {c["name"] for c in of_type(recording, CHART)}
    assert {"kserve-localmodel-crd", "kserve-localmodel"} <= charts
    # Its objects wait for the chart that installs their CRDs.
    crd_chart = next(c["urn"] for c in of_type(recording, CHART) if c["name"] == "kserve-localmodel-crd")
    assert crd_chart in recording.dependencies[named_urn(recording, "LocalModelCache")]


def test_a_mistyped_mirror_is_reported_at_its_key_with_what_its_kind_allows(platform):
    platform["registryMirror"] = {"kind": "external", "host": "harbor.x", "prefixes": {"dockerhub": "y"}, "hots": "z"}
    with pytest.raises(SpecError) as error:
        load_platform(platform, "stacks/Pulumi.test.yaml")
    found = dict(error.value.problems)
    assert found["registryMirror.prefixes.dockerhub"].startswith("Input should be 'docker.io', 'ghcr.io'")
    assert (
        found["registryMirror.hots"] == "unknown field (did you mean 'host'?); allowed: digests, host, kind, prefixes"
    )
