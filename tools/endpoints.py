"""Where a deployed pool answers, and with which API keys: shared by `smoke` and `loadtest`.

A pool's base URL comes from the stack's outputs (`pools.<pool>.url`, read with
`pulumi stack output --json` where the Pulumi CLI is installed), from `--resolve
HOST:PORT:ADDR` (curl's syntax: the pool's own hostname, sent to another address, e.g. a
port-forward or a load balancer DNS does not know yet; TLS still checks the certificate for
HOST), or from an explicit `--base-url`. `--ca-file` names the internal CA that signed the
gateway's certificate.

API keys: for client `<client>`, the environment variable `LLMSERVING_API_KEY_<CLIENT>`
(upper case, every other character than A-Z and 0-9 as `_`), else the stack's secret config
through the Pulumi CLI (`pulumi config get --path apiKeys.<client>`). The clients are the
pool's allowlist (`clients`), else those the stack file's `apiKeys` names, else those the
environment names. Keys are never printed: every line these tools print goes through
`Redactor`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from components.secret_config import API_KEYS_KEY
from components.spec import PoolSpec
from tools.stackfile import REPO_ROOT, InputError, StackInput

KEY_VARIABLE_PREFIX = "LLMSERVING_API_KEY_"
PULUMI_TIMEOUT_SECONDS = 60
REDACTED = "[redacted]"


def key_variable(client: str) -> str:
    """The environment variable that holds `client`'s API key."""
    return KEY_VARIABLE_PREFIX + re.sub(r"[^A-Z0-9]", "_", client.upper())


# --- targets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolve:
    """One `--resolve HOST:PORT:ADDR`."""

    host: str
    port: int
    address: str

    @classmethod
    def parse(cls, text: str) -> Resolve:
        host, _, rest = text.partition(":")
        port, _, address = rest.partition(":")
        if not host or not port.isdigit() or not address:
            raise InputError(f"--resolve {text}: expected HOST:PORT:ADDR, e.g. chat.llm.example.internal:443:127.0.0.1")
        return cls(host.lower(), int(port), address.strip("[]"))


@dataclass(frozen=True)
class Target:
    pool: PoolSpec
    served_model: str
    base_url: str  # scheme://host[:port], no path
    explicit: bool  # given with --base-url


def pool_targets(
    stack: StackInput, pool_names: Sequence[str] | None, base_url: str | None, resolves: Sequence[Resolve]
) -> list[Target]:
    """The pools to test and where each answers; InputError naming what to give otherwise."""
    pools = _selected_pools(stack, pool_names)
    if base_url is not None and len(pools) > 1:
        raise InputError("--base-url names one endpoint: give --pool too")
    outputs = None if base_url is not None else _stack_outputs(stack.stack, pools, resolves)
    targets = []
    for pool in pools:
        url = base_url if base_url is not None else _own_url(stack, pool, outputs, resolves)
        targets.append(Target(pool, stack.spec.model(pool.model).name, _root(url), base_url is not None))
    return targets


def _selected_pools(stack: StackInput, names: Sequence[str] | None) -> list[PoolSpec]:
    known = {pool.name: pool for pool in stack.spec.pools}
    unknown = [name for name in names or () if name not in known]
    if unknown:
        raise InputError(f"{stack.source}: no pool {', '.join(unknown)}; pools: {', '.join(known)}")
    return [known[name] for name in names] if names else list(known.values())


def _stack_outputs(stack: str, pools: list[PoolSpec], resolves: Sequence[Resolve]) -> Mapping[str, Any] | None:
    if all(any(r.host == pool.hostname for r in resolves) for pool in pools):
        return None  # every pool's own hostname is resolved by hand: the outputs add nothing
    if shutil.which("pulumi") is None:
        raise InputError(
            "the Pulumi CLI is not installed, so the stack's outputs cannot be read: give --base-url "
            "(with --pool), or --resolve <pool hostname>:443:<address>"
        )
    text = _pulumi(["stack", "output", "--json", "--stack", stack], what="the stack's outputs")
    try:
        outputs = json.loads(text)
    except ValueError:
        raise InputError(f"pulumi stack output --json --stack {stack}: not JSON") from None
    return outputs if isinstance(outputs, dict) else {}


def _own_url(stack: StackInput, pool: PoolSpec, outputs: Mapping[str, Any] | None, resolves: Sequence[Resolve]) -> str:
    resolved = next((r for r in resolves if r.host == pool.hostname), None)
    if resolved is not None:
        return f"https://{pool.hostname}" + ("" if resolved.port == 443 else f":{resolved.port}")
    url = ((outputs or {}).get("pools") or {}).get(pool.name, {}).get("url")
    if not isinstance(url, str):
        raise InputError(f"stack {stack.stack}: its outputs have no pools.{pool.name}.url; is it deployed?")
    host = urlsplit(url).hostname or ""
    if host != pool.hostname and not is_loopback(host):
        # A target is the stack's own endpoint or loopback; anything else only by --base-url.
        raise InputError(
            f"stack {stack.stack}: pools.{pool.name}.url points at {host}, not the pool's hostname "
            f"{pool.hostname} ({stack.source}); give --base-url to test another endpoint on purpose"
        )
    return url


def _root(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"'{url}' is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- keys ---------------------------------------------------------------------------------


@dataclass
class Keys:
    """Client name -> key, and the clients that have none (with where one was looked for)."""

    found: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def first(self) -> str | None:
        return next(iter(self.found.values()), None)


def api_keys(stack: StackInput, pool: PoolSpec, environ: Mapping[str, str] | None = None) -> Keys:
    environ = os.environ if environ is None else environ
    keys = Keys()
    pulumi = shutil.which("pulumi") is not None
    for client in clients(stack, pool, environ):
        variable = key_variable(client)
        if environ.get(variable):
            keys.found[client] = environ[variable]
            continue
        key = _pulumi_key(stack.stack, client) if pulumi else None
        if key:
            keys.found[client] = key
        else:
            keys.missing[client] = (
                f"no key in {variable} nor in the stack's secret config (apiKeys.{client})"
                if pulumi
                else f"no key: set {variable} (no Pulumi CLI here to read the stack's secret config)"
            )
    return keys


def clients(stack: StackInput, pool: PoolSpec, environ: Mapping[str, str]) -> list[str]:
    if pool.clients:
        return list(pool.clients)
    configured = stack.config.get(API_KEYS_KEY)
    if isinstance(configured, dict) and configured:
        return sorted(str(client) for client in configured)
    named = [name[len(KEY_VARIABLE_PREFIX) :] for name in environ if name.startswith(KEY_VARIABLE_PREFIX)]
    return sorted(name.lower().replace("_", "-") for name in named)


def _pulumi_key(stack: str, client: str) -> str | None:
    try:
        text = _pulumi(["config", "get", "--path", f"apiKeys.{client}", "--stack", stack], what=f"{client}'s key")
    except InputError:
        return None
    return text.strip() or None


def _pulumi(arguments: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            ["pulumi", *arguments, "--non-interactive"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InputError(f"pulumi {' '.join(arguments)}: could not read {what}: {error}") from None
    if done.returncode != 0:
        # Only the first line of stderr, which names the problem (no value: config get failed).
        reason = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise InputError(f"pulumi {' '.join(arguments)}: could not read {what}: {reason}")
    return done.stdout


class Redactor:
    """Replaces every key it knows in a text; what these tools print goes through it."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({*self._secrets, *(secret for secret in secrets if secret)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


# --- the HTTP client ----------------------------------------------------------------------


class _ResolvingTransport(httpx.AsyncBaseTransport):
    """Sends requests for HOST:PORT to ADDR, keeping the Host header and TLS's server name
    (SNI and the certificate check) on HOST, as curl's --resolve does."""

    def __init__(self, inner: httpx.AsyncBaseTransport, resolves: Sequence[Resolve]):
        self._inner = inner
        self._map = {(r.host, r.port): r.address for r in resolves}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host, port = request.url.host, request.url.port or (443 if request.url.scheme == "https" else 80)
        address = self._map.get((host, port))
        if address is not None:
            request.url = request.url.copy_with(host=address)
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(
    ca_file: Path | None, resolves: Sequence[Resolve], timeout: float, max_connections: int = 100
) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        if not Path(ca_file).is_file():
            raise InputError(f"--ca-file {ca_file}: no such file")
        verify = ssl.create_default_context(cafile=str(ca_file))
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    if resolves:
        transport = _ResolvingTransport(transport, resolves)
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout, connect=10.0))


def add_target_arguments(verb: Any) -> None:
    """The options both `smoke` and `loadtest` take to find a pool and its keys."""
    verb.add_argument("stack", help="stack name (stacks/Pulumi.<stack>.yaml)")
    verb.add_argument("--config-file", help="any file in the stack file format")
    verb.add_argument("--base-url", help="test this endpoint (scheme://host[:port]) instead of the stack's own")
    verb.add_argument(
        "--resolve", action="append", default=[], type=Resolve.parse, metavar="HOST:PORT:ADDR",
        help="send requests for HOST:PORT to ADDR (a port-forward, or a host DNS does not know yet), as curl does",
    )  # fmt: skip
    verb.add_argument("--ca-file", type=Path, help="CA bundle that signed the gateway's certificate (internal CA)")
