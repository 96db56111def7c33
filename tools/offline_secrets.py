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

from components.secret_config import (
    API_KEYS_KEY,
    HUB_TOKEN_CONFIG_KEY,
    SET_HUB_TOKEN_COMMAND,
    SET_KEY_COMMAND,
    allowlist_problems,
    api_key_problems,
)
from components.spec import CONFIG_KEY, PlatformSpec

PLACEHOLDER = "offline-render-placeholder"
OFFLINE_CLIENT = "offline-client"
SECURE = "secure"


def with_offline_secrets(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`config` ready for the mock runtime, and the keys that hold secrets."""
    resolved = {key: _resolve(value) for key, value in config.items()}
    keys = config.get(API_KEYS_KEY)
    if isinstance(keys, dict):
        resolved[API_KEYS_KEY] = {client: _resolve(key, str(client)) for client, key in keys.items()}
    elif API_KEYS_KEY not in resolved:
        resolved[API_KEYS_KEY] = {client: placeholder_key(client) for client in _allowlisted_clients(config)}
    resolved.setdefault(HUB_TOKEN_CONFIG_KEY, PLACEHOLDER)
    secure = [key for key, value in config.items() if _has_secure_leaf(value)]
    secret_keys = [*secure, API_KEYS_KEY, HUB_TOKEN_CONFIG_KEY]
    return resolved, sorted(set(secret_keys))


def secret_config_problems(config: dict[str, Any], spec: PlatformSpec) -> list[tuple[str, str]]:
    """What the program would reject in the secret config, checked before it runs, and a
    secret written in plain text into the stack file (committed, so published)."""
    keys = with_offline_secrets(config)[0][API_KEYS_KEY]
    return api_key_problems(keys) or allowlist_problems(spec.pools, keys)


def plaintext_secrets(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Secret config written in plain text into the stack file: committed, so published.
    `check` reports each as a finding; `render` still renders (tests and local trials)."""
    return [
        (f"{key}{suffix}", f"is in plain text in the stack file; set it encrypted instead: {command}")
        for key, command in ((API_KEYS_KEY, SET_KEY_COMMAND), (HUB_TOKEN_CONFIG_KEY, SET_HUB_TOKEN_COMMAND))
        if key in config
        for suffix in _plain_leaves(config[key])
    ]


def _plain_leaves(value: Any, path: str = "") -> list[str]:
    """The paths below a secret config key whose values are not `secure:` ciphertext."""
    if _is_secure(value):
        return []
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _plain_leaves(item, f"{path}.{key}")]
    return [path]


def placeholder_key(client: str) -> str:
    """The stand-in for a client's encrypted key: one per client, since one key shared by
    two clients is refused (`api_key_problems`)."""
    return f"{PLACEHOLDER}-{client}"


def _resolve(value: Any, client: str | None = None) -> Any:
    if _is_secure(value):
        return PLACEHOLDER if client is None else placeholder_key(client)
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
