"""Secrets: API keys only from Pulumi secret config, secret end to end, never in a render,
an export or a log line (components/secrets.py, tools/offline_secrets.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pulumi.runtime.sync_await import _sync_await

from components import vllm_args
from components.program import SecretConfigError, read_api_keys
from components.secret_config import SET_KEY_COMMAND, api_key_problems
from components.serving_pool import API_KEY_PATH
from components.spec import SpecError, load_platform
from tests.conftest import stack_config
from tests.test_edge import named, objects, of_kind
from tools.__main__ import main
from tools.offline_secrets import OFFLINE_CLIENT, PLACEHOLDER, placeholder_key, with_offline_secrets

pytestmark = pytest.mark.program

SENTINEL = "sentinel-9f3c1e7a5b2d4086-must-not-leak"
OTHER_SENTINEL = "sentinel-0a1b2c3d4e5f6071-must-not-leak"
KEYS = {"alice": SENTINEL, "bob": OTHER_SENTINEL}


def stack_file(tmp_path: Path, platform, api_keys) -> Path:
    path = tmp_path / "Pulumi.proposed.yaml"
    config = {**stack_config(platform), "private-llm-serving:apiKeys": api_keys}
    path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return path


def test_a_sentinel_key_appears_in_no_render_output_export_or_log(tmp_path, platform, capfd, caplog):
    platform["gateway"] = {"vllmApiKey": True}
    platform["pools"][0]["clients"] = ["alice"]
    config_file = stack_file(tmp_path, platform, KEYS)
    out_dir = tmp_path / "build"
    assert main(["render", "proposed", "--config-file", str(config_file), "--out", str(out_dir)]) == 0
    # Plain-text keys in a stack file are published with it: check reports each, by client.
    assert main(["check", "proposed", "--config-file", str(config_file)]) == 1
    captured = capfd.readouterr()
    assert "private-llm-serving:apiKeys.alice: is in plain text in the stack file" in captured.out
    assert "1 advisory, 2 findings" in captured.out or captured.out.rstrip().endswith("2 findings")
    written = {path.name: path.read_text(encoding="utf-8") for path in out_dir.iterdir()}
    assert set(written) >= {"manifests.yaml", "resources.json", "outputs.json"}
    for text in [*written.values(), captured.out, captured.err, caplog.text]:
        assert SENTINEL not in text and OTHER_SENTINEL not in text
    # The keys are there, masked: the objects stay valid and the client names stay visible.
    secrets = {
        s["metadata"]["name"]: s for s in yaml.safe_load_all(written["manifests.yaml"]) if s and s["kind"] == "Secret"
    }
    assert secrets["llm-gateway-api-keys"]["stringData"] == {"alice": "[secret]", "bob": "[secret]"}
    assert secrets["chat-vllm-api-keys"]["stringData"] == {"api-keys.yaml": "[secret]"}


def test_secret_resources_mark_their_values_as_secret_outputs(platform):
    from tools.mockrun import run_program

    config = {**stack_config(platform), "private-llm-serving:apiKeys": KEYS}
    secrets = [r for r in run_program("test", config).resources if r["type"] == "kubernetes:core/v1:Secret"]
    assert secrets and all(set(r["inputs"]["stringData"].values()) == {"[secret]"} for r in secrets)


class _Config:
    def __init__(self, value):
        self.value = value

    def get_object(self, key):
        assert key == "apiKeys"
        return self.value


def test_missing_api_keys_fail_with_the_command_that_sets_them(platform):
    spec = load_platform(platform, "stacks/Pulumi.dev.yaml")
    with pytest.raises(SecretConfigError) as error:
        read_api_keys(_Config(None), "stacks/Pulumi.dev.yaml", spec)
    assert str(error.value) == (
        "stacks/Pulumi.dev.yaml: private-llm-serving:apiKeys: not set; set one key per client: "
        "pulumi config set --secret --path 'apiKeys.<client>' <key>"
    )


def test_a_bad_key_is_named_by_its_client_never_shown(platform):
    problems = api_key_problems({"alice": "short", "Bad Name": SENTINEL})
    assert [path for path, _ in problems] == [
        "private-llm-serving:apiKeys.Bad Name",
        "private-llm-serving:apiKeys.alice",
    ]
    assert all("short" not in message and SENTINEL not in message for _, message in problems)
    assert SET_KEY_COMMAND in problems[1][1]


def test_an_allowlisted_client_without_a_key_is_rejected_before_rendering(tmp_path, platform, capsys):
    platform["pools"][0]["clients"] = ["carol"]
    code = main(["check", "proposed", "--config-file", str(stack_file(tmp_path, platform, KEYS))])
    err = capsys.readouterr().err
    assert code == 2
    assert "private-llm-serving:platform.pools[0].clients[0]: 'carol' has no key in private-llm-serving:apiKeys" in err


def test_keys_are_secret_outputs_once_read(platform):
    spec = load_platform(platform, "stack.yaml")
    api_keys = read_api_keys(_Config(dict(KEYS)), "stack.yaml", spec)
    assert api_keys.clients == ("alice", "bob")
    assert [_sync_await(output.is_secret()) for output in api_keys.keys.values()] == [True, True]
    assert api_keys.allowed_on(spec.pools[1]) == ("alice", "bob")


# --- vLLM's own check ------------------------------------------------------------------------


def test_vllm_reads_the_allowed_keys_from_a_secret_file_not_from_its_arguments(platform):
    platform["gateway"] = {"vllmApiKey": True}
    found = objects(platform, dict(KEYS))
    predictor = named(found, "InferenceService", "chat")["spec"]["predictor"]
    model = predictor["model"]
    assert model["args"][model["args"].index("--config") + 1] == API_KEY_PATH
    assert {"name": "vllm-api-keys", "secret": {"secretName": "chat-vllm-api-keys"}} in predictor["volumes"]
    mount = next(m for m in model["volumeMounts"] if m["name"] == "vllm-api-keys")
    assert f"{mount['mountPath']}/api-keys.yaml" == API_KEY_PATH and mount["readOnly"] is True
    secret = named(found, "Secret", "chat-vllm-api-keys")
    assert list(secret["stringData"]) == ["api-keys.yaml"]
    assert "--api-key" not in model["args"] and all("KEY" not in env["name"] for env in model.get("env", []))


def test_without_vllm_api_key_no_pod_mounts_keys(platform):
    found = objects(platform)
    assert not [s for s in of_kind(found, "Secret") if s["metadata"]["namespace"] == "llm-serving"]
    for isvc in of_kind(found, "InferenceService"):
        assert "--config" not in isvc["spec"]["predictor"]["model"]["args"]


def test_the_config_file_is_what_vllm_turns_into_api_key_arguments():
    text = vllm_args.api_key_config(["zz-key-0123456789abcdef", "aa-key-0123456789abcdef"])
    config = yaml.safe_load(text)  # vLLM loads --config with yaml.safe_load
    assert config == {"api-key": ["aa-key-0123456789abcdef", "zz-key-0123456789abcdef"]}
    # FlexibleArgumentParser.load_config_file: a list becomes the flag followed by every item.
    flattened = [f"--{key}" for key in config] + [str(item) for item in config["api-key"]]
    assert flattened == ["--api-key", "aa-key-0123456789abcdef", "zz-key-0123456789abcdef"]


@pytest.mark.parametrize("flag", ["--api-key", "--config", "--api-key=x"])
def test_extra_args_may_not_set_vllm_keys(platform, flag):
    platform["pools"][0]["extraArgs"] = [flag]
    with pytest.raises(SpecError) as error:
        load_platform(platform, "stack.yaml")
    assert error.value.problems[0][0] == "pools[0].extraArgs[0]"


# --- offline renders -------------------------------------------------------------------------


def test_offline_renders_replace_ciphertext_and_supply_missing_keys(platform):
    platform["pools"][0]["clients"] = ["alice"]
    config = {**stack_config(platform), "private-llm-serving:hfToken": {"secure": "v1:AAAA"}}
    resolved, secret_keys = with_offline_secrets(config)
    assert resolved["private-llm-serving:hfToken"] == PLACEHOLDER
    assert resolved["private-llm-serving:apiKeys"] == {"alice": placeholder_key("alice")}
    assert secret_keys == ["private-llm-serving:apiKeys", "private-llm-serving:hfToken"]
    encrypted = {"private-llm-serving:apiKeys": {"bob": {"secure": "v1:BBBB"}}}
    assert with_offline_secrets(encrypted)[0]["private-llm-serving:apiKeys"] == {"bob": placeholder_key("bob")}
    assert with_offline_secrets({})[0]["private-llm-serving:apiKeys"] == {
        OFFLINE_CLIENT: placeholder_key(OFFLINE_CLIENT)
    }


def test_outputs_export_no_secret(tmp_path, platform):
    out_dir = tmp_path / "build"
    assert (
        main(["render", "proposed", "--config-file", str(stack_file(tmp_path, platform, KEYS)), "--out", str(out_dir)])
        == 0
    )
    outputs = json.loads((out_dir / "outputs.json").read_text())
    assert "[secret]" not in json.dumps(outputs)


def test_every_secret_waits_for_its_namespace(platform):
    from tools.mockrun import run_program

    platform["gateway"] = {**platform.get("gateway", {}), "vllmApiKey": True}
    recording = run_program("t", with_offline_secrets(stack_config(platform))[0])
    by_name = {(r["type"], r["name"]): r["urn"] for r in recording.resources}
    namespaces = {
        r["inputs"]["metadata"]["name"]: r["urn"]
        for r in recording.resources
        if r["type"] == "kubernetes:core/v1:Namespace"
    }
    secrets = [r for r in recording.resources if r["type"] == "kubernetes:core/v1:Secret"]
    assert len(secrets) >= 3
    for secret in secrets:
        namespace = namespaces[secret["inputs"]["metadata"]["namespace"]]
        assert namespace in recording.dependencies[by_name[("kubernetes:core/v1:Secret", secret["name"])]], secret[
            "name"
        ]
