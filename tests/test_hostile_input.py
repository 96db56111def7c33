"""Hostile stack files: each is refused with exit code 2, naming the file and the config path,
with no traceback, through `python -m tools check` in a subprocess (what a CI job runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import PlatformSpec
from components.spec.base import INT32_MAX
from tests.conftest import REPO_ROOT, write_stack_file
from tools import safe_yaml

pytestmark = pytest.mark.program

PREFIX = "private-llm-serving:platform"


def check(config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", "check", "hostile", "--config-file", str(config_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def assert_refused(config_file: Path, expected: str) -> str:
    result = check(config_file)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"error: {config_file}: " in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    return result.stderr


def _set(platform: dict[str, Any], path: str, value: Any) -> None:
    node: Any = platform
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value


# (config path, value, what the message says): one per class of hostile value.
HOSTILE_VALUES = [
    # booleans, strings, infinities and NaN where a number goes
    ("pools.0.maxModelLen", True, "pools[0].maxModelLen: Input should be a valid integer"),
    ("pools.0.maxNumSeqs", "64", "pools[0].maxNumSeqs: Input should be a valid integer"),
    ("pools.0.slo", {"ttftP95Seconds": float("inf")}, "pools[0].slo.ttftP95Seconds: Input should be a finite number"),
    (
        "pools.0.autoscaling",
        {"signal": "queue", "target": float("nan")},
        "autoscaling.target: Input should be a finite",
    ),
    ("gateway.vllmApiKey", "yes", "gateway.vllmApiKey: Input should be a valid boolean"),
    # numbers beyond what the objects they feed accept
    ("pools.0.maxModelLen", 10**400, "pools[0].maxModelLen: Input should be less than or equal to 16777216"),
    ("pools.0.timeoutSeconds", 10**6, "pools[0].timeoutSeconds: Input should be less than or equal to 86400"),
    ("pools.0.replicas", {"min": 1, "max": INT32_MAX + 1}, "pools[0].replicas.max: Input should be less than"),
    ("pools.0.requestsPerMinute", 2**40, "pools[0].requestsPerMinute: Input should be less than or equal to"),
    ("monitoring.prometheusUrl", "http://prometheus:70000", "monitoring.prometheusUrl: the port must be a number"),
    ("modelMirror", {"kind": "hub-mirror", "endpoint": "https://u:p@hub.internal"}, "must not carry credentials"),
    ("pools.0.memory", "9" * 400 + "Gi", "pools[0].memory: String should have at most 16 characters"),
    # names: Kubernetes rules, control and bidi characters
    ("pools.0.name", "chat\u202egpt", "pools[0].name: String should match pattern"),
    ("gateway.serviceAnnotations", {"a/b": "x\u202e"}, "serviceAnnotations.a/b: contains the invisible or control"),
    (
        "monitoring.runbookUrl",
        "docs/run\x07book.md",
        "monitoring.runbookUrl: contains the invisible or control character U+0007",
    ),
    (
        "gateway.tls",
        {"issuer": {"kind": "ClusterIssuer", "name": "Corp CA"}},
        "gateway.tls.issuer.name: String should match",
    ),
    ("cluster", {"kind": "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234"}, "cluster: 'kind' must be one of 'eks', 'kubeconfig'"),
    ("gateway.serviceAnnotations", {"bad key!": "x"}, "gateway.serviceAnnotations.bad key!: String should match"),
    ("namespaces.serving", "a" * 64, "namespaces.serving: String should have at most 63 characters"),
    # a free-text string counts characters too (its length bound wraps the visible-text check)
    ("cluster", {"kind": "kubeconfig", "context": ""}, "cluster.context: String should have at least 1 character"),
    (
        "cluster",
        {"kind": "kubeconfig", "context": "c" * 254},
        "cluster.context: String should have at most 253 characters",
    ),
    # host paths: normalised and confined
    ("modelCache", {"kind": "local", "size": "100Gi", "localPath": "/mnt/../etc"}, "modelCache.localPath: must be"),
    ("modelCache", {"kind": "local", "size": "100Gi", "localPath": "/var/lib/kubelet/pods"}, "a system directory"),
    # cross-field sanity
    (
        "pools.0.replicas",
        {"min": 1, "max": 5},
        "pools[0].replicas.max: 5 replicas of 1 GPU(s) need more than the 4 GPUs",
    ),
    ("pools.0.slo", {"e2eP95Seconds": 900}, "pools[0].slo.e2eP95Seconds: 900.0 is above timeoutSeconds"),
    ("pools.0.defaultMaxTokens", 8192, "pools[0].defaultMaxTokens: 8192 leaves no room for a prompt"),
    ("pools.0.memory", "1Gi", "pools[0].memory: 1Gi is below the 15.0 GiB of weights"),
    ("monitoring.namespace", "default", "monitoring.namespace: 'default' is one of the cluster's own namespaces"),
    ("monitoring.namespace", "llm-serving", "monitoring.namespace: 'llm-serving' is already namespaces.serving"),
    ("namespaces.serving", "llm-gateway", "gateway.namespace: 'llm-gateway' is already namespaces.serving"),
]


@pytest.fixture
def managed_platform(platform):
    """The test platform on EKS with a managed node pool of four one-GPU nodes, so node
    capacity is known: a pool may have at most four replicas."""
    platform["cluster"] = {"kind": "eks", "name": "test", "region": "us-east-1"}
    platform["nodePools"] = [{"name": "gpu-h100", "instanceType": "g6e.2xlarge", "scaling": {"max": 4}}]
    platform["pools"][0]["maxModelLen"] = 8192
    return platform


@pytest.mark.parametrize(
    ("path", "value", "expected"), HOSTILE_VALUES, ids=[f"{p}={str(v)[:20]}" for p, v, _ in HOSTILE_VALUES]
)
def test_hostile_value_exits_2_naming_the_path(tmp_path, managed_platform, path, value, expected):
    _set(managed_platform, path, value)
    config_file = tmp_path / "Pulumi.hostile.yaml"
    config_file.write_text(yaml.safe_dump({"config": {PREFIX: managed_platform}}, width=10_000), encoding="utf-8")
    stderr = assert_refused(config_file, expected)
    assert f"{config_file}: {PREFIX}." in stderr


def _stack_text(platform_yaml: str) -> str:
    return f"config:\n  {PREFIX}:\n{platform_yaml}"


BILLION_LAUGHS = (
    "config:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    + f"  {PREFIX}: *a9\n"
)

HOSTILE_DOCUMENTS = [
    ("deep", "config:\n  x: " + "[" * 900 + "]" * 900 + "\n", "line 2: nests deeper than 48 levels"),
    ("deep-mapping", "config:\n  x: " + "{a: " * 900 + "1" + "}" * 900 + "\n", "nests deeper than 48 levels"),
    ("bomb", BILLION_LAUGHS, "holds more than 200000 nodes (aliases expanded)"),
    ("recursive", "config: &c\n  self: *c\n", "an alias refers to a node that contains it"),
    (
        "duplicate",
        _stack_text("    gateway: {vllmApiKey: true}\n    gateway: {vllmApiKey: false}\n"),
        "line 4: key 'gateway' is given twice in one mapping",
    ),  # fmt: skip
    (
        "duplicate-nested",
        _stack_text("    gateway: {vllmApiKey: true, vllmApiKey: false}\n"),
        "key 'vllmApiKey' is given twice",
    ),
    ("digits", "config:\n  x: " + "9" * 5000 + "\n", "not valid YAML: ValueError"),
    ("huge", "config:\n  x: '" + "a" * (safe_yaml.MAX_BYTES + 1) + "'\n", "larger than 256 KiB"),
    ("two-documents", "config: {}\n---\nconfig: {}\n", "holds more than one YAML document"),
    ("long-flow-run", "config:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\n", "line 2: nests deeper than 48 levels"),
    ("block-nesting", "config:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)), "nests deeper than 48"),
]


@pytest.mark.parametrize(("name", "text", "expected"), HOSTILE_DOCUMENTS, ids=[d[0] for d in HOSTILE_DOCUMENTS])
def test_hostile_yaml_exits_2_naming_the_file(tmp_path, name, text, expected):
    config_file = tmp_path / f"Pulumi.{name}.yaml"
    config_file.write_text(text, encoding="utf-8")
    assert_refused(config_file, expected)


ALIAS_BOMB_PROBE = """
import resource, sys
from tools import safe_yaml
resource.setrlimit(resource.RLIMIT_AS, (200 * 2**20, 200 * 2**20))
try:
    safe_yaml.load(sys.stdin.read(), "bomb.yaml")
except safe_yaml.YamlRefused as error:
    print(error)
# The peak resident size of this process image (VmHWM starts afresh at exec; ru_maxrss
# would carry the forking pytest process's).
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def test_alias_bomb_is_refused_within_200_mb():
    """The loader alone, under an address-space limit of 200 MB: a MemoryError or a kill would
    fail the run; the refusal and the peak resident size are printed."""
    result = subprocess.run(
        [sys.executable, "-c", ALIAS_BOMB_PROBE], input=BILLION_LAUGHS.replace("lol", "lol" * 10),
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    refusal, peak_kib = result.stdout.splitlines()
    assert "holds more than 200000 nodes" in refusal
    assert int(peak_kib) < 200 * 1024


def test_plain_yaml_still_loads_merge_keys_and_anchors():
    text = "base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3\n"
    assert safe_yaml.load(text, "x") == {"base": {"a": 1, "b": 2}, "derived": {"a": 1, "b": 3}}


def test_every_number_in_the_config_schema_is_bounded():
    """Each integer and number field sets its own maximum (at most int32), from what it feeds."""
    unbounded = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("integer", "number"):
                limit = node.get("maximum", node.get("exclusiveMaximum"))
                if limit is None or (node["type"] == "integer" and limit > 10**15):
                    unbounded.append(path)
            for key, item in node.items():
                walk(item, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(PlatformSpec.model_json_schema(by_alias=True), "")
    assert unbounded == []


def test_shipped_stack_shape_still_writes(tmp_path, platform):
    # The fixture's own stack file loads: the strict reader refuses only what it should.
    config_file = write_stack_file(tmp_path / "Pulumi.ok.yaml", platform)
    assert safe_yaml.load(config_file.read_text(), str(config_file))["config"][PREFIX]["pools"]
