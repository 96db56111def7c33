"""The linters, the type checker and the import contracts, run by the README's test command
with the settings in pyproject.toml (and by .pre-commit-config.yaml on each commit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.tooling

BIN = Path(sys.executable).parent
TOOLS = {
    "ruff check": [str(BIN / "ruff"), "check", "."],
    "ruff format": [str(BIN / "ruff"), "format", "--check", "."],
    "mypy": [str(BIN / "mypy")],
    "lint-imports": [str(BIN / "lint-imports")],
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tool_passes(tool):
    result = subprocess.run(TOOLS[tool], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{tool} failed:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


def test_no_python_file_outside_tests_is_over_500_lines():
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    long = {
        path: lines
        for path in tracked.stdout.split()
        if not path.startswith("tests/") and (REPO_ROOT / path).is_file()
        for lines in [len((REPO_ROOT / path).read_text().splitlines())]
        if lines > 500
    }
    assert long == {}
