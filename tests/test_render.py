"""Rendering: every shipped stack renders, validates strictly, and renders byte-identically."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import SCHEMAS_DIR, SHIPPED_STACKS
from tools import check, render
from tools.stackfile import load_stack

pytestmark = pytest.mark.program


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def rendered_stack(request, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp(request.param)
    render.write(render.render(load_stack(request.param)), out_dir)
    return request.param, out_dir


def test_shipped_stack_validates_strictly(rendered_stack):
    _, out_dir = rendered_stack
    assert check.findings(render.read(out_dir), SCHEMAS_DIR) == []


def test_shipped_stack_has_chat_and_batch_inference_services(rendered_stack):
    stack, out_dir = rendered_stack
    documents = list(yaml.safe_load_all((out_dir / render.MANIFESTS).read_text()))
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "InferenceService"}
    spec = load_stack(stack).spec
    assert set(services) == {pool.name for pool in spec.pools}
    for pool in spec.pools:
        args = services[pool.name]["spec"]["predictor"]["model"]["args"]
        assert args[args.index("--max-model-len") + 1] == str(pool.max_model_len)
    assert {pool.workload_class for pool in spec.pools} == {"chat", "batch"}


def test_resources_json_lists_every_registered_resource(rendered_stack):
    stack, out_dir = rendered_stack
    resources = json.loads((out_dir / render.RESOURCES).read_text())
    fields = {"urn", "type", "name", "parent", "inputs"}
    # Our components also carry what they registered as outputs.
    assert all(set(r) == (fields | {"outputs"} if r["type"].startswith("llmserving:") else fields) for r in resources)
    types = {r["type"] for r in resources}
    assert {"llmserving:platform:Platform", "llmserving:serving:ServingPool", "pulumi:providers:kubernetes"} <= types
    assert [r["urn"] for r in resources] == sorted(r["urn"] for r in resources)
    manifests = list(yaml.safe_load_all((out_dir / render.MANIFESTS).read_text()))
    # Helm charts are resources too, but their objects are rendered by the provider, not by us.
    declared = [r for r in resources if r["type"].startswith("kubernetes:") and "helm.sh/" not in r["type"]]
    assert len(manifests) == len(declared)


def test_two_renders_are_byte_identical(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for out_dir in (first, second):
        render.write(render.render(load_stack("prod")), out_dir)
    for name in render.FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_onprem_declares_no_aws_resources(tmp_path):
    resources = render.render(load_stack("onprem")).resources
    assert not [r["type"] for r in resources if r["type"].startswith(("aws:", "pulumi:providers:aws"))]


def test_secrets_are_masked():
    from pulumi.runtime import rpc

    from tools.mockrun import SECRET, _plain

    wrapped = {rpc._special_sig_key: rpc._special_secret_sig, "value": "hf_abc"}
    assert _plain({"env": [{"value": wrapped}], "port": 8080.0}) == {"env": [{"value": SECRET}], "port": 8080}
