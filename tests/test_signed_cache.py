"""The offline tool's disk caches (tools/signed_cache.py): outside the checkout, keyed by what
decides each value, HMAC-signed, so a forged or tampered entry is a miss and cannot pass a
flag (vLLM's verdicts) or a manifest (parsed CRD schemas); vLLM's verdicts hold no values."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO_ROOT
from tools import signed_cache, vllm_parser

pytestmark = pytest.mark.unit

ARGS = ("/mnt/models", "--max-model-len", "4096", "--not-a-vllm-flag", "hf_abcdefghijklmnopqrstuvwxyz012345")
REFUSAL = "unrecognized arguments: --not-a-vllm-flag hf_abcdefghijklmnopqrstuvwxyz012345"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(signed_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(vllm_parser, "_verdicts", {})
    return tmp_path / "cache" / vllm_parser.CACHE


def _entry_file(cache):
    (found,) = cache.glob("*.json")
    return found


def test_the_caches_live_outside_the_checkout(monkeypatch):
    monkeypatch.delenv(signed_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    folder = signed_cache.cache_dir(vllm_parser.CACHE)
    assert folder.as_posix() == "/var/cache/someone/private-llm-serving/vllm-args"
    assert REPO_ROOT not in folder.parents


def test_a_stored_verdict_is_read_back_and_holds_no_argument_value(cache):
    vllm_parser._store_verdict(ARGS, (REFUSAL, ()))
    text = _entry_file(cache).read_text()
    assert "hf_abcdefghijklmnopqrstuvwxyz012345" not in text and "[redacted]" in text
    assert (cache / ".key").stat().st_mode & 0o777 == 0o600
    assert vllm_parser._load_verdict(ARGS)
    assert vllm_parser._verdicts[ARGS][0].startswith("unrecognized arguments: --not-a-vllm-flag")


def test_a_forged_or_tampered_entry_is_a_miss(cache):
    vllm_parser._store_verdict(ARGS, (REFUSAL, ()))
    entry = _entry_file(cache)
    stored = json.loads(entry.read_text())
    # Rewritten to "accepted" without the secret: the HMAC no longer matches.
    entry.write_text(json.dumps({"value": json.dumps([None, []]), "mac": stored["mac"]}))
    assert not vllm_parser._load_verdict(ARGS)
    # A well-formed entry signed under another secret (a file a pull request supplies).
    forged = json.dumps([None, []])
    entry.write_text(json.dumps({"value": forged, "mac": signed_cache.mac(b"x" * 32, "", forged)}))
    assert not vllm_parser._load_verdict(ARGS)
    entry.write_text("not json")
    assert not vllm_parser._load_verdict(ARGS)


def test_an_entry_is_for_its_key_only(cache):
    vllm_parser._store_verdict(ARGS, (None, ()))
    assert not vllm_parser._load_verdict((*ARGS, "--another"))
    signed_cache.store("schemas", "content-hash-a", [{"kind": "CustomResourceDefinition"}])
    assert signed_cache.load("schemas", "content-hash-b") is signed_cache.MISSING
    assert signed_cache.load("schemas", "content-hash-a") == [{"kind": "CustomResourceDefinition"}]


def test_a_secret_others_can_read_is_not_trusted(cache):
    vllm_parser._store_verdict(ARGS, (None, ()))
    (cache / ".key").chmod(0o644)
    assert not vllm_parser._load_verdict(ARGS)
