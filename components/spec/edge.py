"""The edge in front of every pool: the one Gateway API `Gateway`, its load balancer, and
the TLS certificate of its HTTPS listener."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from components.spec.base import DNS_SUBDOMAIN_PATTERN, DnsLabel, Int32, LabelKey, Problem, Switch, Text, _Spec


class IssuerRef(_Spec):
    kind: Literal["ClusterIssuer", "Issuer"] = Field(description="An Issuer must live in the gateway namespace.")
    name: Text = Field(
        pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="cert-manager issuer name (a DNS subdomain)."
    )


class GatewayTls(_Spec):
    """The HTTPS listener's certificate: issued by cert-manager, or an existing TLS Secret."""

    issuer: IssuerRef | None = Field(
        default=None,
        description="cert-manager issuer of a certificate for every pool hostname; absent: secretName "
        "must already exist in the gateway namespace.",
    )
    secret_name: DnsLabel = Field(default="llm-gateway-tls", description="TLS Secret the listener serves.")


class GatewaySpec(_Spec):
    """Where the one Gateway API `Gateway` in front of every pool lives."""

    namespace: DnsLabel = Field(default="llm-gateway", description="Namespace of the Gateway and its proxies.")
    name: DnsLabel = Field(default="llm-gateway", description="Name of the Gateway object.")
    class_name: DnsLabel = Field(default="envoy-gateway", description="GatewayClass of the Gateway.")
    tls: GatewayTls = GatewayTls()
    internet_facing: Switch = Field(
        default=False,
        description="Expose the gateway's load balancer to the internet (EKS: an internet-facing NLB). "
        "Off: an internal NLB, reachable from the VPC and its peers only.",
    )
    service_annotations: dict[LabelKey, Annotated[Text, Field(max_length=4096)]] = Field(
        default_factory=dict,
        description="Extra annotations on the gateway's load balancer Service (subnets, security groups, "
        "or an on-prem load balancer's settings); they may not restate the scheme set by internetFacing.",
    )
    service_type: Literal["LoadBalancer", "ClusterIP"] | None = Field(
        default=None,
        description="How the edge is exposed. Default: a LoadBalancer on EKS (internal NLB) or where "
        "sourceRanges fence it in; elsewhere ClusterIP, for an ingress of your own in front.",
    )
    source_ranges: tuple[Annotated[str, Field(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")], ...] = Field(
        default=(),
        description="CIDRs that may reach the gateway's load balancer (loadBalancerSourceRanges); on "
        "clusters other than EKS, private ranges here are what keeps the load balancer internal.",
    )
    replicas: Int32 = Field(
        default=2,
        ge=1,
        le=20,
        description="Envoy proxies per gateway, fixed (no autoscaler); each enforces its share of a rate limit.",
    )
    vllm_api_key: Switch = Field(
        default=False,
        description="vLLM itself also checks the client's API key (defence in depth behind the gateway).",
    )


# Annotations that decide who can reach the load balancer: only internetFacing sets them.
LOAD_BALANCER_SCHEME_ANNOTATIONS = (
    "service.beta.kubernetes.io/aws-load-balancer-scheme",
    "service.beta.kubernetes.io/aws-load-balancer-internal",
)


def gateway_problems(gateway: GatewaySpec) -> Iterator[Problem]:
    for key in sorted(set(gateway.service_annotations) & set(LOAD_BALANCER_SCHEME_ANNOTATIONS)):
        yield f"gateway.serviceAnnotations.{key}", "the load balancer scheme follows gateway.internetFacing; set that"
    if gateway.service_type == "ClusterIP" and (gateway.internet_facing or gateway.source_ranges):
        yield "gateway.serviceType", "ClusterIP has no load balancer; drop internetFacing and sourceRanges"
    for index, cidr in enumerate(gateway.source_ranges):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as error:
            yield f"gateway.sourceRanges[{index}]", f"'{cidr}' is not a network address in CIDR form ({error})"
