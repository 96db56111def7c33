"""The policy pack end to end: in `python -m tools check` (exit codes, enforcement levels,
policy config) over the shipped stacks, proposed configs and edited renders, and as the
pack module the engine starts."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
import sys

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from components import versions
from components.conventions import KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION
from policy.pack import POLICIES
from policy.rule import EnforcementLevel, Rule
from tests.conftest import REPO_ROOT, SHIPPED_STACKS, write_stack_file
from tests.policy_cases import capacity_outputs, container, deployment, inference_service, mirror_outputs, resource
from tools import policy_gate, render
from tools.__main__ import main
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"


def run_cli(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_pass_every_rule(stack):
    found = policy_gate.violations(render.render(load_stack(stack)))
    # Outside production, the only advice is the approval record production would require.
    assert [v.line() for v in found if v.rule != "model-provenance"] == []
    assert not any(v.blocking for v in found)
    assert (stack == "prod") == (not found)


def test_a_prod_model_without_approval_fails_model_approved_and_dev_still_passes(capsys, tmp_path):
    stack_file = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    del stack_file["config"]["private-llm-serving:platform"]["models"][0]["approval"]
    proposed = tmp_path / "Pulumi.prod.yaml"
    proposed.write_text(yaml.safe_dump(stack_file))
    code, out, _ = run_cli(capsys, "check", "prod", "--config-file", proposed)
    assert code == 1
    blocking = [line for line in out.splitlines() if line.startswith("model-approved ")]
    assert len(blocking) == 1 and "llm-serving/chat: serves meta-llama/Llama-3.1-8B-Instruct without approval" in out
    code, out, _ = run_cli(capsys, "check", "dev")
    assert code == 0, out
    assert "model-provenance serving.kserve.io/v1beta1/InferenceService llm-serving/chat" in out and "(advisory)" in out


# --- a proposed config that breaks a rule -----------------------------------------------

R = "needed for the incident review INC-42"


@pytest.mark.parametrize(
    ("pool_change", "rule", "message"),
    [
        ({"maxModelLen": 16384}, "chat-context-cap", "above the chat cap 8192"),
        # Trust flags pass the spec only with the pool's opt-in; the policy still judges them.
        (
            {"extraArgs": ["--enable-log-requests"], "trustedArgs": [{"flag": "--enable-log-requests", "reason": R}]},
            "no-request-logging",
            "--enable-log-requests",
        ),
        # A token-shaped value is refused at spec time (tests/test_no_secret_published.py).
        (
            {"extraArgs": ["--hf-token", "not-token-shaped"], "trustedArgs": [{"flag": "--hf-token", "reason": R}]},
            "no-plaintext-secrets",
            "--hf-token",
        ),
    ],
)
def test_check_of_a_violating_config_names_the_rule_and_exits_1(capsys, tmp_path, platform, pool_change, rule, message):
    platform["pools"][0].update(pool_change)
    config_file = write_stack_file(tmp_path / "Pulumi.proposed.yaml", platform)
    code, out, _ = run_cli(capsys, "check", "proposed", "--config-file", config_file)
    lines = [line for line in out.splitlines() if line.startswith(f"{rule} ")]
    assert code == 1
    assert lines and message in lines[0], out
    assert lines[0].startswith(f"{rule} serving.kserve.io/v1beta1/InferenceService llm-serving/chat: ")


# --- an edited render (check --from), one rule at a time ----------------------------------


@pytest.fixture(scope="module")
def dev_render(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("dev-render")
    render.write(render.render(load_stack("dev")), out_dir)
    return out_dir


def _find(resources, resource_type, name):
    return next(r for r in resources if r["type"] == resource_type and r["name"] == name)


def _chat_model(resources):
    return _find(resources, ISVC, "chat")["inputs"]["spec"]["predictor"]["model"]


def _set_arg(args, flag, value):
    args[args.index(flag) + 1] = value


def _runtime_container(resources):
    return _find(resources, RUNTIME, "chat-runtime")["inputs"]["spec"]["containers"][0]


def _edit_image(resources, _):
    container = _runtime_container(resources)
    container["image"] = container["image"].rpartition(":")[0] + ":latest"  # still through the mirror


def _drop_context_cap(resources, _):
    args = _chat_model(resources)["args"]
    index = args.index("--max-model-len")
    del args[index : index + 2]


def _scale_on_cpu(resources, _):
    predictor = _find(resources, ISVC, "chat")["inputs"]["spec"]["predictor"]
    predictor.pop("autoScaling")
    predictor["scaleMetric"] = "cpu"


def _add(new_resource):
    return lambda resources, _: resources.append(new_resource)


def _relabel_batch_as_chat(resources, _):
    for labels in (_find(resources, ISVC, "batch")["inputs"]["metadata"]["labels"],
                   _find(resources, ISVC, "batch")["inputs"]["spec"]["predictor"]["labels"]):  # fmt: skip
        labels["llmserving.io/class"] = "chat"


def _drop_knative_proxy_acceptance(resources, _):
    del _find(resources, ISVC, "batch")["inputs"]["metadata"]["annotations"][KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION]


def _reject_capacity(_, outputs):
    outputs["capacity"]["chat"].update(fits=False, errors=["the KV cache holds 4096 tokens"])


PUBLIC_SERVICE = resource("kubernetes:core/v1:Service", {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat-public", "namespace": "llm-serving"},
    "spec": {"type": "LoadBalancer", "selector": {"llmserving.io/pool": "chat"}, "ports": [{"port": 80}]},
})  # fmt: skip
UNPINNED_CHART = resource("kubernetes:helm.sh/v4:Chart", {"chart": "keda", "repositoryOpts": {"repo": "https://kedacore.github.io/charts"}}, name="keda")  # fmt: skip

NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
KNATIVE_SERVICE = resource("kubernetes:serving.knative.dev/v1:Service", {
    "apiVersion": "serving.knative.dev/v1", "kind": "Service",
    "metadata": {"name": "long-jobs", "namespace": "llm-serving"},
    "spec": {"template": {"spec": {"timeoutSeconds": 1200, "containers": [{"name": "c", "image": "img:v1.0.0"}]}}},
})  # fmt: skip


def _network_policy(name, spec, namespace="llm-serving"):
    return resource(NP, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": name, "namespace": namespace}, "spec": spec})  # fmt: skip


ALLOW_ALL = _network_policy("allow-all", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]})
POOL_EGRESS = _network_policy("out", {"podSelector": {"matchLabels": {"llmserving.io/pool": "chat"}}, "policyTypes": ["Egress"],
                                      "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})  # fmt: skip


def _drop_key_check(resources, _):
    """Drop the chat pool's --config (dev runs without one: held to production, it fails as is)."""
    args = _chat_model(resources)["args"]
    if "--config" in args:
        index = args.index("--config")
        del args[index : index + 2]


def _monitoring_namespace_wide(resources, _):
    policy = _find(resources, NP, "llm-serving-chat-ingress")
    policy["inputs"]["spec"]["ingress"][1]["from"][0].pop("podSelector")


def _sh_c_vllm_nodeport(resources, _):
    resources.append(deployment(container(command=["/bin/sh", "-c", "exec python3 -m vllm.entrypoints.openai.api_server"]),
                                labels={"app": "llm"}, name="sneaky"))  # fmt: skip
    resources.append(resource("kubernetes:core/v1:Service", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "sneaky", "namespace": "llm-serving"},
        "spec": {"type": "NodePort", "selector": {"app": "llm"}, "ports": [{"port": 80}]}}))  # fmt: skip


def _gke_internal_lb(resources, _):
    proxy = next(r for r in resources if r["type"] == "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")
    service = proxy["inputs"]["spec"]["provider"]["kubernetes"]["envoyService"]
    service["annotations"] = {"networking.gke.io/load-balancer-type": "Internal"}


def _commented_revision(resources, _):
    job = next(r for r in resources if r["type"] == "kubernetes:batch/v1:Job")
    command = job["inputs"]["spec"]["template"]["spec"]["containers"][0]["command"]
    command[-1] = command[-1].replace("--revision ", "--revision main # --revision ", 1)


def _llm_inference_service(resources, _):
    resources.append(resource("kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService", {
        "apiVersion": "serving.kserve.io/v1alpha2", "kind": "LLMInferenceService",
        "metadata": {"name": "llm", "namespace": "llm-serving"},
        "spec": {"model": {"uri": "hf://org/m", "name": "m"},
                 "template": {"containers": [{"name": "main", "image": "vllm/vllm-openai:latest",
                                              "args": ["--enable-log-requests"]}]}}}))  # fmt: skip


def _gateway_of(resources):
    return next(r for r in resources if r["type"] == "kubernetes:gateway.networking.k8s.io/v1:Gateway")


def _plain_http_listener(resources, _):
    _gateway_of(resources)["inputs"]["spec"]["listeners"].append({"name": "http", "port": 80, "protocol": "HTTP"})


def _routes_from_all(resources, _):
    _gateway_of(resources)["inputs"]["spec"]["listeners"][0]["allowedRoutes"]["namespaces"]["from"] = "All"


def _drop_rate_limit(resources, _):
    resources.remove(_find(resources, "kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy", "chat-traffic"))


def _chat_host_to_batch(resources, _):
    route = _find(resources, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "batch-route")
    route["inputs"]["spec"]["hostnames"] = ["chat.llm.dev.example.internal"]


def _allow_all_ext_auth(resources, _):
    policy = _find(resources, "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy", "api-key-auth")
    policy["inputs"]["spec"].pop("apiKeyAuth")
    policy["inputs"]["spec"]["extAuth"] = {"http": {"backendRefs": [{"name": "allow-all", "port": 80}]}}


# (attack, edit, the rule lines that must appear, each with a part of its message)
ATTACKS = [
    ("a plain-HTTP listener on the edge", _plain_http_listener, [("edge-listeners-https", "listener http is HTTP")]),
    ("a listener admitting routes from all namespaces", _routes_from_all,
     [("edge-listeners-https", "admits routes from every namespace")]),
    ("a pool's rate limit removed", _drop_rate_limit, [("pool-routes-rate-limited", "HTTPRoute llm-gateway/chat")]),
    ("a chat hostname routed to the batch pool", _chat_host_to_batch,
     [("route-hostnames-owned", "routes chat.llm.dev.example.internal (pool chat's) to pool batch")]),
    ("a route policy whose extAuth points at an allow-all backend", _allow_all_ext_auth,
     [("routes-authenticated", "does not authenticate every request")]),
    ("every pod of the monitoring namespace", _monitoring_namespace_wide,
     [("model-ingress-restricted", "admits every pod of namespace monitoring to its serving port")]),
    ("allow-all beside the default deny", _add(ALLOW_ALL), [("model-ingress-restricted", "admits every source")]),
    ("pool egress to the internet", _add(POOL_EGRESS), [("model-egress-restricted", "0.0.0.0/0")]),
    ("Kourier's policy removed", lambda r, _: r.remove(_find(r, NP, "knative-serving-kourier-gateway-ingress")),
     [("platform-ingress-restricted", "Kourier's gateway in knative-serving: no NetworkPolicy")]),
    ("activator open to every pod", lambda r, _: r.remove(_find(r, NP, "knative-serving-activator-ingress")),
     [("platform-ingress-restricted", "Knative's activator in knative-serving: no NetworkPolicy")]),
    ("the edge proxies' policy removed", lambda r, _: r.remove(_find(r, NP, "llm-gateway-edge-proxy-ingress")),
     [("platform-ingress-restricted", "proxies of Gateway llm-gateway/llm-gateway")]),
    ("vLLM through sh -c behind a NodePort", _sh_c_vllm_nodeport,
     [("no-public-model-services", "exposes model pods (Deployment llm-serving/sneaky)")]),
    ("another cloud's internal annotation", _gke_internal_lb, [("no-public-model-services", "internet-facing")]),
    ("--revision main beside a commit in a comment", _commented_revision,
     [("pinned-model-revisions", "--revision main")]),
    ("the batch pool's Knative proxy restart acceptance removed", _drop_knative_proxy_acceptance,
     [("knative-timeouts-drainable", "InferenceService llm-serving/batch: its predictor's timeout (1800 s)")]),
    ("a hand-declared Knative Service with a 1200 s timeout", _add(KNATIVE_SERVICE),
     [("knative-timeouts-drainable", "Service llm-serving/long-jobs: its template's timeoutSeconds (1200 s)")]),
    ("LLMInferenceService with :latest, an unpinned model and logging", _llm_inference_service,
     [("pinned-image-tags", "'latest'"), ("pinned-model-revisions", "spec.model.uri"),
      ("no-request-logging", "--enable-log-requests")]),
]  # fmt: skip

EDITS = {
    "pinned-image-tags": (_edit_image, None),
    "pinned-model-revisions": (
        lambda r, _: _chat_model(r).update(storageUri="hf://meta-llama/Llama-3.1-8B-Instruct"),
        None,
    ),
    "context-cap-required": (_drop_context_cap, None),
    "chat-context-cap": (lambda r, _: _set_arg(_chat_model(r)["args"], "--max-model-len", "32768"), None),
    "gpu-requests-equal-limits": (
        lambda r, _: _chat_model(r)["resources"]["limits"].update({"nvidia.com/gpu": "2"}),
        None,
    ),
    "shm-for-tensor-parallel": (lambda r, _: _set_arg(_chat_model(r)["args"], "--tensor-parallel-size", "2"), None),
    "no-generation-probes": (
        lambda r, _: _chat_model(r)["readinessProbe"]["httpGet"].update(path="/v1/completions"),
        None,
    ),
    "no-plaintext-secrets": (
        lambda r, _: _chat_model(r)["env"].append({"name": "HF_TOKEN", "value": "hf_" + "q" * 34}),
        None,
    ),
    "no-request-logging": (lambda r, _: _chat_model(r)["args"].append("--enable-log-outputs"), None),
    "no-public-model-services": (_add(PUBLIC_SERVICE), None),
    "inference-signal-autoscaling": (_scale_on_cpu, None),
    "pinned-chart-versions": (_add(UNPINNED_CHART), None),
    "images-from-mirror": (lambda r, _: _runtime_container(r).update(image=versions.VLLM_IMAGE), None),
    "chat-batch-separated": (_relabel_batch_as_chat, None),
    "serving-namespace-default-deny": (
        lambda r, _: r.remove(_find(r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-serving-default-deny")),
        None,
    ),
    "routes-authenticated": (
        lambda r, _: r.remove(_find(r, "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy", "api-key-auth")),
        None,
    ),
    "capacity-fits": (_reject_capacity, None),
    "model-ingress-restricted": (_add(ALLOW_ALL), None),
    "model-egress-restricted": (_add(POOL_EGRESS), None),
    "platform-ingress-restricted": (
        lambda r, _: r.remove(_find(r, NP, "knative-serving-kourier-gateway-ingress")),
        None,
    ),
    "edge-listeners-https": (_plain_http_listener, None),
    "pool-routes-rate-limited": (_drop_rate_limit, None),
    "route-hostnames-owned": (_chat_host_to_batch, None),
    "vllm-api-key-required": (_drop_key_check, {"vllm-api-key-required": {"productionStacks": ["dev"]}}),
    "trust-flags-accepted": (lambda r, _: _chat_model(r)["args"].append("--trust-remote-code"), None),
    # dev has a license but no approval or evaluation on record: advisory there, blocking once
    # dev counts as production or the advisory rule is made mandatory.
    "model-approved": (lambda r, _: None, {"model-approved": {"productionStacks": ["dev"]}}),
    "model-provenance": (lambda r, _: None, {"model-provenance": "mandatory"}),
    "knative-timeouts-drainable": (_drop_knative_proxy_acceptance, None),
    "vllm-drains-on-shutdown": (lambda r, _: _set_arg(_chat_model(r)["args"], "--shutdown-timeout", "0"), None),
}


def _edited_render(dev_render, tmp_path, edit):
    edited = tmp_path / "render"
    shutil.copytree(dev_render, edited)
    resources = json.loads((edited / render.RESOURCES).read_text())
    outputs = json.loads((edited / render.OUTPUTS).read_text())
    edit(resources, outputs)
    # Edited as a whole, as a render could have come out: `check --from` reports a file
    # edited without the others (tests/test_render_integrity.py).
    (edited / render.RESOURCES).write_text(json.dumps(resources))
    (edited / render.OUTPUTS).write_text(json.dumps(outputs))
    (edited / render.MANIFESTS).write_text(render.dump_manifests(render.kubernetes_objects(resources)))
    (edited / render.CAPACITY).write_text(json.dumps(outputs["capacity"]))
    return edited


def _policy_file(tmp_path, config):
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return path


def test_every_rule_has_an_end_to_end_case():
    assert set(EDITS) == {policy.name for policy in POLICIES}


def test_an_unedited_render_passes(capsys, dev_render):
    code, out, _ = run_cli(capsys, "check", "--from", dev_render)
    assert code == 0, out


@pytest.mark.parametrize("rule", sorted(EDITS))
def test_check_from_an_edited_render_names_the_rule_and_exits_1(capsys, dev_render, tmp_path, rule):
    edit, config = EDITS[rule]
    edited = _edited_render(dev_render, tmp_path, edit)
    policy_args = ["--policy-config", _policy_file(tmp_path, config)] if config else []
    code, out, _ = run_cli(capsys, "check", "--from", edited, *policy_args)
    assert code == 1
    assert any(line.startswith(f"{rule} ") and not line.endswith("(advisory)") for line in out.splitlines()), out


@pytest.mark.parametrize(("attack", "edit", "expected"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_check_from_catches_the_attack(capsys, dev_render, tmp_path, attack, edit, expected):
    edited = _edited_render(dev_render, tmp_path, edit)
    code, out, _ = run_cli(capsys, "check", "--from", edited)
    lines = out.splitlines()
    assert code == 1, out
    for rule, message in expected:
        assert any(line.startswith(f"{rule} ") and message in line for line in lines), (rule, message, out)


def test_prod_drops_vllm_key_check(capsys, tmp_path):
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    resources = json.loads((tmp_path / render.RESOURCES).read_text())
    _drop_key_check(resources, None)
    (tmp_path / render.RESOURCES).write_text(json.dumps(resources))
    code, out, _ = run_cli(capsys, "check", "--from", tmp_path)
    assert code == 1, out
    assert any(line.startswith("vllm-api-key-required serving.kserve.io/v1beta1/InferenceService llm-serving/chat")
               for line in out.splitlines()), out  # fmt: skip


def test_prod_with_one_upstream_image_fails_images_from_mirror_without_policy_config(capsys, tmp_path):
    # prod's spec configures an ECR pull-through mirror; nothing tells the policy pack about it but the render.
    assert main(["render", "prod", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    resources = json.loads((tmp_path / render.RESOURCES).read_text())
    _runtime_container(resources)["image"] = versions.VLLM_IMAGE
    (tmp_path / render.RESOURCES).write_text(json.dumps(resources))
    manifests = render.read(tmp_path).manifests
    runtime = next(m for m in manifests if m["kind"] == "ServingRuntime" and m["metadata"]["name"] == "chat-vllm")
    runtime["spec"]["containers"][0]["image"] = versions.VLLM_IMAGE
    (tmp_path / render.MANIFESTS).write_text(render.dump_manifests(manifests))
    code, out, _ = run_cli(capsys, "check", "--from", tmp_path)
    *findings, summary = out.splitlines()
    assert code == 1 and summary.endswith(", 1 findings"), out
    assert findings == [
        "images-from-mirror serving.kserve.io/v1alpha1/ServingRuntime llm-serving/chat-vllm: spec.containers[0]: "
        f"'{versions.VLLM_IMAGE}' does not come from the registry mirror "
        f"({', '.join(json.loads((tmp_path / render.OUTPUTS).read_text())['registryMirrorPrefixes'])})"
    ], out


# --- enforcement levels and the policy config -------------------------------------------


@pytest.mark.parametrize(
    ("config", "code", "suffix"),
    [
        ({"pinned-image-tags": "advisory"}, 0, " (advisory)"),
        ({"all": "advisory"}, 0, " (advisory)"),
        ({"all": "advisory", "pinned-image-tags": {"enforcementLevel": "mandatory"}}, 1, "'latest'"),
        ({"pinned-image-tags": "disabled"}, 0, None),
    ],
)
def test_enforcement_levels(capsys, dev_render, tmp_path, config, code, suffix):
    edited = _edited_render(dev_render, tmp_path, _edit_image)
    actual, out, _ = run_cli(capsys, "check", "--from", edited, "--policy-config", _policy_file(tmp_path, config))
    lines = [line for line in out.splitlines() if line.startswith("pinned-image-tags ")]
    assert actual == code, out
    assert lines[0].endswith(suffix) if suffix else lines == [], out


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"pinned-image-tag": "advisory"}, "no rule named pinned-image-tag"),
        ({"all": "strict"}, "'strict' is not an enforcement level"),
        ({"chat-context-cap": {"maxModelLen": "long"}}, "chat-context-cap: 'long' is not of type 'integer'"),
        ([1, 2], "a JSON object keyed by rule name"),
    ],
)
def test_invalid_policy_config_exits_2(capsys, tmp_path, config, message):
    code, _, err = run_cli(capsys, "check", "dev", "--policy-config", _policy_file(tmp_path, config))
    assert code == 2 and message in err, err


# --- the pack module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def running_pack():
    """The pack as the engine starts it. Constructing the PolicyPack serves gRPC forever:
    read the port it announces, talk to it, stop it."""
    pack = subprocess.Popen([sys.executable, "-u", str(REPO_ROOT / "policy" / "__main__.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT / "policy")  # fmt: skip
    try:
        ready, _, _ = select.select([pack.stdout], [], [], 60)
        port = pack.stdout.readline().strip() if ready else ""
        assert port.isdigit(), pack.stderr.read() if pack.poll() is not None else "no port announced in 60 s"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        pack.kill()
        pack.communicate()


def _struct(value):
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def test_pack_serves_every_rule_with_its_level_and_config_schema(running_pack):
    info = running_pack.GetAnalyzerInfo(empty_pb2.Empty())
    served = {policy.name: policy for policy in info.policies}
    assert list(served) == [policy.name for policy in POLICIES]
    advisory = {name for name, policy in served.items() if policy.enforcementLevel == analyzer_pb2.ADVISORY}
    assert advisory == {"model-provenance"}
    assert all(
        policy.enforcementLevel == analyzer_pb2.MANDATORY for name, policy in served.items() if name not in advisory
    )
    assert served["chat-context-cap"].configSchema.properties["maxModelLen"]["default"] == 8192
    assert all(policy.remediation_steps for policy in served.values())


def test_pack_judges_a_resource_and_a_stack_as_the_engine_sends_them(running_pack):
    isvc = inference_service(
        args=["/mnt/models", "--max-model-len", "16384", "--shutdown-timeout", "120"], terminationGracePeriodSeconds=160
    )
    running_pack.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "chat-context-cap": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                                      properties=_struct({"maxModelLen": 8192})),
    }))  # fmt: skip
    resource_request = analyzer_pb2.AnalyzeRequest(
        type=isvc["type"], properties=_struct(isvc["inputs"]), urn=isvc["urn"], name=isvc["name"]
    )
    diagnostics = running_pack.Analyze(resource_request).diagnostics
    # A hand-made InferenceService of a dev stack, without an approval record: advice, not a block.
    assert sorted((d.policyName, d.enforcementLevel) for d in diagnostics) == [
        ("chat-context-cap", analyzer_pb2.MANDATORY), ("model-provenance", analyzer_pb2.ADVISORY)
    ]  # fmt: skip
    assert "above the chat cap 8192" in next(d.message for d in diagnostics if d.policyName == "chat-context-cap")
    stack = analyzer_pb2.AnalyzerResource(
        type="pulumi:pulumi:Stack", urn="urn:pulumi:dev::private-llm-serving::pulumi:pulumi:Stack::p-dev",
        name="p-dev", properties=_struct(capacity_outputs(chat={})),
    )  # fmt: skip
    served = analyzer_pb2.AnalyzerResource(type=isvc["type"], properties=_struct(isvc["inputs"]), urn=isvc["urn"],
                                           name=isvc["name"])  # fmt: skip
    stack_diagnostics = running_pack.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[stack, served])
    ).diagnostics
    by_rule = {d.policyName: d for d in stack_diagnostics}
    assert "runs with maxModelLen 16384" in by_rule["capacity-fits"].message
    assert by_rule["capacity-fits"].urn == isvc["urn"]


def test_pack_finds_the_stacks_mirror_in_its_outputs_as_the_engine_sends_them(running_pack):
    # AnalyzeStack gets each resource's outputs: the root Stack's are the stack outputs.
    prefix = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/"
    stack = analyzer_pb2.AnalyzerResource(
        type="pulumi:pulumi:Stack", urn="urn:pulumi:prod::private-llm-serving::pulumi:pulumi:Stack::p-prod",
        name="p-prod", properties=_struct(mirror_outputs(prefix)),
    )  # fmt: skip
    upstream = deployment(container(versions.VLLM_IMAGE), name="upstream")
    mirrored = deployment(container(f"{prefix}vllm/vllm-openai:v0.32.0"), name="mirrored")
    served = [analyzer_pb2.AnalyzerResource(type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"])
              for r in (upstream, mirrored)]  # fmt: skip
    request = analyzer_pb2.AnalyzeStackRequest(resources=[stack, *served])
    found = [d for d in running_pack.AnalyzeStack(request).diagnostics if d.policyName == "images-from-mirror"]
    assert [(d.urn, d.enforcementLevel) for d in found] == [(upstream["urn"], analyzer_pb2.MANDATORY)]
    assert f"'{versions.VLLM_IMAGE}' does not come from the registry mirror ({prefix})" in found[0].message


def test_pack_lists_every_rule_of_the_issue_once():
    names = [policy.name for policy in POLICIES]
    assert names == [
        "pinned-image-tags", "pinned-model-revisions", "model-approved", "model-provenance", "context-cap-required",
        "chat-context-cap", "gpu-requests-equal-limits", "shm-for-tensor-parallel", "no-generation-probes", "vllm-drains-on-shutdown",
        "vllm-api-key-required", "trust-flags-accepted", "no-plaintext-secrets",
        "no-request-logging", "no-public-model-services", "inference-signal-autoscaling", "pinned-chart-versions",
        "images-from-mirror", "chat-batch-separated", "serving-namespace-default-deny", "routes-authenticated",
        "edge-listeners-https", "pool-routes-rate-limited", "route-hostnames-owned", "model-ingress-restricted", "model-egress-restricted", "platform-ingress-restricted", "capacity-fits",
        "knative-timeouts-drainable",
    ]  # fmt: skip


def test_stack_rules_see_component_outputs_as_the_engine_does(monkeypatch):
    """The engine gives stack policies each resource's outputs: for a component of ours, what it
    registered with register_outputs; Helm's Chart keeps its inputs offline, standing in for
    the children the engine would show."""
    seen = {}

    def probe(args, report_violation):
        for r in args.resources:
            seen.setdefault(r.resource_type, r.props)

    probe_rule = Rule("probe", "records props", probe, EnforcementLevel.ADVISORY, None, "", scope="stack")
    monkeypatch.setattr(policy_gate, "POLICIES", [probe_rule])
    policy_gate.violations(render.render(load_stack("dev")), policy_gate.reconcile({}, [probe_rule]))
    gateway = seen["llmserving:edge:Gateway"]
    assert set(gateway) == {"hostnames", "tlsSecret"}
    assert gateway["tlsSecret"] == "llm-gateway/llm-gateway-tls"
    assert gateway["hostnames"]["chat"] == "chat.llm.dev.example.internal"
    assert seen["kubernetes:helm.sh/v4:Chart"]["chart"]
