"""What a container's command line runs: its own command, and each statement of a shell
script it hands to `sh -c`, read the way the shell reads it (quotes, `#` comments,
`;`/`&&`/`||`/newline separators), so a program is recognised where it is started rather than
wherever its name appears in a string. Pure, standard library only.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence

# Commands that fetch weights from a hub (huggingface_hub's CLI and Python API) or an object
# store; a pod running one is a downloader whose egress reaches a model mirror.
HUB_DOWNLOAD = re.compile(r"(huggingface-cli|\bhf)\s+download\b|snapshot_download|hf_hub_download")
# Words a shell script puts before the program it runs.
_LAUNCHERS = {"exec", "env", "nohup", "time", "command", "stdbuf", "taskset", "numactl", "chrt", "nice",
              "if", "then", "else", "elif", "do", "while", "until", "!", "{", "("}  # fmt: skip
_SHELLS = {"sh", "bash", "dash", "ash", "zsh"}
_STATEMENT_SEPARATORS = {";", "&&", "||", "|", "&"}


# --- what a command runs -----------------------------------------------------------------


def _program(word: str) -> str:
    return word.rpartition("/")[2]


def commands(argv: Sequence[str]) -> Iterator[list[str]]:
    """The commands a command line runs: itself, and each statement of a shell script it hands
    to `sh -c` (or `bash -lc`, ...)."""
    argv = list(argv)
    if not argv:
        return
    program = _program(argv[0])
    if program in _SHELLS:
        script_at = next((i for i, word in enumerate(argv[1:], 1) if word.startswith("-") and "c" in word), None)
        if script_at is not None and script_at + 1 < len(argv):
            yield from _script_commands(argv[script_at + 1])
            return
    yield argv


def _script_commands(script: str) -> Iterator[list[str]]:
    for line in script.splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words = list(lexer)
        except ValueError:
            words = line.partition("#")[0].split()
        current: list[str] = []
        for word in [*words, ";"]:
            if word in _STATEMENT_SEPARATORS:
                if current:
                    yield from commands(current)
                current = []
            else:
                current.append(word)


def _strip_launchers(command: list[str]) -> list[str]:
    while command and (_program(command[0]) in _LAUNCHERS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0])):
        command = command[1:]
    return command


def runs_vllm(argv: Sequence[str]) -> bool:
    """Whether a command line starts vLLM: `vllm ...`, `/usr/bin/vllm`, `python -m vllm...`,
    `python -m vllm.entrypoints.openai.api_server`, directly or through a shell script."""
    for command in map(_strip_launchers, commands(argv)):
        if not command:
            continue
        program = _program(command[0])
        if program == "vllm":
            return True
        if program.startswith("python") and "-m" in command:
            module = command[command.index("-m") + 1] if command.index("-m") + 1 < len(command) else ""
            if module == "vllm" or module.startswith("vllm."):
                return True
    return False


def hub_downloads(argv: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """(the command as text, the revision it pins or None) for every hub download a command
    line runs: `hf download` / `huggingface-cli download` with the value of its `--revision`,
    and Python's `snapshot_download(...)` / `hf_hub_download(...)` with its `revision=` keyword
    (comments stripped, so a commit in a comment pins nothing)."""
    for command in map(_strip_launchers, commands(argv)):
        if not command:
            continue
        program = _program(command[0])
        if program in ("hf", "huggingface-cli") and command[1:2] == ["download"]:
            yield " ".join(command), _last_value(command, "--revision")
        elif program.startswith("python"):
            code = " ".join(_uncommented(word) for word in command)
            for call in _PYTHON_DOWNLOAD.finditer(code):
                revision = _PYTHON_REVISION.search(call.group(0))
                yield call.group(0), revision.group(1) if revision else None


_PYTHON_DOWNLOAD = re.compile(r"(snapshot_download|hf_hub_download)\s*\([^)]*\)")
_PYTHON_REVISION = re.compile(r"\brevision\s*=\s*['\"]([^'\"]*)['\"]")


def _uncommented(code: str) -> str:
    return "\n".join(line.partition("#")[0] for line in code.splitlines())


def _last_value(argv: Sequence[str], name: str) -> str | None:
    value = None
    for index, word in enumerate(argv):
        flag, has_inline, inline = word.partition("=")
        if flag == name:
            value = inline if has_inline else (argv[index + 1] if index + 1 < len(argv) else "")
    return value
