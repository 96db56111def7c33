"""`Secrets`: every secret the platform puts on the cluster, and where its value comes from.

The only source is Pulumi secret config. `private-llm-serving:apiKeys` maps a client name
to its API key (`pulumi config set --secret --path 'apiKeys.<client>' <key>`), so one
client's key can be rotated or revoked alone. Client names are identifiers that policies
name (allowlists, rate-limit buckets); keys are secrets: each is wrapped in
`pulumi.Output.secret` the moment it is read, so it is encrypted in the state, shown as
`[secret]` in previews and in `python -m tools render`, and never exported or logged.
Messages about keys name the client, never the key.

From the keys this component makes:
- the gateway's Secret (client -> key), what Envoy Gateway's API-key auth checks;
- with `gateway.vllmApiKey`, one Secret per pool holding vLLM's `--config` file with the
  keys of the clients allowed on that pool (see `vllm_args.api_key_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components import conventions, vllm_args
from components.model_cache import HUB_TOKEN_KEY, HUB_TOKEN_SECRET, hub_token_namespace
from components.options import inherited_dependencies
from components.secret_config import (
    API_KEYS,
    HUB_TOKEN,
    HUB_TOKEN_CONFIG_KEY,
    SET_HUB_TOKEN_COMMAND,
    allowlist_problems,
    api_key_problems,
    gateway_api_keys_name,
    vllm_api_keys_name,
)
from components.serving_pool import API_KEY_FILE
from components.spec import PlatformSpec, PoolSpec

# Kubernetes stores a Secret's values in `data`; both fields are secret outputs.
SECRET_OUTPUTS = ["data", "stringData"]


class SecretConfigError(pulumi.RunError):
    """Missing or malformed secret config; the message names the fix, never a value."""


@dataclass(frozen=True)
class ApiKeys:
    """Client name -> API key, each key a secret Output."""

    keys: Mapping[str, pulumi.Output[str]]

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(sorted(self.keys))

    def allowed_on(self, pool: PoolSpec) -> tuple[str, ...]:
        return tuple(sorted(pool.clients)) if pool.clients else self.clients


def read_api_keys(config: pulumi.Config, source: str, spec: PlatformSpec) -> ApiKeys:
    """The stack's API keys, or SecretConfigError naming `source` and the command that fixes it.

    The map is read with `get_object` for its client names; each key becomes a secret at once.
    """
    raw = config.get_object(API_KEYS)
    _refuse(source, api_key_problems(raw))
    # No problems: `raw` is a non-empty map of client name to key string, which mypy cannot follow.
    keys = cast("dict[str, str]", raw)
    _refuse(source, allowlist_problems(spec, keys))
    return ApiKeys({client: pulumi.Output.secret(key) for client, key in sorted(keys.items())})


def _refuse(source: str, problems: list[tuple[str, str]]) -> None:
    if problems:
        raise SecretConfigError("\n".join(f"{source}: {path}: {message}" for path, message in problems))


def read_hub_token(config: pulumi.Config, source: str, spec: PlatformSpec) -> pulumi.Output[str] | None:
    """The hub token for the model downloads, a secret from the moment it is read; None when
    the model mirror takes none (modelMirror.token false, or s3)."""
    if not spec.hub_token_needed:
        return None
    token = config.get_secret(HUB_TOKEN)
    if token is None:
        raise SecretConfigError(
            f"{source}: {HUB_TOKEN_CONFIG_KEY}: not set; the model downloads (modelMirror.token) need it: "
            f"{SET_HUB_TOKEN_COMMAND}"
        )
    return token


@dataclass(frozen=True)
class SecretsArgs:
    spec: PlatformSpec
    api_keys: ApiKeys
    # The hub token (read_hub_token), for the model downloads only; None when none needs it.
    hub_token: pulumi.Output[str] | None = None


class Secrets(pulumi.ComponentResource):
    """The platform's Secrets; exposes `gateway_api_keys` and `vllm_api_keys` (pool name -> Secret)."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:guardrails:Secrets", name, None, opts)
        # Every Secret waits for what this component waits for: its namespace.
        self._after = inherited_dependencies(opts)
        spec = args.spec
        self.gateway_api_keys = self._secret(
            "gateway-api-keys",
            _metadata(gateway_api_keys_name(spec.gateway), spec.gateway.namespace, "gateway"),
            dict(args.api_keys.keys),
        )
        self.vllm_api_keys = {
            pool.name: self._secret(
                f"{pool.name}-vllm-api-keys",
                _metadata(vllm_api_keys_name(pool), spec.namespaces.serving, pool.name),
                {API_KEY_FILE: _vllm_config(args.api_keys, pool)},
            )
            for pool in spec.pools
            if spec.gateway.vllm_api_key
        }
        self.hub_token = self._hub_token(spec, args.hub_token)
        self.register_outputs({"gatewayApiKeys": gateway_api_keys_name(spec.gateway)})

    def _hub_token(self, spec: PlatformSpec, token: pulumi.Output[str] | None) -> k8s.core.v1.Secret | None:
        """The `hf-token` Secret, in the one namespace whose download Jobs use it (never
        the serving pods')."""
        namespace = hub_token_namespace(spec)
        if token is None or namespace is None:
            return None
        labels = conventions.standard_labels("hub-token", namespace, "secrets")
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {"name": HUB_TOKEN_SECRET, "namespace": namespace, "labels": labels}
        return self._secret("hub-token", metadata, {HUB_TOKEN_KEY: token})

    def _secret(
        self, name: str, metadata: k8s.meta.v1.ObjectMetaArgsDict, values: Mapping[str, pulumi.Input[str]]
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            name,
            metadata=metadata,
            type="Opaque",
            string_data=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._after, additional_secret_outputs=SECRET_OUTPUTS),
        )


def _metadata(name: str, namespace: str, instance: str) -> k8s.meta.v1.ObjectMetaArgsDict:
    labels = conventions.standard_labels("api-keys", instance, "secrets")
    return {"name": name, "namespace": namespace, "labels": labels}


def _vllm_config(api_keys: ApiKeys, pool: PoolSpec) -> pulumi.Output[str]:
    keys = [api_keys.keys[client] for client in api_keys.allowed_on(pool)]
    return pulumi.Output.secret(pulumi.Output.all(*keys).apply(lambda values: vllm_args.api_key_config(list(values))))
