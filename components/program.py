"""The Pulumi program: read the stack's config, validate it, build the platform.

`pulumi up` runs it through __main__.py; `python -m tools` runs the very same function
under Pulumi's mock runtime.

Secret config (components/secrets.py says what becomes of it) is read here, each value
wrapped in `pulumi.Output.secret` the moment it is read; a missing or malformed one stops
the program with a message that names the config key and the command that fixes it.
"""

from __future__ import annotations

from typing import cast

import pulumi

from components.conventions import PROJECT, stack_file
from components.images import MIRROR_PREFIXES_OUTPUT, mirror_prefixes
from components.plan import resolve
from components.plan.capacity import capacity_report
from components.platform import Platform
from components.secret_config import (
    API_KEYS,
    HUB_TOKEN,
    HUB_TOKEN_CONFIG_KEY,
    SET_HUB_TOKEN_COMMAND,
    allowlist_problems,
    api_key_problems,
)
from components.secrets import ApiKeys
from components.spec import PlatformSpec, SpecError, load_platform

# Where DNS must send the pool hostnames: the edge Gateway's address once Envoy Gateway reports
# it ({type: Hostname|IPAddress, value}; None under the mock runtime, where nothing reports
# one), and per pool the record that points its hostname there (components/gateway.py).
GATEWAY_ADDRESS_OUTPUT = "gatewayAddress"
DNS_RECORDS_OUTPUT = "dnsRecords"


def run(spec: PlatformSpec | None = None) -> Platform:
    """Build the platform of the current stack. `spec` is the stack's config already parsed
    and validated (the offline tool parses it before it renders); without it, it is read
    from the stack's config here. Either way it is parsed once and resolved once."""
    config = pulumi.Config(PROJECT)
    source = stack_file(pulumi.get_stack())
    if spec is None:
        try:
            spec = load_platform(config.require_object("platform"), source)
        except SpecError as error:
            # RunError prints the message alone: one line per problem, no traceback.
            raise pulumi.RunError(str(error)) from None
    plan = resolve(spec)
    platform = Platform(
        "platform", plan, read_api_keys(config, source, spec), hub_token=read_hub_token(config, source, spec)
    )
    pulumi.export("pools", {name: {"url": pool.url, "model": pool.spec.model} for name, pool in platform.pools.items()})
    pulumi.export("capacity", capacity_report(plan.capacity))
    pulumi.export(MIRROR_PREFIXES_OUTPUT, mirror_prefixes(spec.image_mirror))
    pulumi.export(GATEWAY_ADDRESS_OUTPUT, platform.gateway.address)
    pulumi.export(DNS_RECORDS_OUTPUT, platform.gateway.dns_records)
    return platform


class SecretConfigError(pulumi.RunError):
    """Missing or malformed secret config; the message names the fix, never a value."""


def read_api_keys(config: pulumi.Config, source: str, spec: PlatformSpec) -> ApiKeys:
    """The stack's API keys, or SecretConfigError naming `source` and the command that fixes it.

    The map is read with `get_object` for its client names; each key becomes a secret at once.
    """
    raw = config.get_object(API_KEYS)
    _refuse(source, api_key_problems(raw))
    # No problems: `raw` is a non-empty map of client name to key string, which mypy cannot follow.
    keys = cast("dict[str, str]", raw)
    _refuse(source, allowlist_problems(spec.pools, keys))
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
