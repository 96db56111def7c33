"""YAML from files a pull request may have written: bounded, and strict about keys.

PyYAML's `safe_load` builds no objects but still trusts the document's shape: aliases make
a "billion laughs" document of a few hundred bytes expand into billions of nodes for whoever
walks the result (pydantic, `json.dumps`), nesting a few hundred levels deep ends in a
RecursionError, and a key given twice silently keeps the last value (`vllmApiKey: true`,
then `false`). Under `pulumi up` the Pulumi CLI reads the stack file itself; the offline tool
(`check`, which CI runs on every pull request) reads it here, and every document is
refused, with its line, before it is used, when it:

- is larger than `MAX_BYTES` (a render: `MAX_RENDER_BYTES`), which bounds the parsing time,
- nests deeper than `MAX_DEPTH`, counting what its aliases expand to,
- holds more than `MAX_NODES` nodes once its aliases are expanded (a render:
  `MAX_RENDER_NODES`), or an alias refers to a node that contains it,
- repeats a key in one mapping (the `<<` merge key may still be overridden, as YAML says).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 256 * 2**10  # a stack file is a few kB; 100 pools are about 40 kB
MAX_RENDER_BYTES = 64 * 2**20  # a render of a large stack is a few MB
MAX_DEPTH = 48
MAX_NODES = 200_000  # a stack file has a few hundred
MAX_RENDER_NODES = 5_000_000  # a render of 100 pools has a few hundred thousand
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlRefused(ValueError):
    """A document this module will not load; the message says why, with the line."""


# libyaml's parser (PyYAML's C binding) where installed: PyYAML's pure-Python scanner takes
# seconds on a long flow sequence. Composing is then one C call, so depth and size are
# judged on the composed graph (`_check_expansion`), with flow nesting found beforehand
# (`_flow_depth_problem`); constructing stays PyYAML's Python, where keys are checked.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BoundedLoader(_Loader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise YamlRefused(f"{_line(key_node.start_mark)}a mapping key must be a plain value") from None
            if duplicate:
                raise YamlRefused(f"{_line(key_node.start_mark)}key '{_short(key)}' is given twice in one mapping")
        return super().construct_mapping(node, deep=deep)


def _line(mark: Any) -> str:
    return f"line {mark.line + 1}: " if mark is not None else ""


def _short(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_expansion(root: Node, max_nodes: int) -> None:
    """Refuse a node graph whose expansion (every alias copied out) is too deep or too large.
    Sizes are memoised per node, so the walk is linear in the document, not in its expansion."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlRefused(f"{_line(node.start_mark)}nests deeper than {MAX_DEPTH} levels (aliases expanded)")
        key = id(node)
        if key in sizes and depth + _heights[key] <= MAX_DEPTH:
            return sizes[key]
        if key in active:
            raise YamlRefused(f"{_line(node.start_mark)}an alias refers to a node that contains it")
        active.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [item for pair in node.value for item in pair]
        total, height = 1, 0
        for child in children:
            total += size(child, depth + 1)
            height = max(height, _heights[id(child)] + 1)
            if total > max_nodes:
                raise YamlRefused(f"{_line(node.start_mark)}holds more than {max_nodes} nodes (aliases expanded)")
        active.discard(key)
        sizes[key], _heights[key] = total, height
        return total

    _heights: dict[int, int] = {}
    size(root, 1)


_BRACKETS = re.compile(r"[\[\]{}]")


def _flow_depth_problem(text: str) -> str | None:
    """Flow collections (`[[[...`) nested deeper than MAX_DEPTH, found before PyYAML scans
    them: its scanner keeps every open bracket as a possible simple key and rechecks them all
    at each token, so a long run of them takes quadratic time before composing even starts.
    Brackets inside quoted strings count too; a stack file or render has no such run."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        if depth > MAX_DEPTH:
            return f"line {text.count(chr(10), 0, match.start()) + 1}: nests deeper than {MAX_DEPTH} levels"
    return None


def _load_documents(text: str, source: str, multi: bool, max_bytes: int, max_nodes: int) -> list[Any]:
    if len(text) > max_bytes:
        raise YamlRefused(f"{source}: larger than {max_bytes // 2**10} KiB; not a file this tool reads")
    too_deep = _flow_depth_problem(text)
    if too_deep:
        raise YamlRefused(f"{source}: {too_deep}")
    loader = _BoundedLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not isinstance(node, ScalarNode):
                _check_expansion(node, max_nodes)
            documents.append(loader.construct_document(node) if node is not None else None)
            if not multi and loader.check_node():
                raise YamlRefused(f"{source}: holds more than one YAML document")
        return documents
    except YamlRefused as error:
        message = str(error)
        raise YamlRefused(message if message.startswith(source) else f"{source}: {message}") from None
    except yaml.YAMLError as error:
        raise YamlRefused(f"{source}: not valid YAML: {error}") from None
    except (RecursionError, ValueError, OverflowError) as error:
        # ValueError: an integer of more digits than Python converts (sys.get_int_max_str_digits).
        raise YamlRefused(f"{source}: not valid YAML: {type(error).__name__}: {str(error)[:120]}") from None
    finally:
        loader.dispose()


def load(text: str, source: str) -> Any:
    """The one document of `text` (None when empty); YamlRefused names `source`."""
    documents = _load_documents(text, source, multi=False, max_bytes=MAX_BYTES, max_nodes=MAX_NODES)
    return documents[0] if documents else None


def load_all(text: str, source: str, max_bytes: int = MAX_RENDER_BYTES) -> list[Any]:
    """Every document of `text`, for multi-document files such as a render's manifests."""
    return _load_documents(text, source, multi=True, max_bytes=max_bytes, max_nodes=MAX_RENDER_NODES)
