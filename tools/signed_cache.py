"""The offline tool's disk caches, kept where no pull request can supply an entry.

`check` caches what is slow to recompute: parsed CRD schemas (tools/schemas.py) and vLLM's
verdict on each argument list (tools/vllm_parser.py). Either decides what passes (a
permissive "parsed schema", an "accepted" verdict), so an entry must be one this machine
wrote for exactly that input:

- the caches live outside the checkout (`$LLMSERVING_CACHE_DIR`, else the user's cache
  folder, `$XDG_CACHE_HOME` or `~/.cache`, under `private-llm-serving/`), never under
  `build/`, where a forced `git add` would commit an entry;
- an entry's file name is the hash of everything that decides its value (the caller's
  `key`), and the entry carries an HMAC of key and value under a random secret made on
  first use and kept beside the entries with mode 0600; an entry that does not verify, or a
  secret that others can read or write, counts as a miss, and the value is recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

CACHE_ENV = "LLMSERVING_CACHE_DIR"
_MISSING = object()


def cache_dir(name: str) -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "private-llm-serving"
    )
    return Path(base) / name


def _secret(folder: Path) -> bytes | None:
    path = folder / ".key"
    try:
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as file:
                file.write(os.urandom(32))
        if path.stat().st_mode & 0o077:
            return None  # readable or writable by others: not a secret to trust
        return path.read_bytes()
    except OSError:
        return None


def _file(folder: Path, key: str) -> Path:
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def mac(secret: bytes, key: str, value_text: str) -> str:
    return hmac.new(secret, json.dumps([key, value_text]).encode(), hashlib.sha256).hexdigest()


def load(name: str, key: str) -> Any:
    """The value stored for `key`, or `MISSING` when there is none that verifies."""
    folder = cache_dir(name)
    secret = _secret(folder)
    if secret is None:
        return _MISSING
    try:
        stored = json.loads(_file(folder, key).read_text(encoding="utf-8"))
        value_text = stored["value"]
        if not isinstance(value_text, str) or not hmac.compare_digest(str(stored["mac"]), mac(secret, key, value_text)):
            return _MISSING
        return json.loads(value_text)
    except (OSError, ValueError, KeyError, TypeError):
        return _MISSING


def store(name: str, key: str, value: Any) -> None:
    """Best effort: an unwritable cache folder, or a value JSON cannot hold, means no cache."""
    folder = cache_dir(name)
    secret = _secret(folder)
    if secret is None:
        return
    try:
        value_text = json.dumps(value)
        path = _file(folder, key)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"value": value_text, "mac": mac(secret, key, value_text)}), encoding="utf-8")
        partial.replace(path)
    except (OSError, TypeError, ValueError):
        pass


MISSING = _MISSING
