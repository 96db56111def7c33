"""What every area of the stack config shares: the config key, the `_Spec` base model,
the string patterns and constrained types several areas use, and Kubernetes quantities."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints
from pydantic.alias_generators import to_camel

CONFIG_KEY = "private-llm-serving:platform"

# KServe's admission webhook pattern for InferenceService names; 40 characters keeps
# the generated "<name>-predictor-<hash>" Knative and Deployment names under 63.
POOL_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,63}$"
HUB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$"
COMMIT_PATTERN = r"^[0-9a-f]{40}$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
LABEL_VALUE_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
AWS_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
HTTP_URL_PATTERN = r"^https?://[^\s/]+(:\d+)?(/\S*)?$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=63)]
LabelKey = Annotated[str, Field(pattern=LABEL_KEY_PATTERN, max_length=316)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]
# 16 characters: 999999999999Gi is far above any node, and float() of it stays finite.
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=16)]
# A client name of `apiKeys`: a Secret data key and a header value the gateway forwards.
CLIENT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
ClientName = Annotated[str, Field(pattern=CLIENT_NAME_PATTERN, max_length=63)]

# Numbers and switches are strict: YAML's `true` is not a count, "8192" is not a number
# (pydantic's lax mode would read both), and `.inf`/`.nan` are no quantity of anything.
# Kubernetes stores replicas, timeouts and probe thresholds as int32, so every `Int32` and
# `Number` field sets its own `le`, at most INT32_MAX, from what it feeds (the JSON schema
# shows it; tests/test_hostile_input.py checks that none is left unbounded). The bound is
# the field's own so that the message names the real limit.
INT32_MAX = 2**31 - 1
Int32 = Annotated[int, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Switch = Annotated[bool, Strict()]
# Gateway API's Duration (HTTPRoute `timeouts.request`, Envoy Gateway's `streamIdleTimeout`):
# `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, so a timeout rendered as `<n>s` holds at most 99999 s
# (../shared/schemas/crds/gateway.networking.k8s.io_httproutes.yaml).
DURATION_MAX_SECONDS = 99999

# Characters no config string may hold: C0/C1 controls and DEL (they end up in object
# names, annotations and log lines), and the Unicode bidirectional controls that make a
# value read differently from what it is (CVE-2021-42574, "Trojan Source").
_HIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

# One problem in a stack config: its config path below CONFIG_KEY, and what is wrong.
Problem = tuple[str, str]


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        protected_namespaces=(),
        allow_inf_nan=False,
    )


def _visible(value: str) -> str:
    """Refuse control and bidi characters; the message names the code point, never the
    value (it may be a pasted secret)."""
    match = _HIDDEN_CHARACTERS.search(value)
    if match:
        raise ValueError(f"contains the invisible or control character U+{ord(match.group(0)):04X}; remove it")
    return value


# Every free-text string of the config (patterned ones cannot hold these characters anyway).
Text = Annotated[str, AfterValidator(_visible)]
# Why a reviewer accepted something the platform refuses by default (a trust flag, a risk):
# long enough to say it, short enough to read in a preview.
Reason = Annotated[str, StringConstraints(min_length=10, max_length=500), AfterValidator(_visible)]


def _plain_url(value: str) -> str:
    """A URL that names a port names a real one, and carries no credentials: the config is
    committed in plain text, so a `user:token@` in it is a published secret."""
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials (user:password@host); secrets go in secret config")
    try:
        parts.port  # noqa: B018  (urlsplit checks the port range when it is read)
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if parts.port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    return value


HttpUrl = Annotated[
    str, Field(pattern=HTTP_URL_PATTERN, max_length=2048), AfterValidator(_visible), AfterValidator(_plain_url)
]


def host_port_problem(host: str) -> str | None:
    """Why a `host[:port]` is not one (a port over 65535), or None."""
    _, _, port = host.rpartition(":") if ":" in host else ("", "", "")
    return "the port must be a number from 1 to 65535" if port and not 0 < int(port) <= 65535 else None


def not_in_catalog(value: str, catalog: Mapping[str, Any]) -> str:
    return f"'{value}' is not in the catalog; allowed: {', '.join(sorted(catalog))}"


_QUANTITY_SUFFIXES = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 0.001,
}  # fmt: skip


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity (as QUANTITY_PATTERN admits) in bytes."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a Kubernetes quantity")
    number, suffix = match.groups()
    return int(float(number) * _QUANTITY_SUFFIXES[suffix])
