"""The trust-flag table (components/vllm_args.py) against vLLM's own `vllm serve` parser.

The program env has no vLLM, so the spec-time check reads a static table; these tests hold
that table to the installed vLLM (the tier pins the image's version): every flag is exactly
one of managed, trust or reviewed-ordinary (tests/vllm_ordinary_flags.txt), each trust
flag's option strings are vLLM's, and each spelling argparse resolves to a trust flag (alias,
unique prefix) is one the static check resolves to the same flag.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from components import vllm_args
from tools import signed_cache, vllm_cli, vllm_parser

pytestmark = pytest.mark.serving

ORDINARY_FILE = Path(__file__).with_name("vllm_ordinary_flags.txt")


def _ordinary() -> set[str]:
    lines = ORDINARY_FILE.read_text(encoding="utf-8").splitlines()
    return {line for line in lines if line and not line.startswith("#")}


@pytest.fixture(scope="module")
def serve() -> argparse.ArgumentParser:
    if vllm_cli.unavailable_reason():
        pytest.fail(f"the serving tier needs the vLLM tier (scripts/test installs it): {vllm_cli.unavailable_reason()}")
    parser, _ = vllm_cli.serve_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[vllm_cli.SUBCOMMAND]


def _actions(serve: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """vLLM's options by their canonical (first long) name, help left out."""
    return {
        next(o for o in action.option_strings if o.startswith("--")): action
        for action in serve._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    }


def test_every_vllm_flag_is_managed_trust_or_reviewed_ordinary(serve):
    found = set(_actions(serve))
    managed = {flag.name for flag in vllm_args.MANAGED}
    trust = set(vllm_args.TRUST_FLAG_NAMES)
    ordinary = _ordinary()
    assert not (managed & trust) and not (managed & ordinary) and not (trust & ordinary)
    assert found - managed - trust - ordinary == set(), "new vLLM flags: classify them"
    assert (managed | trust | ordinary) - found == set(), "flags vLLM no longer has"


def test_trust_flags_have_exactly_vllms_option_strings(serve):
    actions = _actions(serve)
    for trust in vllm_args.TRUST_FLAGS:
        action = actions[trust.name]
        negations = {f"--no-{name.removeprefix('--')}" for name in trust.flag.names if name.startswith("--")}
        expected = set(trust.flag.names) | (negations if isinstance(action, argparse.BooleanOptionalAction) else set())
        assert set(action.option_strings) == expected, trust.name
        assert action.dest == trust.dest


def _resolve(serve: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    """The action argparse reads `word` as (Python 3.11: (action, option_string, explicit_arg));
    None for no option or an ambiguous prefix (argparse exits on those)."""
    try:
        resolved = serve._parse_optional(word)
    except SystemExit:
        return None
    return resolved[0] if resolved is not None else None


def _shortest_unique_prefix(serve: argparse.ArgumentParser, name: str) -> str | None:
    target = _resolve(serve, name)
    return next((name[:n] for n in range(4, len(name)) if _resolve(serve, name[:n]) is target), None)


def test_every_spelling_vllm_reads_as_a_trust_flag_is_caught(serve):
    actions = _actions(serve)
    for trust in vllm_args.TRUST_FLAGS:
        spellings = [*trust.flag.names, trust.name.replace("-", "_").replace("__", "--", 1)]
        prefix = _shortest_unique_prefix(serve, trust.name)
        spellings += [prefix] if prefix else []
        for spelling in spellings:
            word = vllm_args.option_word(spelling)
            assert _resolve(serve, word) is actions[trust.name], spelling
            assert [flag.name for _, flag in vllm_args.trust_flags_in([spelling, "x"])] == [trust.name], spelling


def test_no_ordinary_or_negated_flag_is_taken_for_a_trust_flag(serve):
    for name, action in _actions(serve).items():
        if name in vllm_args.TRUST_FLAG_NAMES:
            negated = [o for o in action.option_strings if o.startswith("--no-")]
            assert all(vllm_args.trust_flags_in([o]) == [] for o in negated), name
        elif name in _ordinary():
            assert vllm_args.trust_flags_in([name, "x"]) == [], name


def test_vllms_parser_reports_the_trust_flags_an_argument_list_sets(serve, monkeypatch, tmp_path):
    """The vllm-args gate resolves trust flags through vLLM's own parser (abbreviations
    allowed, as at run time) and reports any the static table missed."""
    monkeypatch.setenv(signed_cache.CACHE_ENV, str(tmp_path))
    base = [vllm_args.MODEL_DIR, "--max-model-len", "4096"]
    lists = [
        [*base, "--trust-remote"],
        [*base, "--load-format", "dummy", "--no-enable-log-requests"],
        [*base, "--load-format", "safetensors", "--no-trust-remote-code"],
    ]
    trusted = [verdict[1] for verdict in vllm_parser._judge(lists)]
    assert trusted == [("--trust-remote-code",), ("--load-format",), ()]
    runtime = {"kind": "ServingRuntime", "metadata": {"name": "vllm", "namespace": "s"},
               "spec": {"containers": [{"name": "kserve-container", "command": list(vllm_args.SERVE_COMMAND),
                                        "args": base}]}}  # fmt: skip
    isvc = {"kind": "InferenceService", "metadata": {"name": "chat", "namespace": "s"},
            "spec": {"predictor": {"model": {"runtime": "vllm", "args": ["--trust-remote"]}}}}  # fmt: skip
    missed = "reads the arguments as setting --trust-remote-code, which the static trust-flag table"
    # The static table sees it (the strict parse still refuses the abbreviation).
    assert not [line for line in vllm_parser.findings([runtime, isvc]) if missed in line]
    monkeypatch.setattr(vllm_args, "trust_flags_in", lambda args: [])
    assert [line for line in vllm_parser.findings([runtime, isvc]) if missed in line]
