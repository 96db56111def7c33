"""The generated stack-config reference: up to date, and a schema that accepts the shipped
stacks and rejects what `load_platform` rejects field by field."""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from components.spec import CLASS_DEFAULTS, CONFIG_KEY, PlatformSpec, SpecError, load_platform
from tests.conftest import BASE_PLATFORM, REPO_ROOT, SHIPPED_STACKS
from tools import config_reference
from tools.config_reference import COMMAND, MARKDOWN_PATH, SCHEMA_PATH, generated_files

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((REPO_ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def markdown() -> str:
    return (REPO_ROOT / MARKDOWN_PATH).read_text(encoding="utf-8")


def _errors(validator: jsonschema.Draft202012Validator, value: Any) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(value)]


# --- up to date -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [MARKDOWN_PATH, SCHEMA_PATH], ids=str)
def test_generated_file_is_up_to_date(path: Path) -> None:
    on_disk = (REPO_ROOT / path).read_text(encoding="utf-8")
    assert on_disk == generated_files()[path], f"{path} is stale: run `{COMMAND}` and commit the result"


def test_generation_is_deterministic() -> None:
    assert generated_files() == generated_files()


def test_check_names_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_reference.main([], root=tmp_path)
    (tmp_path / SCHEMA_PATH).write_text("{}\n", encoding="utf-8")
    assert config_reference.main(["--check"], root=tmp_path) == 1
    message = capsys.readouterr().err
    assert str(SCHEMA_PATH) in message and COMMAND in message and str(MARKDOWN_PATH) not in message


def test_check_passes_on_fresh_files(tmp_path: Path) -> None:
    config_reference.main([], root=tmp_path)
    assert config_reference.main(["--check"], root=tmp_path) == 0


# --- the JSON Schema ------------------------------------------------------------------


def _shipped_platform(stack: str) -> Any:
    document = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return document["config"][CONFIG_KEY]


def test_schema_is_draft_2020_12_with_an_id(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] == CONFIG_KEY


def test_every_object_rejects_unknown_fields(schema: dict[str, Any]) -> None:
    open_objects = [name for name, body in schema["$defs"].items() if body.get("additionalProperties") is not False]
    assert schema["additionalProperties"] is False and open_objects == []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_schema_accepts_shipped_stack(validator: jsonschema.Draft202012Validator, stack: str) -> None:
    assert _errors(validator, _shipped_platform(stack)) == []


def test_schema_accepts_pools_that_leave_everything_to_their_class(validator: jsonschema.Draft202012Validator) -> None:
    platform = copy.deepcopy(BASE_PLATFORM)
    platform["pools"][0]["replicas"] = {"max": 3}  # merged over the class's replicas
    load_platform(copy.deepcopy(platform), "test")
    assert _errors(validator, platform) == []


def _mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    platform = copy.deepcopy(BASE_PLATFORM)
    change(platform)
    return platform


REJECTED = {
    "misspelled top-level field": lambda p: p.update(monitorng={"enabled": False}),
    "misspelled pool field": lambda p: p["pools"][0].update(maxModeLen=4096),
    "misspelled nested field": lambda p: p["pools"][0].update(replicas={"mn": 1}),
    "wrong enum value": lambda p: p["pools"][0].update({"class": "interactive"}),
    "wrong discriminator": lambda p: p["cluster"].update(kind="gke"),
    "field of another kind": lambda p: p["cluster"].update(region="us-east-1"),
    "missing required field": lambda p: p["models"][0].pop("revision"),
    "missing section": lambda p: p.pop("cluster"),
    "union without its tag": lambda p: p.update(registryMirror={"digests": {}}),
    "number out of range": lambda p: p["pools"][0].update(gpuMemoryUtilization=0.99),
}


@pytest.mark.parametrize("change", REJECTED.values(), ids=REJECTED.keys())
def test_schema_rejects_what_load_platform_rejects(
    validator: jsonschema.Draft202012Validator, change: Callable[[dict[str, Any]], Any]
) -> None:
    platform = _mutated(change)
    with pytest.raises(SpecError):
        load_platform(copy.deepcopy(platform), "test")
    assert _errors(validator, platform)


# --- the Markdown ---------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (list, tuple) or any(_is_list(a) for a in typing.get_args(annotation) if origin is typing.Union)


def _field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every config path, walked from the pydantic models (not from the schema the tool uses)."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        yield path
        nested_prefix = f"{path}[]." if _is_list(info.annotation) else f"{path}."
        for nested in dict.fromkeys(_models_in(info.annotation)):
            yield from _field_paths(nested, nested_prefix)


def test_markdown_lists_every_field_path(markdown: str) -> None:
    paths = set(_field_paths(PlatformSpec))
    assert {"pools[].maxModelLen", "registryMirror.prefixes", "models[].architecture.numLayers"} <= paths
    missing = sorted(path for path in paths if f"| `{path}` |" not in markdown)
    assert missing == []


def _row(markdown: str, path: str) -> str:
    rows = [line for line in markdown.splitlines() if line.startswith(f"| `{path}` |")]
    assert rows, f"no row for {path}"
    return rows[0]


@pytest.mark.parametrize("field", ["maxModelLen", "timeoutSeconds"])
def test_markdown_shows_each_class_default(markdown: str, field: str) -> None:
    row = _row(markdown, f"pools[].{field}")
    for workload_class, defaults in CLASS_DEFAULTS.items():
        assert f"{workload_class}: `{defaults[field]}`" in row


def test_markdown_shows_nested_class_defaults(markdown: str) -> None:
    row = _row(markdown, "pools[].replicas.min")
    for workload_class, defaults in CLASS_DEFAULTS.items():
        assert f"{workload_class}: `{defaults['replicas']['min']}`" in row


def test_markdown_marks_required_fields_and_discriminator_values(markdown: str) -> None:
    assert "**required**" in _row(markdown, "models[].revision")
    assert "`ecr-pull-through`" in _row(markdown, "registryMirror")
    assert re.search(r"^### `registryMirror.kind: external`$", markdown, re.MULTILINE)
