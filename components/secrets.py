"""`Secrets`: every secret the platform puts on the cluster, and where its value comes from.

The only source is Pulumi secret config. `private-llm-serving:apiKeys` maps a client name
to its API key (`pulumi config set --secret --path 'apiKeys.<client>' <key>`), so one
client's key can be rotated or revoked alone. Client names are identifiers that policies
name (allowlists, rate-limit buckets); keys are secrets: each is wrapped in
`pulumi.Output.secret` the moment it is read, so it is encrypted in the state, shown as
`[secret]` in previews and in `python -m tools render`, and never exported or logged.
Messages about keys name the client, never the key. The program reads the config
(`components/program.py`: `read_api_keys`, `read_hub_token`) and hands the values here.

From the keys this component makes:
- the gateway's Secret (client -> key), what Envoy Gateway's API-key auth checks;
- with `gateway.vllmApiKey`, one Secret per pool holding vLLM's `--config` file with the
  keys of the clients allowed on that pool (see `vllm_args.api_key_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import conventions, vllm_args
from components.conventions import API_KEY_FILE, HUB_TOKEN_KEY, HUB_TOKEN_SECRET
from components.options import inherited_dependencies
from components.plan.edge import SecretsPlan
from components.secret_config import vllm_api_keys_name
from components.spec import PoolSpec

# Kubernetes stores a Secret's values in `data`; both fields are secret outputs.
SECRET_OUTPUTS = ["data", "stringData"]


@dataclass(frozen=True)
class ApiKeys:
    """Client name -> API key, each key a secret Output."""

    keys: Mapping[str, pulumi.Output[str]]

    @property
    def clients(self) -> tuple[str, ...]:
        return tuple(sorted(self.keys))

    def allowed_on(self, pool: PoolSpec) -> tuple[str, ...]:
        return tuple(sorted(pool.clients)) if pool.clients else self.clients


@dataclass(frozen=True)
class SecretsArgs:
    plan: SecretsPlan
    api_keys: ApiKeys
    # The hub token (read_hub_token), for the model downloads only; None when none needs it.
    hub_token: pulumi.Output[str] | None = None


class Secrets(pulumi.ComponentResource):
    """The platform's Secrets; exposes `gateway_api_keys_secret`, `vllm_api_keys` (pool name ->
    Secret) and `hub_token` (None without one); outputs `gateway_api_keys`, the gateway
    Secret's name (registered)."""

    gateway_api_keys: str

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:guardrails:Secrets", name, None, opts)
        # Every Secret waits for what this component waits for: its namespace.
        self._after = inherited_dependencies(opts)
        plan = args.plan
        self.gateway_api_keys = plan.gateway_api_keys_name
        self.gateway_api_keys_secret = self._secret(
            "gateway-api-keys",
            _metadata(self.gateway_api_keys, plan.gateway_namespace, "gateway"),
            dict(args.api_keys.keys),
        )
        self.vllm_api_keys = {
            pool.name: self._secret(
                f"{pool.name}-vllm-api-keys",
                _metadata(vllm_api_keys_name(pool), plan.serving_namespace, pool.name),
                {API_KEY_FILE: _vllm_config(args.api_keys, pool)},
            )
            for pool in plan.vllm_api_key_pools
        }
        self.hub_token = self._hub_token(plan.hub_token_namespace, args.hub_token)
        self.register_outputs({"gatewayApiKeys": self.gateway_api_keys})

    def _hub_token(self, namespace: str | None, token: pulumi.Output[str] | None) -> k8s.core.v1.Secret | None:
        """The `hf-token` Secret, in the one namespace whose download Jobs use it (never
        the serving pods')."""
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
