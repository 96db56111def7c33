"""`check --from` trusts nothing it is handed: its files are cross-checked, and the figures a
render carries (capacity, mirror prefixes) are recomputed from the stack's spec."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from tests.conftest import write_stack_file
from tools import render
from tools.__main__ import main

pytestmark = pytest.mark.program


@pytest.fixture(scope="module")
def prod_render(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("prod-render")
    assert main(["render", "prod", "--out", str(out_dir)]) == 0
    return out_dir


def _copy(prod_render, tmp_path):
    edited = tmp_path / "render"
    shutil.copytree(prod_render, edited)
    return edited


def _check(capsys, folder, *extra):
    code = main(["check", "--from", str(folder), *extra])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if line.startswith("render-integrity ")]


def test_an_unedited_render_is_whole(capsys, prod_render):
    assert _check(capsys, prod_render) == (0, [])


def test_manifests_edited_without_resources_is_a_finding(capsys, prod_render, tmp_path):
    edited = _copy(prod_render, tmp_path)
    documents = list(yaml.safe_load_all((edited / render.MANIFESTS).read_text()))
    isvc = next(d for d in documents if d["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["args"].append("--enable-log-requests")
    documents.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra", "namespace": "x"}})
    (edited / render.MANIFESTS).write_text(yaml.safe_dump_all(documents))
    code, found = _check(capsys, edited)
    name = f"llm-serving/{isvc['metadata']['name']}"
    assert code == 1
    assert (
        f"render-integrity serving.kserve.io/v1beta1/InferenceService {name}: differs between manifests.yaml and resources.json (one was edited without the other)"
        in found
    )
    assert (
        "render-integrity v1/ConfigMap x/extra: in manifests.yaml but not in resources.json (one was edited without the other)"
        in found
    )


def test_resources_edited_without_manifests_is_a_finding(capsys, prod_render, tmp_path):
    edited = _copy(prod_render, tmp_path)
    resources = json.loads((edited / render.RESOURCES).read_text())
    resources = [r for r in resources if r["inputs"].get("kind") != "NetworkPolicy"]
    (edited / render.RESOURCES).write_text(json.dumps(resources))
    code, found = _check(capsys, edited)
    assert code == 1 and found and all("in resources.json but not" not in line for line in found)
    assert any("NetworkPolicy" in line and "in manifests.yaml but not in resources.json" in line for line in found)


def test_forged_capacity_figures_are_recomputed_not_believed(capsys, prod_render, tmp_path):
    edited = _copy(prod_render, tmp_path)
    outputs = json.loads((edited / render.OUTPUTS).read_text())
    pool = sorted(outputs["capacity"])[0]
    outputs["capacity"][pool]["kvCacheTokens"] *= 10
    (edited / render.OUTPUTS).write_text(json.dumps(outputs))
    (edited / render.CAPACITY).write_text(json.dumps(outputs["capacity"]))
    code, found = _check(capsys, edited)
    assert code == 1
    assert found == [
        f"render-integrity outputs.json: capacity.{pool} is not what the capacity model computes from the stack's spec (fits there)"
    ]


def test_capacity_json_edited_alone_is_a_finding(capsys, prod_render, tmp_path):
    edited = _copy(prod_render, tmp_path)
    capacity = json.loads((edited / render.CAPACITY).read_text())
    capacity[sorted(capacity)[0]]["fits"] = False
    (edited / render.CAPACITY).write_text(json.dumps(capacity))
    assert _check(capsys, edited)[1] == [
        "render-integrity capacity.json: differs from the capacity output in outputs.json"
    ]


def test_a_forged_mirror_prefix_is_a_finding(capsys, prod_render, tmp_path):
    edited = _copy(prod_render, tmp_path)
    outputs = json.loads((edited / render.OUTPUTS).read_text())
    outputs["registryMirrorPrefixes"].append("docker.io/")
    (edited / render.OUTPUTS).write_text(json.dumps(outputs))
    code, found = _check(capsys, edited)
    assert code == 1 and len(found) == 1
    assert found[0].startswith("render-integrity outputs.json: registryMirrorPrefixes is not the stack's mirror (")


@pytest.mark.parametrize("key", ["hostnames", "tlsSecret"])
def test_forged_gateway_outputs_are_recomputed_not_believed(capsys, prod_render, tmp_path, key):
    # The edge rules read which pool owns which hostname, and the edge's certificate, from these.
    edited = _copy(prod_render, tmp_path)
    resources = json.loads((edited / render.RESOURCES).read_text())
    (gateway,) = [r for r in resources if r["type"] == "llmserving:edge:Gateway"]
    if key == "hostnames":
        gateway["outputs"]["hostnames"]["batch"] = gateway["outputs"]["hostnames"]["chat"]
    else:
        gateway["outputs"]["tlsSecret"] = "llm-gateway/someone-elses-tls"
    (edited / render.RESOURCES).write_text(json.dumps(resources))
    code, found = _check(capsys, edited)
    assert code == 1
    assert f"render-integrity resources.json: the llmserving:edge:Gateway output {key} is not what" in "\n".join(found)


def test_a_render_of_an_unknown_stack_needs_its_stack_file(capsys, tmp_path, platform):
    config_file = write_stack_file(tmp_path / "Pulumi.proposed.yaml", platform)
    out_dir = tmp_path / "out"
    assert main(["render", "proposed", "--config-file", str(config_file), "--out", str(out_dir)]) == 0
    capsys.readouterr()
    code, found = _check(capsys, out_dir)
    assert code == 1 and len(found) == 1 and "cannot be recomputed" in found[0] and "--config-file" in found[0]
    assert _check(capsys, out_dir, "--config-file", str(config_file)) == (0, [])


def _edit_both(folder, edit):
    """Edit the InferenceService `chat` the same way in resources.json and manifests.yaml."""
    resources = json.loads((folder / render.RESOURCES).read_text())
    for resource in resources:
        inputs = resource["inputs"]
        if inputs.get("kind") == "InferenceService" and inputs["metadata"]["name"] == "chat":
            edit(inputs)
    (folder / render.RESOURCES).write_text(json.dumps(resources))
    (folder / render.MANIFESTS).write_text(render.dump_manifests(render.kubernetes_objects(resources)))


def test_a_trust_flag_needs_the_opt_in_the_render_carries(capsys, tmp_path, platform):
    platform["pools"][0].update(
        extraArgs=["--trust-remote-code"],
        trustedArgs=[{"flag": "--trust-remote-code", "reason": "custom code reviewed in SEC-1234"}],
    )
    config_file = write_stack_file(tmp_path / "Pulumi.trusting.yaml", platform)
    out_dir = tmp_path / "out"
    assert main(["render", "trusting", "--config-file", str(config_file), "--out", str(out_dir)]) == 0
    capsys.readouterr()
    isvc = next(
        d for d in render.read(out_dir).manifests if d["kind"] == "InferenceService" and d["metadata"]["name"] == "chat"
    )
    assert isvc["metadata"]["annotations"]["llmserving.io/trusted-args"] == "--trust-remote-code"
    assert _check(capsys, out_dir, "--config-file", str(config_file))[1] == []
    # A second trust flag added by hand, consistently in both files: no opt-in names it.
    _edit_both(out_dir, lambda inputs: inputs["spec"]["predictor"]["model"]["args"].append("--middleware=evil.App"))
    code, found = _check(capsys, out_dir, "--config-file", str(config_file))
    assert code == 1 and len(found) == 1
    assert found[0].startswith(
        "render-integrity serving.kserve.io/v1beta1/InferenceService llm-serving/chat: its arguments set --middleware"
    )
    # The opt-in removed: the original flag is reported too.
    _edit_both(out_dir, lambda inputs: inputs["metadata"]["annotations"].pop("llmserving.io/trusted-args"))
    assert len(_check(capsys, out_dir, "--config-file", str(config_file))[1]) == 2
