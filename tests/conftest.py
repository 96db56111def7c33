"""Shared fixtures: a small valid platform config to mutate, and the shipped stacks."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = REPO_ROOT.parent / "shared" / "schemas"
SHIPPED_STACKS = ("dev", "prod", "onprem")
REVISION = "0e9e39f249a16976918f6564b8830bc894c89659"
KNATIVE_PROXY_RESTART_REASON = "test batch clients resubmit a request cut by a Knative proxy restart"

BASE_PLATFORM: dict[str, Any] = {
    "cluster": {"kind": "kubeconfig", "context": "test"},
    "nodePools": [{"name": "gpu-h100", "instanceType": "p5.48xlarge"}],
    "models": [
        {
            "name": "llama-8b",
            "source": "meta-llama/Llama-3.1-8B-Instruct",
            "revision": REVISION,
            "architecture": "llama-3.1-8b",
        }
    ],
    "pools": [
        {"name": "chat", "class": "chat", "model": "llama-8b", "nodePool": "gpu-h100", "hostname": "chat.example.com"},
        {
            "name": "batch",
            "class": "batch",
            "model": "llama-8b",
            "nodePool": "gpu-h100",
            "hostname": "batch.example.com",
            # A Knative pool's requests outlast what Knative's proxies drain when they restart
            # (components/spec/rules.py _knative_timeout_problems).
            "acceptedRisks": {"knativeProxyRestart": KNATIVE_PROXY_RESTART_REASON},
        },
    ],
}


@pytest.fixture
def platform() -> dict[str, Any]:
    """A deep copy of a small valid platform config, safe to mutate."""
    return copy.deepcopy(BASE_PLATFORM)


def stack_config(platform: dict[str, Any]) -> dict[str, Any]:
    return {"private-llm-serving:platform": platform}


def write_stack_file(path: Path, platform: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"config": stack_config(platform)}), encoding="utf-8")
    return path


TIERS = ("unit", "program", "serving", "tooling")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries exactly one tier marker (pytest.ini): a module without one, or
    with two, would be silently left out of `pytest -m unit` or run twice."""
    for item in items:
        tiers = [tier for tier in TIERS if item.get_closest_marker(tier)]
        if len(tiers) != 1:
            raise pytest.UsageError(
                f"{item.nodeid}: mark its module with exactly one of {', '.join(TIERS)} (has {tiers})"
            )
