"""extraArgs that change what vLLM trusts need the pool's opt-in (`trustedArgs`), whatever
spelling they use; the static table's resolution, with the exact inputs."""

from __future__ import annotations

import pytest

from components.spec import SpecError, load_platform
from components.vllm_args import trust_flags_in

pytestmark = pytest.mark.unit

SOURCE = "stacks/Pulumi.test.yaml"
REASON = "custom modelling code reviewed in SEC-1234"


def lines(raw) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_platform(raw, SOURCE)
    return caught.value.lines()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--trust-remote-code"], "--trust-remote-code"),
        (["--trust_remote_code"], "--trust-remote-code"),
        (["--trust-remote"], "--trust-remote-code"),  # argparse's prefix abbreviation
        (["--trust-remote-code=true"], "--trust-remote-code"),
        (["--middleware", "evil.module.App"], "--middleware"),
        (["--mid", "evil.module.App"], "--middleware"),
        (["--load-format", "dummy"], "--load-format"),
        (["--load-format=pt"], "--load-format"),
        (["--allowed-local-media-path", "/"], "--allowed-local-media-path"),
        (["--hf-token", "hf_abcdefghijklmnopqrstuvwxyz012345"], "--hf-token"),
        (["-sc", '{"model": "someone/draft"}'], "--speculative-config"),
        (["--speculative-config.model", "someone/draft"], "--speculative-config"),
        (["--enable-log-requests"], "--enable-log-requests"),
        (["--log-level", "debug"], "--log-level"),
        (["--tokenizer", "someone/other-tokenizer"], "--tokenizer"),
        (["--reasoning-parser-plugin", "/tmp/p.py"], "--reasoning-parser-plugin"),
    ],
)
def test_a_trust_flag_in_any_spelling_is_refused_without_the_opt_in(platform, args, flag):
    platform["pools"][0]["extraArgs"] = args
    found = [line for line in lines(platform) if "pools[0].extraArgs[0]: " in line]
    assert len(found) == 1 and f" sets {flag}, which " in found[0], found
    assert "name it in pools[0].trustedArgs with a reason" in found[0]
    assert "hf_abcdefghijklmnopqrstuvwxyz012345" not in found[0]  # the value is never echoed


@pytest.mark.parametrize(
    "args",
    [
        ["--no-trust-remote-code"],
        ["--load-format", "safetensors"],
        ["--load-format=auto"],
        ["--reasoning-parser", "deepseek_r1"],  # an exact ordinary flag that a trust flag's name starts with
        ["--enable-prefix-caching", "--max-logprobs", "5"],
    ],
)
def test_flags_that_keep_the_default_posture_need_no_opt_in(platform, args):
    platform["pools"][0]["extraArgs"] = args
    assert load_platform(platform, SOURCE).pools[0].extra_args == tuple(args)


def test_the_opt_in_accepts_the_flag_in_any_spelling(platform):
    platform["pools"][0]["extraArgs"] = ["--trust_remote"]
    platform["pools"][0]["trustedArgs"] = [{"flag": "--trust-remote-code", "reason": REASON}]
    assert load_platform(platform, SOURCE).pools[0].trusted_args[0].flag == "--trust-remote-code"


@pytest.mark.parametrize(
    ("trusted", "extra", "expected"),
    [
        ([{"flag": "--trust-remote-code", "reason": REASON}], [], "no extraArgs entry sets --trust-remote-code"),
        ([{"flag": "--max-logprobs", "reason": REASON}], [], "'--max-logprobs' needs no opt-in"),
        ([{"flag": "--trust-remote-cod", "reason": REASON}], [], "did you mean '--trust-remote-code'?"),
        ([{"flag": "--trust-remote-code", "reason": "ok"}], ["--trust-remote-code"], "at least 10 characters"),
        (
            [{"flag": "--middleware", "reason": REASON}] * 2,
            ["--middleware", "m.App"],
            "'--middleware' is already accepted by trustedArgs[0]",
        ),
    ],
)
def test_opt_ins_are_checked_too(platform, trusted, extra, expected):
    platform["pools"][0].update(trustedArgs=trusted, extraArgs=extra)
    assert any(expected in line for line in lines(platform)), lines(platform)


def test_a_managed_flag_with_a_pasted_secret_is_refused_without_echoing_it(platform):
    platform["pools"][0]["extraArgs"] = ["--api-key=sk-live-0123456789abcdefABCDEF"]
    found = lines(platform)
    assert any("pools[0].extraArgs[0]: '--api-key' restates --api-key" in line for line in found), found
    assert any("pools[0].extraArgs[0]: looks like a secret" in line for line in found), found
    assert not any("sk-live" in line for line in found)


def test_trust_flags_in_reports_each_index():
    args = ["--enable-prefix-caching", "--trust-remote-code", "--load-format", "dummy", "--max-logprobs", "5"]
    assert [(index, flag.name) for index, flag in trust_flags_in(args)] == [
        (1, "--trust-remote-code"),
        (2, "--load-format"),
    ]
