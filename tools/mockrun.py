"""Run the real Pulumi program under Pulumi's mock runtime and record what it registers.

No CLI, no cloud, no cluster: the program's resources land in a `MockMonitor` that keeps,
for each one, its URN, type, name, parent and inputs exactly as the engine would get them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.conventions import PROJECT
from components.program import run
from components.spec import PlatformSpec
from tools.offline_secrets import with_offline_secrets

SECRET = "[secret]"
_SIG_KEY = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_RESOURCE_SIG = rpc._special_resource_sig


@dataclass
class Recording:
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    # URN -> the URNs it waits for (depends_on and inputs), for tests of creation order.
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    # URN -> the resource options the engine acts on at delete time that are set
    # (`retainOnDelete`, `protect`, `deletedWith`), for tests of what a destroy leaves.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resource name -> its record, for every resource of `resource_type`."""
        return {r["name"]: r for r in self.resources if r["type"] == resource_type}

    def only(self, resource_type: str) -> dict[str, Any]:
        """The one resource of `resource_type` (a component built alone, say); fails on none or more."""
        (found,) = self.of_type(resource_type).values()
        return found


class _Mocks(pulumi.runtime.Mocks):
    """Answers like the providers would, with inputs echoed back as outputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ.startswith("kubernetes:"):
            outputs.setdefault("status", {})
        outputs.update(_computed_outputs(args.typ, args.name))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:eks/getCluster:getCluster":
            return _mock_eks_cluster(args.args["name"])
        return {}


def _computed_outputs(resource_type: str, name: str) -> dict[str, Any]:
    """Outputs AWS computes that other resources take as inputs (a role's ARN, a launch
    template's version), so a render shows the reference instead of a gap."""
    if resource_type == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::000000000000:role/{name}"}
    if resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    return {}


def _mock_eks_cluster(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "id": name,
        "endpoint": f"https://{name}.eks.mock.invalid",
        "certificateAuthorities": [{"data": "bW9jay1jYQ=="}],
        "vpcConfig": {
            "subnetIds": ["subnet-0mock1a", "subnet-0mock1b"],
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-0mockcluster",
            "vpcId": "vpc-mock",
        },
        "version": "1.33",
    }


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recording: Recording):
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.recording.resources.append(
                {
                    "urn": response.urn,
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent or None,
                    "inputs": _plain(rpc.deserialize_properties(request.object)),
                    # A component of ours registers its outputs later; a provider's (Helm's
                    # Chart) keeps its inputs, which stand in for the children it would render.
                    **({} if request.custom or request.remote else {"outputs": {}}),
                }
            )
            self.recording.dependencies[response.urn] = sorted(request.dependencies)
            options = {
                "retainOnDelete": request.retainOnDelete,
                "protect": request.protect,
                "deletedWith": request.deletedWith,
            }
            self.recording.options[response.urn] = {key: value for key, value in options.items() if value}
        return response

    def RegisterResourceOutputs(self, request):
        # What a component registers is what the engine shows stack policies as its props.
        for resource in self.recording.resources:
            if resource["urn"] == request.urn and "outputs" in resource:
                resource["outputs"] = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    """Inputs as JSON-ready data: secrets masked, resource references as their URN."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _masked(value.get("value"))
        if value.get(_SIG_KEY) == _RESOURCE_SIG:
            return value.get("urn")
        return {key: _plain(item) for key, item in value.items() if key != "__defaults"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _masked(value: Any) -> Any:
    """A secret's shape with every value in it replaced by SECRET: a secret map keeps its
    keys (a Secret's `stringData` names files and clients), so the object stays valid."""
    if isinstance(value, dict) and value.get(_SIG_KEY) is None:
        return {key: _masked(item) for key, item in value.items() if key != "__defaults"}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return SECRET


def _ensure_event_loop() -> None:
    """The SDK registers resources on the main thread's current event loop
    (pulumi/runtime/resource.py resource_output: asyncio.Future()); `asyncio.run`, which the
    day-two tools use, leaves none behind (it ends with set_event_loop(None))."""
    policy = asyncio.get_event_loop_policy()
    try:
        if not policy.get_event_loop().is_closed():
            return
    except RuntimeError:
        pass
    policy.set_event_loop(policy.new_event_loop())


def run_program(stack: str, config: dict[str, Any], spec: PlatformSpec | None = None) -> Recording:
    """Run the program for `stack` with `config` (`key: value` as in a stack file's `config:`);
    `spec`, the platform config already parsed from it, spares the program parsing it again."""
    return record(lambda: run(spec), stack, config)


def record(build: Callable[[], Any], stack: str = "test", config: dict[str, Any] | None = None) -> Recording:
    """Run `build` (the program, or one component built alone in a unit test) under the mock
    runtime with `config`, and record every resource it registers and every stack output."""
    _ensure_event_loop()
    recording = Recording()
    mocks = _Mocks()
    settings.ROOT.set(None)  # a fresh root Stack per run, named after this stack
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False,
                             monitor=_RecordingMonitor(mocks, recording))  # fmt: skip
    resolved, secret_keys = with_offline_secrets(config or {})
    pulumi.runtime.set_all_config({key: _config_string(value) for key, value in resolved.items()}, secret_keys)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(build))
    root = settings.get_root_resource()
    assert isinstance(root, Stack)  # set_mocks made it, and the program exported to it
    recording.outputs = _plain(_sync_await(pulumi.Output.from_input(dict(root.outputs)).future()))
    recording.resources.sort(key=lambda resource: resource["urn"])
    return recording


def _config_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
