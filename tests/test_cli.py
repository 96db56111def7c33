"""`python -m tools`: exit codes and messages for good and bad input."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO_ROOT, SHIPPED_STACKS, write_stack_file
from tools.__main__ import main

pytestmark = pytest.mark.program


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_render_writes_its_files(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "render", "dev", "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "capacity.json", "manifests.yaml", "outputs.json", "resources.json"
    ]  # fmt: skip
    assert "manifests.yaml" in out


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_check_shipped_stacks_pass(capsys, stack):
    code, out, _ = run_cli(capsys, "check", stack)
    assert code == 0, out
    assert out.strip().endswith("0 findings")


def test_check_reports_each_stage_and_what_it_did_not_check_on_stderr(capsys):
    code, out, err = run_cli(capsys, "check", "dev")
    assert code == 0, out
    stages = re.findall(r"^dev: (.+?) \d+\.\d s, ", err, re.MULTILINE)
    assert stages == [
        "render", "schemas", "cel", "helm-values", "promql", "cross-references", "vllm-args", "policy pack"
    ]  # fmt: skip
    assert "dev: ran: schemas, cel, helm-values, promql, cross-references, vllm-args, policy pack" in err
    assert "dev: not checked: Helm chart contents" in err
    assert "not checked" not in out and "advisory" not in err  # stdout keeps the findings and their count


def test_check_from_a_render_says_what_it_read(capsys, tmp_path):
    assert main(["render", "onprem", "--out", str(tmp_path)]) == 0
    code, out, err = run_cli(capsys, "check", "--from", str(tmp_path))
    assert code == 0, out
    assert re.search(rf"^{re.escape(str(tmp_path))}: read \d+ objects in \d+\.\d s$", err, re.MULTILINE), err


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda p: p["pools"][0].update(maxModelLength=4096), "pools[0].maxModelLength: unknown field"),
        (lambda p: p["pools"][1].update(model="nope"), "pools[1].model: 'nope' is not a model name"),
        (lambda p: p["models"][0].update(revision="0e9e39f"), "models[0].revision: String should match pattern"),
        (lambda p: p["pools"][0].update(maxModelLen=0), "pools[0].maxModelLen: Input should be greater than 0"),
    ],
)
@pytest.mark.parametrize("verb", ["render", "check"])
def test_invalid_config_exits_2_naming_file_and_path(capsys, tmp_path, platform, mutate, path, verb):
    mutate(platform)
    config_file = write_stack_file(tmp_path / "Pulumi.bad.yaml", platform)
    code, out, err = run_cli(
        capsys,
        verb,
        "bad",
        "--config-file",
        str(config_file),
        *(["--out", str(tmp_path / "o")] if verb == "render" else []),
    )
    assert code == 2
    assert f"{config_file}: private-llm-serving:platform.{path}" in err
    assert not (tmp_path / "o").exists()


def test_missing_stack_exits_2(capsys):
    # A user's own stack files (stacks/Pulumi.staging.yaml, ...) may sit beside the shipped
    # ones: the message lists what is there, so only the shipped stacks are asserted.
    code, _, err = run_cli(capsys, "check", "no-such-stack")
    assert code == 2
    prefix = "error: stacks/Pulumi.no-such-stack.yaml: no stack 'no-such-stack'; stacks in stacks/: "
    assert err.startswith(prefix), err
    listed = err.removeprefix(prefix).strip().split(", ")
    assert set(SHIPPED_STACKS) <= set(listed) and listed == sorted(listed)


def test_missing_config_file_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "check", "dev", "--config-file", str(tmp_path / "absent.yaml"))
    assert (code, f"{tmp_path / 'absent.yaml'}: no such file") == (2, err.strip().removeprefix("error: "))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: [unclosed", "not valid YAML"),
        ("just a string", "a stack file is a mapping with a 'config:' mapping"),
        ("config:\n  other:key: 1\n", "config has no 'private-llm-serving:platform' key"),
    ],
)
def test_bad_config_file_exits_2(capsys, tmp_path, text, message):
    config_file = tmp_path / "Pulumi.x.yaml"
    config_file.write_text(text)
    code, _, err = run_cli(capsys, "check", "x", "--config-file", str(config_file))
    assert code == 2 and message in err


def test_check_from_existing_render(capsys, tmp_path):
    assert run_cli(capsys, "render", "dev", "--out", str(tmp_path))[0] == 0
    code, out, _ = run_cli(capsys, "check", "--from", str(tmp_path))
    assert code == 0, out


def test_check_from_reports_an_edited_manifest(capsys, tmp_path):
    run_cli(capsys, "render", "dev", "--out", str(tmp_path))
    manifests = tmp_path / "manifests.yaml"
    documents = list(yaml.safe_load_all(manifests.read_text()))
    isvc = next(d for d in documents if d["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["argz"] = ["--oops"]
    manifests.write_text(yaml.safe_dump_all(documents))
    code, out, _ = run_cli(capsys, "check", "--from", str(tmp_path))
    assert code == 1
    assert f"schema serving.kserve.io/v1beta1/InferenceService llm-serving/{isvc['metadata']['name']}: " in out
    assert "spec.predictor.model.argz" in out


def test_check_from_enforces_the_crds_cel_rules(capsys, tmp_path):
    # Schema-valid, but Gateway API's CEL rule on HTTPRouteTimeouts refuses it.
    run_cli(capsys, "render", "dev", "--out", str(tmp_path))
    manifests = tmp_path / "manifests.yaml"
    documents = list(yaml.safe_load_all(manifests.read_text()))
    route = next(d for d in documents if d and d["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["timeouts"] = {"request": "60s", "backendRequest": "61s"}
    manifests.write_text(yaml.safe_dump_all(documents))
    code, out, _ = run_cli(capsys, "check", "--from", str(tmp_path))
    assert code == 1
    name = f"{route['metadata']['namespace']}/{route['metadata']['name']}"
    assert (
        f"cel gateway.networking.k8s.io/v1/HTTPRoute {name}: spec.rules[0].timeouts: "
        "backendRequest timeout cannot be longer than request timeout"
    ) in out
    assert "schema gateway.networking.k8s.io" not in out


def test_check_from_a_folder_that_is_no_render(capsys, tmp_path):
    code, _, err = run_cli(capsys, "check", "--from", str(tmp_path))
    assert code == 2 and "not a render output" in err


def test_check_needs_a_stack_or_from(capsys):
    assert run_cli(capsys, "check")[0] == 2


def test_check_with_missing_schemas_exits_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "check", "dev", "--schemas", str(tmp_path / "none"))
    assert code == 2 and str(tmp_path / "none") in err


def test_unknown_verb_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["deploy", "dev"])
    assert caught.value.code == 2


def test_module_entry_point_prints_no_traceback(tmp_path, platform):
    platform["pools"][0]["maxModelLen"] = 0
    config_file = write_stack_file(tmp_path / "Pulumi.bad.yaml", platform)
    result = subprocess.run(
        [sys.executable, "-m", "tools", "check", "bad", "--config-file", str(config_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "pools[0].maxModelLen" in result.stderr


def test_check_from_a_render_loads_no_pulumi_package_and_not_the_program(tmp_path):
    # The pack's rules are plain (policy/rule.py); only the engine's entry point wraps them in
    # the policy SDK (policy/crossguard.py). Judging a render someone hands over needs no Pulumi.
    assert main(["render", "dev", "--out", str(tmp_path)]) == 0
    probe = (
        "import sys\nfrom tools.__main__ import main\n"
        f"code = main(['check', '--from', {str(tmp_path)!r}])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_policy', 'pulumi_aws', 'pulumi_kubernetes', 'grpc')"
        " or m in ('components.program', 'components.platform', 'tools.mockrun'))\n"
        "print('LOADED', loaded, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert "LOADED [] 0" in result.stdout, result.stdout + result.stderr
