"""How fast, and in how much memory, `python -m tools check` refuses hostile stack files.

Writes each hostile stack file of tests/test_hostile_input.py (one per class of issue 16,
item 3: strict and bounded numbers, names, host paths, cross-field rules, and the YAML
documents: deep nesting, alias bombs, duplicate keys, huge files), runs
`python -m tools check` on it in a fresh process, and prints its exit code, wall time and
peak resident memory. Target (issue 16): exit 2, under a second, the alias bomb under 200 MB.

    .venv/bin/python benchmarks/hostile_input.py

The exit code is 1 when a run misses a target, else 0.
"""

from __future__ import annotations

import copy
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import BASE_PLATFORM  # noqa: E402
from tests.test_hostile_input import HOSTILE_DOCUMENTS, HOSTILE_VALUES, PREFIX, _set  # noqa: E402

LIMIT_SECONDS = 1.0
LIMIT_KIB = 200 * 1024


def _platform() -> dict:
    platform = copy.deepcopy(BASE_PLATFORM)
    platform["cluster"] = {"kind": "eks", "name": "test", "region": "us-east-1"}
    platform["nodePools"] = [{"name": "gpu-h100", "instanceType": "g6e.2xlarge", "scaling": {"max": 4}}]
    platform["pools"][0]["maxModelLen"] = 8192
    return platform


def _cases() -> list[tuple[str, str]]:
    cases = []
    for path, value, _ in HOSTILE_VALUES:
        platform = _platform()
        _set(platform, path, value)
        cases.append((f"{path}={str(value)[:24]!r}", yaml.safe_dump({"config": {PREFIX: platform}}, width=10_000)))
    cases += [(name, text) for name, text, _ in HOSTILE_DOCUMENTS]
    return cases


def main() -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as folder:
        for name, text in _cases():
            config_file = Path(folder) / "Pulumi.hostile.yaml"
            config_file.write_text(text, encoding="utf-8")
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "tools", "check", "hostile", "--config-file", str(config_file)],
                cwd=REPO_ROOT, capture_output=True, text=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            ok = result.returncode == 2 and seconds < LIMIT_SECONDS and "Traceback" not in result.stderr
            missed += not ok
            # ru_maxrss of children is the largest so far: a figure above the previous one is this run's.
            memory = f"{peak / 1024:.0f} MB" if peak > before else f"<= {before / 1024:.0f} MB"
            print(f"{'ok  ' if ok else 'MISS'} exit {result.returncode} {seconds:5.2f} s {memory:>10}  {name}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
