"""`smoke` and `loadtest` without a server: where they aim (stack outputs through the Pulumi
CLI, --resolve, --base-url), where keys come from, what they refuse, and the figures."""

from __future__ import annotations

import argparse
import json
import os
import stat

import pytest

from components.spec import SpecError, load_platform
from tests.conftest import BASE_PLATFORM
from tools import endpoints, loadtest, loadtest_report
from tools.__main__ import main
from tools.endpoints import Redactor, Resolve
from tools.serving_client import Sample
from tools.stackfile import InputError, load_stack

pytestmark = pytest.mark.unit

HOST = "chat.llm.dev.example.internal"


@pytest.mark.parametrize("verb", ["smoke", "loadtest"])
def test_help_exits_0(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0 and "--base-url" in capsys.readouterr().out


@pytest.fixture
def no_pulumi(monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_pulumi(monkeypatch, tmp_path):
    """A `pulumi` on PATH that answers `stack output --json` from a file and `config get` with
    a key derived from the path it is asked for."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    outputs = tmp_path / "outputs.json"
    script = bin_dir / "pulumi"
    script.write_text('#!/bin/sh\ncase "$1 $2" in\n  "stack output") cat "$FAKE_OUTPUTS" ;;\n'
                      '  "config get") echo "pulumi-key-for-$4-0123456789" ;;\n  *) exit 3 ;;\nesac\n')  # fmt: skip
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_OUTPUTS", str(outputs))
    return outputs


def test_without_the_pulumi_cli_a_target_needs_base_url_or_resolve(no_pulumi, capsys):
    assert main(["smoke", "dev", "--pool", "chat"]) == 2
    assert "the Pulumi CLI is not installed" in capsys.readouterr().err
    (target,) = endpoints.pool_targets(load_stack("dev"), ["chat"], None, [Resolve.parse(f"{HOST}:8443:10.0.0.7")])
    assert target.base_url == f"https://{HOST}:8443" and not target.explicit


def test_targets_come_from_the_stack_outputs_through_the_pulumi_cli(fake_pulumi):
    fake_pulumi.write_text(json.dumps({"pools": {"chat": {"url": f"https://{HOST}/v1"},
                                                 "batch": {"url": "https://batch.llm.dev.example.internal/v1"}}}))  # fmt: skip
    targets = endpoints.pool_targets(load_stack("dev"), None, None, [])
    assert [(t.pool.name, t.base_url, t.served_model) for t in targets] == [
        ("chat", f"https://{HOST}", "llama-3-1-8b-instruct"),
        ("batch", "https://batch.llm.dev.example.internal", "llama-3-1-8b-instruct"),
    ]


def test_an_output_pointing_elsewhere_is_refused_unless_base_url_is_explicit(fake_pulumi):
    fake_pulumi.write_text(json.dumps({"pools": {"chat": {"url": "https://somebody-else.example.com/v1"}}}))
    with pytest.raises(InputError, match="not the pool's hostname chat.llm.dev.example.internal"):
        endpoints.pool_targets(load_stack("dev"), ["chat"], None, [])
    (target,) = endpoints.pool_targets(load_stack("dev"), ["chat"], "https://somebody-else.example.com/v1", [])
    assert target.explicit and target.base_url == "https://somebody-else.example.com"


def test_keys_come_from_the_environment_then_the_secret_config(fake_pulumi, monkeypatch):
    stack = load_stack("dev")
    pool = stack.spec.pools[0].model_copy(update={"clients": ("app-a", "ci.bot")})
    monkeypatch.setenv("LLMSERVING_API_KEY_APP_A", "env-key-0123456789abcdef")
    keys = endpoints.api_keys(stack, pool)
    assert keys.found == {"app-a": "env-key-0123456789abcdef", "ci.bot": "pulumi-key-for-apiKeys.ci.bot-0123456789"}
    assert endpoints.key_variable("ci.bot") == "LLMSERVING_API_KEY_CI_BOT"


def test_without_cli_or_variable_a_client_has_no_key_and_the_message_names_the_variable(no_pulumi):
    stack = load_stack("dev")
    pool = stack.spec.pools[0].model_copy(update={"clients": ("app-a",)})
    keys = endpoints.api_keys(stack, pool, environ={})
    assert keys.found == {} and "set LLMSERVING_API_KEY_APP_A" in keys.missing["app-a"]


def test_redactor_hides_every_key_it_was_given():
    redact = Redactor(["secret-one-0123456789"])
    redact.add(["secret-two-0123456789"])
    assert redact("a secret-one-0123456789 b secret-two-0123456789") == "a [redacted] b [redacted]"


@pytest.mark.parametrize("text", ["chat.example.com:443", "chat.example.com:x:1.2.3.4", ":443:1.2.3.4"])
def test_resolve_needs_host_port_and_address(text):
    with pytest.raises(InputError, match="HOST:PORT:ADDR"):
        Resolve.parse(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--concurrency", "1000"], "between 1 and 256"),
        (["--rate", "0"], "above 0 and at most 100"),
        (["--requests", "3000", "--concurrency", "1", "2"], "at most 5000 requests a run"),
        (["--level-seconds", "1000", "--concurrency", "1", "2"], "at most 1800 s a run"),
    ],
)
def test_loadtest_is_bounded_in_count_concurrency_rate_and_time(argv, message, capsys):
    code = main(["loadtest", "dev", "--pool", "chat", "--base-url", "http://127.0.0.1:9", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_request_shapes_come_from_the_class_unless_the_slo_sets_a_workload():
    stack = load_stack("prod")
    chat, batch = (next(p for p in stack.spec.pools if p.name == name) for name in ("chat", "batch"))
    assert loadtest.shape_of(chat) == loadtest.Shape((64, 1024), (32, 256))
    assert loadtest.shape_of(batch) == loadtest.Shape((1024, 8192), (256, 1024))
    platform = {**BASE_PLATFORM, "pools": [{**BASE_PLATFORM["pools"][0],
                                            "slo": {"workload": {"outputTokens": {"min": 1, "max": 2}}}}]}  # fmt: skip
    pool = load_platform(platform, "test").pools[0]
    assert loadtest.shape_of(pool) == loadtest.Shape((64, 1024), (1, 2))
    assert pool.slo.ttft_p95_seconds == 1.0  # the class's SLO stays


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        ({"promptTokens": {"min": 9, "max": 8}}, "pools[0].slo.workload.promptTokens.min: 9 is above max (8)"),
        (
            {"promptTokens": {"min": 1, "max": 8000}, "outputTokens": {"min": 1, "max": 500}},
            "the longest request (8500 tokens, prompt and output) is above maxModelLen (8192)",
        ),  # fmt: skip
    ],
)
def test_a_workload_must_fit_the_pool(workload, message):
    platform = {**BASE_PLATFORM, "pools": [{**BASE_PLATFORM["pools"][0], "slo": {"workload": workload}}]}
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_platform(platform, "test")


def _sample(ttft, e2e, tokens=10, error=None):
    return Sample(0.0, 200 if error is None else 500, ttft, e2e, 10, tokens, error)


def test_level_figures_and_the_slo_verdict():
    stack = load_stack("dev")
    slo = stack.spec.pools[0].slo  # chat: TTFT p95 1 s, e2e p95 30 s
    good = [_sample(0.1 * n, 1.0 + n, tokens=11) for n in range(1, 11)]
    stats = loadtest_report.level_stats("concurrency 1", 1, good, seconds=10.0)
    assert stats.ttft["p50"] == pytest.approx(0.55) and stats.ttft["p95"] == pytest.approx(0.955)
    assert stats.itl["p50"] == pytest.approx((6.5 - 0.65) / 10, rel=0.2)
    assert stats.output_tokens_per_second == pytest.approx(11.0) and stats.error_rate == 0
    assert loadtest_report.misses(stats, slo, 0.01) == []
    slow = loadtest_report.level_stats("concurrency 2", 2, [*good, _sample(None, None, error="HTTP 500")], 10.0)
    assert loadtest_report.misses(slow, slo, 0.01) == ["error rate 9.1% above 1.0%"]
    empty = loadtest_report.level_stats("concurrency 4", 4, [_sample(None, None, error="cannot connect")], 1.0)
    assert loadtest_report.misses(empty, slo, 0.01)[0] == "TTFT p95 n/a above 1 s"


def test_levels_default_to_a_concurrency_ramp():
    args = argparse.Namespace(rate=None, concurrency=None)
    assert [level.label for level in loadtest.levels_from(args)] == ["concurrency 1", "concurrency 2", "concurrency 4"]
