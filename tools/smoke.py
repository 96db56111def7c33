"""`python -m tools smoke <stack>`: does each deployed pool keep its contract?

Per pool (or `--pool`), against its endpoint (`tools/endpoints.py`: the stack's outputs,
`--resolve`, or `--base-url`): `/v1/models` lists the served name; a request without a key
gets 401 and each configured client's key is accepted; a tiny streamed chat completion
answers (its time to first token is printed); a prompt over the context cap gets a 400 that
says so. One line per check (`PASS`/`FAIL <pool> <check>: ...`), exit 0 when every check
passes, 1 otherwise, 2 for bad arguments. No key is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tools import endpoints
from tools.endpoints import Keys, Redactor, Target
from tools.serving_client import MODELS_PATH, WORDS, describe, headers, stream_chat
from tools.stackfile import load_stack

CHAT_TOKENS = 8
# Words beyond the cap: each word is at least one token (tools/serving_client.py WORDS).
OVER_CAP_MARGIN = 64


@dataclass(frozen=True)
class Result:
    pool: str
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.pool} {self.check}: {self.detail}"


def add_parser(verbs: Any) -> None:
    verb = verbs.add_parser(
        "smoke",
        help="check each deployed pool: models, API keys, a chat completion, the context cap; exit 1 on a failure",
    )
    endpoints.add_target_arguments(verb)
    verb.add_argument("--pool", action="append", help="only this pool (repeatable); default every pool")
    verb.add_argument("--timeout", type=float, help="seconds per request (default the pool's request timeout)")
    verb.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    stack = load_stack(args.stack, args.config_file)
    targets = endpoints.pool_targets(stack, args.pool, args.base_url, args.resolve)
    redact = Redactor()
    failed = 0
    total = 0
    for target in targets:
        keys = endpoints.api_keys(stack, target.pool)
        redact.add(keys.found.values())
        timeout = args.timeout or float(target.pool.request_timeout_seconds)
        for result in asyncio.run(_checks(target, keys, args, timeout)):
            out(redact(result.line()))
            total += 1
            failed += not result.ok
    out(f"smoke {args.stack}: {len(targets)} pools, {total} checks, {failed} failed")
    return 1 if failed else 0


async def _checks(target: Target, keys: Keys, args: argparse.Namespace, timeout: float) -> list[Result]:
    name = target.pool.name
    results: list[Result] = []
    async with endpoints.client(args.ca_file, args.resolve, timeout) as http:
        key = keys.first()
        if key is None:
            results.append(Result(name, "keys", False, "no API key for any client: " + _missing(keys)))
        else:
            results.append(await _models(http, target, key))
        results.append(await _unauthenticated(http, target))
        for client, client_key in keys.found.items():
            results.append(await _key_accepted(http, target, client, client_key))
        results += [Result(name, f"key {client}", False, why) for client, why in keys.missing.items()]
        if key is not None:
            results.append(await _chat(http, target, key))
            results.append(await _over_cap(http, target, key))
    return results


def _missing(keys: Keys) -> str:
    return "; ".join(f"{client}: {why}" for client, why in keys.missing.items()) or (
        f"the pool allows no named client; set {endpoints.KEY_VARIABLE_PREFIX}<CLIENT>"
    )


async def _get(http: httpx.AsyncClient, url: str, key: str | None) -> tuple[int | None, Any, str]:
    """(status, JSON body or None, error text) of a GET."""
    try:
        reply = await http.get(url, headers=headers(key))
    except httpx.HTTPError as error:
        return None, None, describe(error)
    try:
        return reply.status_code, reply.json(), ""
    except ValueError:
        return reply.status_code, None, reply.text[:200]


async def _models(http: httpx.AsyncClient, target: Target, key: str) -> Result:
    status, body, error = await _get(http, target.base_url + MODELS_PATH, key)
    check = "models"
    if status != 200:
        return Result(target.pool.name, check, False, error or f"HTTP {status}")
    served = [str(model.get("id")) for model in (body or {}).get("data") or [] if isinstance(model, dict)]
    if target.served_model not in served:
        return Result(target.pool.name, check, False, f"{target.served_model} not listed (serves {served})")
    return Result(target.pool.name, check, True, f"serves {target.served_model}")


async def _unauthenticated(http: httpx.AsyncClient, target: Target) -> Result:
    status, _, error = await _get(http, target.base_url + MODELS_PATH, None)
    ok = status == 401
    detail = "401 without a key" if ok else (error or f"HTTP {status} without a key, expected 401")
    return Result(target.pool.name, "no key", ok, detail)


async def _key_accepted(http: httpx.AsyncClient, target: Target, client: str, key: str) -> Result:
    status, _, error = await _get(http, target.base_url + MODELS_PATH, key)
    ok = status == 200
    return Result(target.pool.name, f"key {client}", ok, "accepted" if ok else (error or f"HTTP {status}"))


async def _chat(http: httpx.AsyncClient, target: Target, key: str) -> Result:
    rng = random.Random(0)
    sample = await stream_chat(http, target.base_url, target.served_model, " ".join(rng.choices(WORDS, k=8)),
                               CHAT_TOKENS, key)  # fmt: skip
    if not sample.ok or sample.ttft is None:
        detail = " ".join(part for part in (sample.error, sample.body[:200]) if part)
        return Result(target.pool.name, "chat", False, detail)
    return Result(target.pool.name, "chat", True,
                  f"{sample.output_tokens} tokens, time to first token {sample.ttft:.3f} s, "
                  f"end to end {sample.e2e or 0:.3f} s")  # fmt: skip


async def _over_cap(http: httpx.AsyncClient, target: Target, key: str) -> Result:
    cap = target.pool.max_model_len
    words = " ".join(WORDS[index % len(WORDS)] for index in range(cap + OVER_CAP_MARGIN))
    body = {"model": target.served_model, "messages": [{"role": "user", "content": words}], "max_tokens": 1}
    check = "context cap"
    try:
        reply = await http.post(target.base_url + "/v1/chat/completions", json=body, headers=headers(key))
    except httpx.HTTPError as error:
        return Result(target.pool.name, check, False, describe(error))
    message = _error_message(reply)
    if reply.status_code != 400:
        return Result(target.pool.name, check, False, f"HTTP {reply.status_code} for a prompt over {cap} tokens, "
                                                      f"expected 400: {message[:200]}")  # fmt: skip
    if str(cap) not in message:
        return Result(target.pool.name, check, False, f"400, but the message does not name the cap {cap}: {message}")
    return Result(target.pool.name, check, True, f"400 over {cap} tokens: {message[:160]}")


def _error_message(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return json.dumps(body)[:300]
