"""The README's commands are the ones that run: set-up, test, and the first deployment."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.unit

README = (REPO_ROOT / "README.md").read_text()


def _code_after(heading: str) -> str:
    section = README.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```\n(.*?)\n```", section, re.DOTALL)[1].strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = _code_after("Test")
    ci_lines = [
        line
        for line in (REPO_ROOT / ".ci/run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci_lines == [command]


def test_the_set_up_command_installs_the_program_lock_alone():
    assert _code_after("Set up") == "python3 -m venv .venv && .venv/bin/pip install -r requirements.lock"


def test_the_first_deployment_walkthrough_covers_stack_secrets_and_clients():
    walkthrough = README.split("\n## First deployment, step by step\n", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "pulumi login",
        "pulumi stack init",
        "pulumi config set --secret --path 'apiKeys.",
        "pulumi config set --secret hfToken",
        "python -m tools images",
        "pulumi stack output gatewayAddress",
        "/v1/chat/completions",
        "base_url=",
        "--cacert",
    ):
        assert needle in walkthrough, needle
