"""Reading flags out of a container's command line the way vLLM's parser does.

vLLM (argparse) accepts `--flag value` and `--flag=value`, treats `_` in a flag name as
`-`, and turns a boolean `--flag` off again with `--no-flag`; a flag given twice keeps
the last value. The policy judges the final argument list, so `extraArgs` cannot slip a
flag past it in any of these spellings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_FALSE_WORDS = {"false", "0", "no", "off"}
_HUMAN_INT = re.compile(r"^(\d+(?:\.\d+)?)([kKmMgG]?)$")
# vLLM's human-readable integers: lower case is decimal, upper case binary (`32k` = 32000, `32K` = 32768).
_MULTIPLIERS = {"": 1, "k": 10**3, "K": 2**10, "m": 10**6, "M": 2**20, "g": 10**9, "G": 2**30}


def _flag_name(word: str) -> str:
    return word.split("=", 1)[0].replace("_", "-") if word.startswith("-") else ""


def last_value(argv: Sequence[str], *names: str) -> str | None:
    """The value of the last occurrence of any of `names` (`--x v` or `--x=v`), or None."""
    value = None
    for index, word in enumerate(argv):
        if _flag_name(word) not in names:
            continue
        if "=" in word:
            value = word.split("=", 1)[1]
        elif index + 1 < len(argv):
            value = argv[index + 1]
    return value


def is_enabled(argv: Sequence[str], name: str) -> bool:
    """Whether a boolean flag ends up on: `--x`, `--x=true`; `--no-x` and `--x=false` turn it off."""
    enabled = False
    negated = "--no-" + name.removeprefix("--")
    for word in argv:
        flag = _flag_name(word)
        if flag == name:
            enabled = "=" not in word or word.split("=", 1)[1].lower() not in _FALSE_WORDS
        elif flag == negated:
            enabled = False
    return enabled


def token_count(text: str | None) -> int | None:
    """A vLLM token count (`8192`, `32k`, `32K`), or None when it is not a fixed number."""
    match = _HUMAN_INT.match((text or "").strip())
    if not match:
        return None
    return int(float(match.group(1)) * _MULTIPLIERS[match.group(2)])


def integer(text: str | None, default: int) -> int:
    try:
        return int(float(text)) if text is not None else default
    except ValueError:
        return default
