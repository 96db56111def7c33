"""Each vLLM setting is declared once, in `components.vllm_args` (DESIGN.md: the only place
that knows vLLM flag names): the argument builder, the extraArgs clash check and the policy
rules read the table, and the policy's defaults come from where they are declared."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components import pool_defaults, vllm_args
from components.spec import PoolSpec, load_platform
from policy.rules import engine
from tests.conftest import REPO_ROOT
from tests.policy_cases import capacity_outputs, inference_service, violations

pytestmark = pytest.mark.unit

TABLE_NAMES = {name for flag in vllm_args.FLAGS for name in flag.names}
POLICY_DIR = REPO_ROOT / "policy"
# Prose that spells another tool's flag of the same name as a vLLM one (huggingface-cli download's).
NOT_VLLM = ("downloads pass --revision <commit>",)
_FLAG_TOKEN = re.compile(r"(?<![\w-])--?[a-z][a-z0-9-]*")


def _all_flags_on(platform) -> list[str]:
    platform["models"][0].update(dtype="bfloat16", quantization="fp8", quantizeOnLoad=True)
    platform["pools"][0]["kvCacheDtype"] = "fp8"
    spec = load_platform(platform, "test")
    pool = spec.pools[0]
    return vllm_args.serve_args(pool, spec.model(pool.model), api_key_file="/etc/vllm/keys.yaml")


def test_every_emitted_flag_is_declared_in_the_table(platform):
    emitted = {arg for arg in _all_flags_on(platform) if arg.startswith("-")}
    assert emitted <= {flag.name for flag in vllm_args.MANAGED}
    assert vllm_args.MANAGED_FLAGS == {flag.name for flag in vllm_args.MANAGED}


def test_each_spelling_belongs_to_one_setting():
    spellings = [name for flag in vllm_args.FLAGS for name in flag.names]
    assert len(spellings) == len(set(spellings))
    assert all(flag.name.startswith("--") for flag in vllm_args.FLAGS)


def test_a_declared_default_names_its_source():
    for flag in vllm_args.FLAGS:
        assert (flag.vllm_default is None) == (flag.default_source is None), flag.name
    with pytest.raises(ValueError, match="no vLLM default"):
        vllm_args.MODEL.default()


def _without(text: str, phrases: tuple[str, ...]) -> str:
    for phrase in phrases:
        text = text.replace(phrase, "")
    return text


def _strings(tree: ast.AST) -> list[str]:
    """Every string constant of a module (f-string parts included), docstrings left out."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize("path", sorted((POLICY_DIR / "rules").glob("*.py")), ids=lambda p: p.name)
def test_policy_rules_spell_no_vllm_flag(path: Path):
    source = path.read_text()
    assert not re.search(r"""["']-{1,2}[a-z]""", source), "a flag literal: read it from components.vllm_args"
    spelled = {
        token
        for text in _strings(ast.parse(source))
        for token in _FLAG_TOKEN.findall(_without(text, NOT_VLLM))
        if token in TABLE_NAMES
    }
    assert not spelled, f"{path.name} spells {sorted(spelled)}: use the Flag of components.vllm_args"


def test_policy_reads_the_table():
    assert engine.MAX_MODEL_LEN is vllm_args.MAX_MODEL_LEN
    assert engine.TENSOR_PARALLEL_SIZE.names == ("--tensor-parallel-size", "-tp")


def test_chat_cap_default_is_the_chat_class_cap():
    default = engine.CHAT_CAP_CONFIG.properties["maxModelLen"]["default"]
    assert default == pool_defaults.CLASS_DEFAULTS["chat"]["maxModelLen"]


def test_capacity_fits_judges_a_flagless_container_at_the_pool_default():
    assert PoolSpec.model_fields["gpu_memory_utilization"].default == pool_defaults.GPU_MEMORY_UTILIZATION
    isvc = inference_service(args=["/mnt/models", "--max-model-len", "8192"])
    at_default = capacity_outputs(chat={"gpuMemoryUtilization": pool_defaults.GPU_MEMORY_UTILIZATION})
    assert violations("capacity-fits", isvc, outputs=at_default) == []
    elsewhere = capacity_outputs(chat={"gpuMemoryUtilization": 0.5})
    assert violations("capacity-fits", isvc, outputs=elsewhere)


def test_the_policy_pack_imports_without_pydantic():
    """The pack's own venv (policy/requirements.txt) has no pydantic: the policy may import
    components.vllm_args and components.pool_defaults, never components.spec."""
    code = "import sys; sys.modules['pydantic'] = None; import policy.pack"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
