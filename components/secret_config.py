"""The secret config's contract, pure Python: the config keys secrets are read from, the
commands that set them, the shape an API key must have, and the names of the Secrets they
become. `components/secrets.py` reads the values under Pulumi; `tools/offline_secrets.py`
checks a stack file's secret config without Pulumi (so `tools check --from` loads neither the
program nor a provider SDK). Messages name the client or the config key, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from components.spec import CLIENT_NAME_PATTERN, CONFIG_KEY, GatewaySpec, PoolSpec

API_KEYS = "apiKeys"
API_KEYS_KEY = f"{CONFIG_KEY.split(':')[0]}:{API_KEYS}"
SET_KEY_COMMAND = f"pulumi config set --secret --path '{API_KEYS}.<client>' <key>"
MIN_KEY_LENGTH = 16
# What an OpenAI SDK can send after "Bearer " and vLLM's argument parser reads as a value.
KEY_PATTERN = r"^[A-Za-z0-9._~+/=][A-Za-z0-9._~+/=-]*$"

HUB_TOKEN = "hfToken"
HUB_TOKEN_CONFIG_KEY = f"{CONFIG_KEY.split(':')[0]}:{HUB_TOKEN}"
SET_HUB_TOKEN_COMMAND = f"pulumi config set --secret {HUB_TOKEN} <token>"


def api_key_problems(raw: Any) -> list[tuple[str, str]]:
    """What is wrong with an `apiKeys` value, one (config path, message) per problem."""
    if raw is None:
        return [(API_KEYS_KEY, f"not set; set one key per client: {SET_KEY_COMMAND}")]
    if not isinstance(raw, dict) or not raw:
        return [(API_KEYS_KEY, f"must be a map of client name to API key, set with: {SET_KEY_COMMAND}")]
    problems = []
    holders: dict[str, str] = {}
    for client, key in sorted(raw.items(), key=lambda item: str(item[0])):
        path = f"{API_KEYS_KEY}.{client}"
        if not re.match(CLIENT_NAME_PATTERN, str(client)) or len(str(client)) > 63:
            problems.append((path, f"client names are lower-case DNS-style words ({CLIENT_NAME_PATTERN})"))
        elif not isinstance(key, str) or len(key) < MIN_KEY_LENGTH or not re.match(KEY_PATTERN, key):
            problems.append((path, f"the key must be at least {MIN_KEY_LENGTH} characters of A-Z a-z 0-9 . _ ~ + / = - "
                                   f"(not starting with -); set it again with: {SET_KEY_COMMAND}"))  # fmt: skip
        elif weak_key(key):
            problems.append((path, f"the key is weak (under {MIN_DISTINCT_CHARACTERS} distinct characters, or a common "
                                   f"word); generate one, e.g. openssl rand -base64 32, and set it with: {SET_KEY_COMMAND}"))  # fmt: skip
        elif key in holders:
            # The gateway tells clients apart by their key: a shared one makes two clients one,
            # for rate limits, allowlists and the audit trail alike.
            problems.append((path, f"the same key as client '{holders[key]}'; give each client its own key"))
        else:
            holders[key] = str(client)
    return problems


MIN_DISTINCT_CHARACTERS = 10
_COMMON_WORDS = re.compile(r"(?i)password|passwd|changeme|letmein|secret|example|qwerty|apikey")


def weak_key(key: str) -> bool:
    """A key an attacker would try first: few distinct characters, or a common word in it."""
    return len(set(key)) < MIN_DISTINCT_CHARACTERS or bool(_COMMON_WORDS.search(key))


def allowlist_problems(pools: Sequence[PoolSpec], raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"{CONFIG_KEY}.pools[{index}].clients[{position}]", f"'{client}' has no key in {API_KEYS_KEY}")
        for index, pool in enumerate(pools)
        for position, client in enumerate(pool.clients or ())
        if client not in raw
    ]


def gateway_api_keys_name(gateway: GatewaySpec) -> str:
    return f"{gateway.name}-api-keys"


def vllm_api_keys_name(pool: PoolSpec) -> str:
    return f"{pool.name}-vllm-api-keys"
