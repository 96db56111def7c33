"""The Pulumi program: read the stack's config, validate it, build the platform.

`pulumi up` runs it through __main__.py; `python -m tools` runs the very same function
under Pulumi's mock runtime.
"""

from __future__ import annotations

import pulumi

from components.conventions import PROJECT, stack_file
from components.images import MIRROR_PREFIXES_OUTPUT, mirror_prefixes
from components.platform import Platform
from components.secrets import read_api_keys, read_hub_token
from components.spec import SpecError, load_platform

# Where DNS must send the pool hostnames: the edge Gateway's address once Envoy Gateway reports
# it ({type: Hostname|IPAddress, value}; None under the mock runtime, where nothing reports
# one), and per pool the record that points its hostname there (components/gateway.py).
GATEWAY_ADDRESS_OUTPUT = "gatewayAddress"
DNS_RECORDS_OUTPUT = "dnsRecords"


def run() -> Platform:
    config = pulumi.Config(PROJECT)
    source = stack_file(pulumi.get_stack())
    try:
        spec = load_platform(config.require_object("platform"), source)
    except SpecError as error:
        # RunError prints the message alone: one line per problem, no traceback.
        raise pulumi.RunError(str(error)) from None
    platform = Platform(
        "platform", spec, read_api_keys(config, source, spec), hub_token=read_hub_token(config, source, spec)
    )
    pulumi.export("pools", {name: {"url": pool.url, "model": pool.spec.model} for name, pool in platform.pools.items()})
    pulumi.export("capacity", {name: pool.capacity.to_dict() for name, pool in platform.pools.items()})
    pulumi.export(MIRROR_PREFIXES_OUTPUT, mirror_prefixes(spec.image_mirror))
    pulumi.export(GATEWAY_ADDRESS_OUTPUT, platform.gateway.address)
    pulumi.export(DNS_RECORDS_OUTPUT, platform.gateway.dns_records)
    return platform
