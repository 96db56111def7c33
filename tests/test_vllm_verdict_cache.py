"""vLLM's verdicts on disk: outside the checkout, keyed by what decides them, HMAC-signed, and
free of argument values. A forged or tampered entry is ignored, so it cannot pass a flag."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from tools import vllm_parser

pytestmark = pytest.mark.unit

ARGS = ("/mnt/models", "--max-model-len", "4096", "--not-a-vllm-flag", "hf_abcdefghijklmnopqrstuvwxyz012345")
REFUSAL = "unrecognized arguments: --not-a-vllm-flag hf_abcdefghijklmnopqrstuvwxyz012345"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(vllm_parser.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(vllm_parser, "_verdicts", {})
    return tmp_path / "cache" / "vllm-args"


def _entry_file(cache):
    (found,) = cache.glob("*.json")
    return found


def test_the_cache_lives_outside_the_checkout(monkeypatch):
    monkeypatch.delenv(vllm_parser.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert vllm_parser.verdict_cache_dir().as_posix() == "/var/cache/someone/private-llm-serving/vllm-args"
    assert REPO_ROOT not in vllm_parser.verdict_cache_dir().parents


def test_a_stored_verdict_is_read_back_and_holds_no_argument_value(cache):
    vllm_parser._store_verdict(ARGS, (REFUSAL, ()))
    text = _entry_file(cache).read_text()
    assert "hf_abcdefghijklmnopqrstuvwxyz012345" not in text and "[redacted]" in text
    assert (cache / ".key").stat().st_mode & 0o777 == 0o600
    assert vllm_parser._load_verdict(ARGS)
    assert vllm_parser._verdicts[ARGS][0].startswith("unrecognized arguments: --not-a-vllm-flag")


def test_a_forged_or_tampered_entry_is_ignored(cache):
    vllm_parser._store_verdict(ARGS, (REFUSAL, ()))
    entry = _entry_file(cache)
    stored = json.loads(entry.read_text())
    # Rewritten to "accepted" without the key: the HMAC no longer matches.
    entry.write_text(json.dumps({"verdict": [None, []], "mac": stored["mac"]}))
    assert not vllm_parser._load_verdict(ARGS)
    # A well-formed entry signed under another key (a file a pull request supplies).
    entry.write_text(json.dumps({"verdict": [None, []], "mac": vllm_parser._mac(b"x" * 32, "", [None, []])}))
    assert not vllm_parser._load_verdict(ARGS)
    entry.write_text("not json")
    assert not vllm_parser._load_verdict(ARGS)


def test_an_entry_is_for_its_argument_list_only(cache):
    vllm_parser._store_verdict(ARGS, (None, ()))
    assert not vllm_parser._load_verdict((*ARGS, "--another"))


def test_a_key_others_can_read_is_not_trusted(cache):
    vllm_parser._store_verdict(ARGS, (None, ()))
    (cache / ".key").chmod(0o644)
    assert not vllm_parser._load_verdict(ARGS)
