"""`Secrets` built alone from its slice (components/plan/edge.py) under the mock runtime: the
Secrets it creates, where, under which keys, every value masked, and its outputs."""

from __future__ import annotations

import copy

import pulumi
import pytest

from components.conventions import API_KEY_FILE, HUB_TOKEN_KEY, HUB_TOKEN_SECRET
from components.plan.edge import SecretsPlan, plan_secrets
from components.secrets import ApiKeys, Secrets, SecretsArgs
from components.spec import load_platform
from components.upstream import LOCAL_MODEL_JOB_NAMESPACE
from tests.conftest import BASE_PLATFORM
from tools.mockrun import SECRET, record

pytestmark = pytest.mark.unit

COMPONENT = "llmserving:guardrails:Secrets"
SECRET_TYPE = "kubernetes:core/v1:Secret"
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}
HUB_TOKEN_MIRROR = {"kind": "hub", "token": True}


def spec_of(**changes):
    return load_platform({**copy.deepcopy(BASE_PLATFORM), **changes}, "test", capacity_gate=False)


def with_vllm_api_key():
    platform = copy.deepcopy(BASE_PLATFORM)
    platform["gateway"] = {"vllmApiKey": True}
    platform["pools"][1]["clients"] = ["bob"]
    return load_platform(platform, "test", capacity_gate=False)


def built(plan: SecretsPlan, hub_token: str | None = None):
    """The component's own record and its Secrets by resource name."""

    def build():
        api_keys = ApiKeys({client: pulumi.Output.secret(key) for client, key in KEYS.items()})
        token = pulumi.Output.secret(hub_token) if hub_token else None
        Secrets("secrets", SecretsArgs(plan, api_keys, token))

    recording = record(build)
    (component,) = [r for r in recording.resources if r["type"] == COMPONENT]
    secrets = {r["name"]: r for r in recording.resources if r["type"] == SECRET_TYPE}
    assert all(secret["parent"] == component["urn"] for secret in secrets.values())
    return component, secrets


def test_the_plan_holds_what_the_secrets_read():
    plan = plan_secrets(spec_of())
    assert plan == SecretsPlan(
        gateway_namespace="llm-gateway",
        gateway_api_keys_name="llm-gateway-api-keys",
        serving_namespace="llm-serving",
        vllm_api_key_pools=(),
        hub_token_namespace=None,
    )
    assert [pool.name for pool in plan_secrets(with_vllm_api_key()).vllm_api_key_pools] == ["chat", "batch"]


def test_the_hub_token_goes_where_its_download_runs():
    assert plan_secrets(spec_of(modelMirror=HUB_TOKEN_MIRROR)).hub_token_namespace == "llm-serving"
    local = spec_of(modelMirror=HUB_TOKEN_MIRROR, modelCache={"kind": "local", "size": "100Gi"})
    assert plan_secrets(local).hub_token_namespace == LOCAL_MODEL_JOB_NAMESPACE


def test_the_component_alone_creates_the_gateway_secret():
    component, secrets = built(plan_secrets(spec_of()))
    assert component["outputs"] == {"gatewayApiKeys": "llm-gateway-api-keys"}
    assert set(secrets) == {"gateway-api-keys"}
    inputs = secrets["gateway-api-keys"]["inputs"]
    assert (inputs["metadata"]["name"], inputs["metadata"]["namespace"]) == ("llm-gateway-api-keys", "llm-gateway")
    assert inputs["type"] == "Opaque"
    assert inputs["stringData"] == {"alice": SECRET, "bob": SECRET}  # one key per client, never a value


def test_with_vllm_api_keys_each_pool_gets_its_config_file():
    _, secrets = built(plan_secrets(with_vllm_api_key()))
    assert set(secrets) == {"gateway-api-keys", "chat-vllm-api-keys", "batch-vllm-api-keys"}
    for pool in ("chat", "batch"):
        inputs = secrets[f"{pool}-vllm-api-keys"]["inputs"]
        assert (inputs["metadata"]["name"], inputs["metadata"]["namespace"]) == (f"{pool}-vllm-api-keys", "llm-serving")
        assert inputs["stringData"] == {API_KEY_FILE: SECRET}


def test_the_hub_token_secret_only_where_a_download_needs_it():
    _, secrets = built(plan_secrets(spec_of()), hub_token="hf_0123456789abcdef")
    assert "hub-token" not in secrets  # the mirror takes no token
    _, secrets = built(plan_secrets(spec_of(modelMirror=HUB_TOKEN_MIRROR)), hub_token="hf_0123456789abcdef")
    inputs = secrets["hub-token"]["inputs"]
    assert (inputs["metadata"]["name"], inputs["metadata"]["namespace"]) == (HUB_TOKEN_SECRET, "llm-serving")
    assert inputs["stringData"] == {HUB_TOKEN_KEY: SECRET}
