"""Secret config for an offline run: placeholders where a stack file has no usable secret.

A stack file holds secrets only as `secure:` ciphertext that the Pulumi CLI decrypts (and
the shipped stacks hold none, since a key belongs to whoever deploys). Offline there is
nothing to decrypt, so every `{secure: ...}` leaf becomes `PLACEHOLDER`, and a missing
`apiKeys` becomes one placeholder key per client the pools' allowlists name (or one
`OFFLINE_CLIENT`); a missing `hfToken` (the hub token of the model downloads) becomes
`PLACEHOLDER` too. The program marks every key secret, so the render shows `[secret]`
wherever a key goes; the placeholder exists only so the program can run.
"""

from __future__ import annotations

from typing import Any

from components.secret_config import API_KEYS_KEY, HUB_TOKEN_CONFIG_KEY, allowlist_problems, api_key_problems
from components.spec import CONFIG_KEY, PlatformSpec

PLACEHOLDER = "offline-render-placeholder"
OFFLINE_CLIENT = "offline-client"
SECURE = "secure"


def with_offline_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`config` ready for the mock runtime, and the keys that hold secrets."""
    resolved = {key: _resolve(value) for key, value in config.items()}
    if API_KEYS_KEY not in resolved:
        resolved[API_KEYS_KEY] = {client: PLACEHOLDER for client in _allowlisted_clients(config)}
    resolved.setdefault(HUB_TOKEN_CONFIG_KEY, PLACEHOLDER)
    secure = [key for key, value in config.items() if _has_secure_leaf(value)]
    secret_keys = [*secure, API_KEYS_KEY, HUB_TOKEN_CONFIG_KEY]
    return resolved, sorted(set(secret_keys))


def secret_config_problems(config: dict[str, Any], spec: PlatformSpec) -> list[tuple[str, str]]:
    """What the program would reject in the secret config, checked before it runs."""
    keys = with_offline_secrets(config)[0][API_KEYS_KEY]
    return api_key_problems(keys) or allowlist_problems(spec.pools, keys)


def _resolve(value: Any) -> Any:
    if _is_secure(value):
        return PLACEHOLDER
    if isinstance(value, dict):
        return {key: _resolve(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


def _has_secure_leaf(value: Any) -> bool:
    if _is_secure(value):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_has_secure_leaf(item) for item in items)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SECURE}


def _allowlisted_clients(config: dict[str, Any]) -> list[str]:
    pools = (config.get(CONFIG_KEY) or {}).get("pools") if isinstance(config.get(CONFIG_KEY), dict) else None
    named = {
        client
        for pool in (pools if isinstance(pools, list) else [])
        if isinstance(pool, dict) and isinstance(pool.get("clients"), list)
        for client in pool["clients"]
        if isinstance(client, str)
    }
    return sorted(named) or [OFFLINE_CLIENT]
