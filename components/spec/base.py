"""What every area of the stack config shares: the config key, the `_Spec` base model,
the string patterns and constrained types several areas use, and Kubernetes quantities."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

CONFIG_KEY = "private-llm-serving:platform"

# KServe's admission webhook pattern for InferenceService names; 40 characters keeps
# the generated "<name>-predictor-<hash>" Knative and Deployment names under 63.
POOL_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
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
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN)]
# A client name of `apiKeys`: a Secret data key and a header value the gateway forwards.
CLIENT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
ClientName = Annotated[str, Field(pattern=CLIENT_NAME_PATTERN, max_length=63)]

# One problem in a stack config: its config path below CONFIG_KEY, and what is wrong.
Problem = tuple[str, str]


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        protected_namespaces=(),
    )


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
