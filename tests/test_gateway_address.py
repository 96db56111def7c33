"""The stack outputs DNS needs: the edge Gateway's address and one record per pool hostname
(components/gateway.py, components/program.py), under Pulumi's mock runtime."""

from __future__ import annotations

import pytest

from components.gateway import GATEWAY_READY, WAIT_FOR_ANNOTATION, dns_record, gateway_address
from components.program import DNS_RECORDS_OUTPUT, GATEWAY_ADDRESS_OUTPUT
from tests.conftest import SHIPPED_STACKS
from tools import mockrun, render
from tools.mockrun import run_program
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

GATEWAY_TYPE = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
NLB = "k8s-llmgatew-llmgatew-0123456789-abcdef.elb.us-east-1.amazonaws.com"


def run_shipped(stack: str):
    loaded = load_stack(stack)
    return loaded.spec, run_program(stack, loaded.config)


def reporting(monkeypatch, addresses: list[dict[str, str]]) -> None:
    """Make the mock provider answer for the Gateway as Envoy Gateway's status would read
    after `pulumi up` waited for it."""
    computed = mockrun._computed_outputs

    def with_status(resource_type: str, name: str):
        if resource_type == GATEWAY_TYPE:
            return {"status": {"addresses": addresses, "conditions": [{"type": "Programmed", "status": "True"}]}}
        return computed(resource_type, name)

    monkeypatch.setattr(mockrun, "_computed_outputs", with_status)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_without_a_reported_address_the_outputs_say_none_and_name_every_hostname(stack):
    spec, recording = run_shipped(stack)
    assert recording.outputs[GATEWAY_ADDRESS_OUTPUT] is None
    assert recording.outputs[DNS_RECORDS_OUTPUT] == {
        pool.name: {"name": pool.hostname, "type": None, "value": None} for pool in spec.pools
    }


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_gateway_is_awaited_until_programmed_and_sends_no_status(stack):
    spec, recording = run_shipped(stack)
    (gateway,) = [r for r in recording.resources if r["type"] == GATEWAY_TYPE]
    assert gateway["inputs"]["metadata"]["annotations"] == {WAIT_FOR_ANNOTATION: GATEWAY_READY}
    assert GATEWAY_READY == "condition=Programmed"
    # `status` is an output only: the object sent to the API server is unchanged.
    assert sorted(gateway["inputs"]) == ["apiVersion", "kind", "metadata", "spec"]
    assert gateway["name"] == spec.gateway.name


def test_an_nlb_hostname_becomes_the_address_and_a_cname_per_pool(monkeypatch):
    reporting(monkeypatch, [{"type": "Hostname", "value": NLB}])
    spec, recording = run_shipped("dev")
    assert recording.outputs[GATEWAY_ADDRESS_OUTPUT] == {"type": "Hostname", "value": NLB}
    assert recording.outputs[DNS_RECORDS_OUTPUT] == {
        pool.name: {"name": pool.hostname, "type": "CNAME", "value": NLB} for pool in spec.pools
    }
    # The render still works, and the other outputs are as before.
    assert {"pools", "capacity", "registryMirrorPrefixes"} <= set(recording.outputs)
    assert render.kubernetes_objects(recording.resources)


def test_a_load_balancer_ip_becomes_an_a_record(monkeypatch):
    reporting(monkeypatch, [{"type": "IPAddress", "value": "10.20.30.40"}])
    _, recording = run_shipped("onprem")
    assert {r["type"] for r in recording.outputs[DNS_RECORDS_OUTPUT].values()} == {"A"}
    assert recording.outputs[GATEWAY_ADDRESS_OUTPUT]["value"] == "10.20.30.40"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, None),
        (None, None),
        ({"addresses": []}, None),
        # The type defaults to IPAddress (Gateway API GatewayStatusAddress).
        ({"addresses": [{"value": "10.0.0.7"}]}, {"type": "IPAddress", "value": "10.0.0.7"}),
        ({"addresses": [{"type": "IPAddress", "value": "fd00::7"}, {"type": "Hostname", "value": NLB}]},
         {"type": "IPAddress", "value": "fd00::7"}),
    ],
)  # fmt: skip
def test_gateway_address_reads_the_first_reported_address(status, expected):
    assert gateway_address(status) == expected


def test_dns_record_types():
    assert dns_record("a.example", {"type": "Hostname", "value": NLB})["type"] == "CNAME"
    assert dns_record("a.example", {"type": "IPAddress", "value": "10.0.0.1"})["type"] == "A"
    assert dns_record("a.example", {"type": "IPAddress", "value": "fd00::1"})["type"] == "AAAA"
    assert dns_record("a.example", None) == {"name": "a.example", "type": None, "value": None}
