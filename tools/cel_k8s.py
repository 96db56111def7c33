"""The Kubernetes CEL extension functions our pinned CRDs call, for cel-python (`celpy`).

The API server's CEL environment adds libraries to standard CEL
(kubernetes/apiserver `pkg/cel/library`, cel-go `ext/strings.go`): the rules in
../shared/schemas use `find` (regex library), `split`, `lowerAscii`, `upperAscii` (strings
extension). The few other strings, regex and lists functions below are as cheap to get
right, so a CRD upgrade that starts using them is still checked; a rule that calls a
function missing here is reported as not evaluated by `tools.cel`, never passed.

Every function is called as a method (`self.name.lowerAscii()`): celpy hands the receiver
over as the first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2, the RE2 celpy matches() uses
from celpy import celtypes
from celpy.evaluation import CELEvalError


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}() takes a string receiver, not {type(value).__name__}")
    return value


def find(text: Any, pattern: Any) -> Any:
    """The first match of `pattern`, or '' (library/regex.go `find`)."""
    try:
        match = re2.search(_string(pattern, "find"), _string(text, "find"))
    except re2.error as error:
        return CELEvalError("find: invalid regex", type(error), error.args)
    return celtypes.StringType(match.group(0) if match else "")


def find_all(text: Any, pattern: Any, limit: Any = -1) -> Any:
    """Every match, at most `limit` when it is not negative (library/regex.go `findAll`)."""
    matches = [celtypes.StringType(m.group(0)) for m in re2.finditer(_string(pattern, "findAll"), text)]
    return celtypes.ListType(matches if int(limit) < 0 else matches[: int(limit)])


def split(text: Any, separator: Any, limit: Any = -1) -> Any:
    """cel-go ext/strings.go `split`: limit 0 gives [], a negative limit every part."""
    count = int(limit)
    if count == 0:
        return celtypes.ListType([])
    parts = _string(text, "split").split(separator, count - 1) if count > 0 else text.split(separator)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def lower_ascii(text: Any) -> Any:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _string(text, "lowerAscii")))


def upper_ascii(text: Any) -> Any:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _string(text, "upperAscii")))


def index_of(container: Any, item: Any, start: Any = 0) -> Any:
    """String (ext/strings.go) or list (library/lists.go) `indexOf`; -1 when absent."""
    if isinstance(container, str):
        return celtypes.IntType(container.find(item, int(start)))
    items = list(container)
    return celtypes.IntType(items.index(item) if item in items else -1)


def last_index_of(container: Any, item: Any) -> Any:
    if isinstance(container, str):
        return celtypes.IntType(container.rfind(item))
    items = list(container)
    return celtypes.IntType(len(items) - 1 - items[::-1].index(item) if item in items else -1)


def substring(text: Any, start: Any, end: Any | None = None) -> Any:
    return celtypes.StringType(_string(text, "substring")[int(start) : None if end is None else int(end)])


def trim(text: Any) -> Any:
    return celtypes.StringType(_string(text, "trim").strip())


def replace(text: Any, old: Any, new: Any, limit: Any = -1) -> Any:
    return celtypes.StringType(_string(text, "replace").replace(old, new, int(limit)))


def join(items: Any, separator: Any = "") -> Any:
    return celtypes.StringType(str(separator).join(str(item) for item in items))


def is_sorted(items: Any) -> Any:
    values = list(items)
    return celtypes.BoolType(all(a <= b for a, b in zip(values, values[1:], strict=False)))


def list_sum(items: Any) -> Any:
    values = list(items)
    return sum(values[1:], values[0]) if values else celtypes.IntType(0)


def list_min(items: Any) -> Any:
    values = list(items)
    return min(values) if values else CELEvalError("min called on an empty list")


def list_max(items: Any) -> Any:
    values = list(items)
    return max(values) if values else CELEvalError("max called on an empty list")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "find": find,
    "findAll": find_all,
    "split": split,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "substring": substring,
    "trim": trim,
    "replace": replace,
    "join": join,
    "isSorted": is_sorted,
    "sum": list_sum,
    "min": list_min,
    "max": list_max,
}

# CEL reserved words: a property so named is `__<word>__` in a rule (apiserver
# pkg/cel/escaping.go), e.g. Gateway API's `p1.__namespace__`.
RESERVED = frozenset(
    "true false null in as break const continue else for function if import let loop package namespace return var void while".split()
)
_ESCAPES = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


def escape(name: str) -> str:
    """A property name as a CEL rule spells it (apiserver pkg/cel/escaping.go `Escape`)."""
    if name in RESERVED:
        return f"__{name}__"
    for plain, escaped in _ESCAPES:
        name = name.replace(plain, escaped)
    return name
