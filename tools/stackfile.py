"""Find and read a stack file, and turn it into a validated `PlatformSpec`.

Everything here fails with `InputError` (exit code 2): a message, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.conventions import stack_file
from components.spec import CONFIG_KEY, PlatformSpec, SpecError, load_platform
from tools import safe_yaml
from tools.offline_secrets import secret_config_problems

REPO_ROOT = Path(__file__).resolve().parents[1]


class InputError(Exception):
    """Bad arguments or config: reported with exit code 2."""


@dataclass(frozen=True)
class StackInput:
    stack: str
    source: str  # how messages name the file
    config: dict[str, Any]
    spec: PlatformSpec


def load_stack(stack: str, config_file: str | None = None, capacity_gate: bool = True) -> StackInput:
    path = Path(config_file) if config_file else REPO_ROOT / stack_file(stack)
    source = config_file if config_file else stack_file(stack)
    if not path.is_file():
        raise InputError(
            f"{source}: no such file" if config_file
            else f"{source}: no stack '{stack}'; stacks in stacks/: {', '.join(stack_names())}"
        )  # fmt: skip
    config = _read_config(path, source)
    if CONFIG_KEY not in config:
        raise InputError(f"{source}: config has no '{CONFIG_KEY}' key")
    try:
        spec = load_platform(config[CONFIG_KEY], source, capacity_gate=capacity_gate)
    except SpecError as error:
        raise InputError(str(error)) from None
    problems = secret_config_problems(config, spec)
    if problems:
        raise InputError("\n".join(f"{source}: {path}: {message}" for path, message in problems))
    return StackInput(stack=stack, source=source, config=config, spec=spec)


def _read_config(path: Path, source: str) -> dict[str, Any]:
    try:
        document = safe_yaml.load(path.read_text(encoding="utf-8"), source)
    except UnicodeDecodeError as error:
        raise InputError(f"{source}: not valid YAML: {error}") from None
    except safe_yaml.YamlRefused as error:
        raise InputError(str(error)) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InputError(f"{source}: a stack file is a mapping with a 'config:' mapping (Pulumi.<stack>.yaml format)")
    return document["config"]


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (REPO_ROOT / "stacks").glob("Pulumi.*.yaml"))
