"""Error formatting in one place: `SpecError`, and how pydantic's validation errors become
`<source>: private-llm-serving:platform.<path>: <message>` lines a stack's author can act on."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from components.pool_defaults import CLASS_DEFAULTS
from components.redact import redacted
from components.spec.base import CONFIG_KEY, Problem
from components.spec.platform import PlatformSpec


class SpecError(Exception):
    """An invalid stack config: one problem per line, each with its file and config path."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        # Redacted: a message may quote a value, and a value may be a secret pasted in the wrong place.
        return [redacted(f"{self.source}: {CONFIG_KEY}{_dot(path)}: {message}") for path, message in self.problems]


def _dot(path: str) -> str:
    return "" if not path else path if path.startswith("[") else f".{path}"


def validation_problems(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems: config keys instead of Python names, echoes dropped.
    pydantic's messages name the constraint, not the input, except a discriminator's, which
    is reworded; SpecError also redacts token-like strings from every line."""
    return [_describe(e) for e in _root_causes(error.errors())]


def _root_causes(errors: list[Any]) -> list[Any]:
    """Drop errors that only echo another: a list's length when its items failed, and
    the fields a pool's class would have defaulted when the class itself is wrong."""
    failed_items = {tuple(e["loc"][:1]) for e in errors if len(e["loc"]) > 1}
    classless = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("class",)}
    defaulted = set(CLASS_DEFAULTS["chat"])
    return [
        e for e in errors
        if not (e["type"] == "too_short" and tuple(e["loc"]) in failed_items)
        and not (e["type"] == "missing" and tuple(e["loc"][:-1]) in classless and e["loc"][-1] in defaulted)
    ]  # fmt: skip


# Tags pydantic puts in an error location for union branches; they are not config keys.
_UNION_TAGS = {"eks", "kubeconfig", "key", "inline", "none", "ecr-pull-through", "external", "hub", "hub-mirror", "s3"}
# Where pydantic names a dict key that failed validation (the key itself, not its value).
_KEY_MARK = "[key]"


def _describe(error: Mapping[str, Any]) -> Problem:
    loc = [part for part in error["loc"] if part not in _UNION_TAGS and part != _KEY_MARK]
    message = _PLAIN_MESSAGES.get(error["type"], str(error["msg"]).removeprefix("Value error, "))
    if error["type"] == "extra_forbidden":
        message = _unknown_field_message(list(error["loc"]))
    elif error["type"] == "union_tag_invalid":
        # pydantic's message quotes the value given; a message never does (it may be a secret).
        context = error.get("ctx") or {}
        message = f"{context.get('discriminator', 'kind')} must be one of {context.get('expected_tags', '')}"
    elif error["type"] in _LENGTH_BOUNDS and isinstance(error.get("input"), str):
        # pydantic counts "items" when the length applies to a validated string (Text's
        # AfterValidator wraps the str schema); worded as its own string_too_long/short.
        bound, word = _LENGTH_BOUNDS[error["type"]]
        count = (error.get("ctx") or {}).get(bound)
        message = f"String should have {word} {count} character{'' if count == 1 else 's'}"
    return _format_path(loc), message


_LENGTH_BOUNDS = {"too_short": ("min_length", "at least"), "too_long": ("max_length", "at most")}


# pydantic's wording for these names our Python classes; a stack file has mappings and lists.
_PLAIN_MESSAGES = {
    "missing": "required field is missing",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}


def _unknown_field_message(loc: list[Any]) -> str:
    """`loc` as pydantic gives it: union tags pick the variant whose keys are allowed."""
    allowed = _allowed_keys(PlatformSpec, loc[:-1])
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown field{suggestion}; allowed: {', '.join(sorted(allowed))}"


def _allowed_keys(model: type[BaseModel], loc: list[Any]) -> list[str]:
    """The config keys accepted at `loc`, found by walking the model classes."""
    annotation: Any = None
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _UNION_TAGS:
            model = _variant(annotation, part) or model
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        nested = _model_in(field.annotation) if field is not None else None
        if field is None or nested is None:
            return []
        model, annotation = nested, field.annotation
    return [f.alias or n for n, f in model.model_fields.items()]


def _variant(annotation: Any, tag: str) -> type[BaseModel] | None:
    """The member of a union discriminated by `kind` whose kind is `tag`."""
    for arg in getattr(annotation, "__args__", ()):
        kind = arg.model_fields.get("kind") if isinstance(arg, type) and issubclass(arg, BaseModel) else None
        if kind is not None and tag in getattr(kind.annotation, "__args__", ()):
            return arg
        found = _variant(arg, tag)
        if found is not None:
            return found
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _format_path(loc: list[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
