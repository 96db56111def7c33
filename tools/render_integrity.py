"""`check --from`'s first gate: a render output is judged only as a whole it could have come from.

A render handed to `check --from` is files anyone can edit. The gates judge the objects of
`manifests.yaml`, the policy pack the resources of `resources.json` and the stack outputs of
`outputs.json`; an edit to one file alone would let a change pass one gate while another
judges the unedited copy, and the policy pack reads two figures from the outputs that it
cannot recompute itself (the capacity model's verdict per pool, and the mirror prefixes
images may come from). So:

- `manifests.yaml` must be exactly the Kubernetes objects of `resources.json`, and
  `capacity.json` exactly the `capacity` output;
- the `capacity` and `registryMirrorPrefixes` outputs are recomputed from the stack's spec
  (the stack file named by the render's URNs, in stacks/, or `--config-file`) and must match:
  a figure is not believed because the render carries it;
- every trust flag a pool's vLLM arguments set (components/vllm_args.py TRUST_FLAGS) is one
  its InferenceService's opt-in annotation names, as the spec's `pools[].trustedArgs` writes it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from components.conventions import GATEWAY_COMPONENT_TYPE, TRUSTED_ARGS_ANNOTATION
from components.images import MIRROR_PREFIXES_OUTPUT, mirror_prefixes
from components.plan.capacity import capacity_report
from components.plan.edge import GatewayPlan, plan_gateway
from components.vllm_args import trust_flags_in
from policy.rule import stack_name
from policy.rules.edge import HOSTNAMES_OUTPUT, TLS_SECRET_OUTPUT
from tools.k8s_objects import dig
from tools.render import CAPACITY, MANIFESTS, OUTPUTS, RESOURCES, Rendered, kubernetes_objects
from tools.schemas import describe_resource
from tools.stackfile import InputError, load_stack
from tools.vllm_parser import serve_arguments

CHECK = "render-integrity"
CAPACITY_OUTPUT = "capacity"


def findings(rendered: Rendered, config_file: str | None = None) -> list[str]:
    return [*_consistency(rendered), *_recomputed(rendered, config_file), *_trust_opt_ins(rendered)]


def _trust_opt_ins(rendered: Rendered) -> list[str]:
    """Each trust flag a pool's final vLLM arguments set (the static table's reading, as the
    spec check reads it) must be one its InferenceService's opt-in annotation names: a flag
    added to a render by hand has none."""
    accepted = {
        describe_resource(obj): set(
            filter(None, str(dig(obj, "metadata", "annotations", TRUSTED_ARGS_ANNOTATION) or "").split(","))
        )
        for obj in rendered.manifests
        if isinstance(obj, dict) and obj.get("kind") == "InferenceService"
    }
    return [
        f"{CHECK} {resource}: its arguments set {flag.name}, which {flag.risk}, but its {TRUSTED_ARGS_ANNOTATION} "
        "annotation does not accept it (pools[].trustedArgs)"
        for resource, args in serve_arguments(rendered.manifests).items()
        for _, flag in trust_flags_in(args)
        if flag.name not in accepted.get(resource, set())
    ]


def _key(obj: Any) -> str:
    return describe_resource(obj) if isinstance(obj, dict) else repr(obj)[:80]


def _consistency(rendered: Rendered) -> list[str]:
    found = []
    declared = {_key(obj): obj for obj in kubernetes_objects(rendered.resources)}
    written = {_key(obj): obj for obj in rendered.manifests}
    for key in sorted(set(declared) | set(written)):
        if key not in written:
            found.append(f"{CHECK} {key}: in {RESOURCES} but not in {MANIFESTS} (one was edited without the other)")
        elif key not in declared:
            found.append(f"{CHECK} {key}: in {MANIFESTS} but not in {RESOURCES} (one was edited without the other)")
        elif _canonical(declared[key]) != _canonical(written[key]):
            found.append(
                f"{CHECK} {key}: differs between {MANIFESTS} and {RESOURCES} (one was edited without the other)"
            )
    if _canonical(rendered.capacity) != _canonical(_outputs(rendered).get(CAPACITY_OUTPUT)):
        found.append(f"{CHECK} {CAPACITY}: differs from the {CAPACITY_OUTPUT} output in {OUTPUTS}")
    return found


def _gateway_outputs(rendered: Rendered, plan: GatewayPlan) -> list[str]:
    """What the Gateway component registers and the edge rules believe (policy/rules/edge.py),
    against the plan: which pool owns which hostname, and the certificate the edge serves."""
    expected = {HOSTNAMES_OUTPUT: plan.hostnames, TLS_SECRET_OUTPUT: plan.tls_secret}
    found = []
    for resource in rendered.resources:
        if not isinstance(resource, dict) or resource.get("type") != GATEWAY_COMPONENT_TYPE:
            continue
        outputs = resource.get("outputs")
        carried: dict[str, Any] = outputs if isinstance(outputs, dict) else {}
        for key, value in expected.items():
            if _canonical(carried.get(key)) != _canonical(value):
                found.append(
                    f"{CHECK} {RESOURCES}: the {GATEWAY_COMPONENT_TYPE} output {key} is not what the stack's spec "
                    "gives its edge (the edge rules read it)"
                )
    return found


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _outputs(rendered: Rendered) -> dict[str, Any]:
    return rendered.outputs if isinstance(rendered.outputs, dict) else {}


def _stack(rendered: Rendered) -> str | None:
    urns = {stack_name(r["urn"]) for r in rendered.resources if isinstance(r, dict) and isinstance(r.get("urn"), str)}
    stack = urns.pop() if len(urns) == 1 else None
    # A stack name names a file in stacks/: nothing that could lead out of it.
    return stack if stack and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", stack) and ".." not in stack else None


def _recomputed(rendered: Rendered, config_file: str | None) -> list[str]:
    stack = _stack(rendered)
    if stack is None:
        return [f"{CHECK} {RESOURCES}: its URNs name no single stack; the figures it carries cannot be recomputed"]
    try:
        spec = load_stack(stack, config_file, capacity_gate=False).spec
    except InputError as error:
        first = str(error).splitlines()[0]
        return [
            f"{CHECK} {OUTPUTS}: the capacity figures and mirror prefixes of stack '{stack}' cannot be recomputed "
            f"({first}); give its stack file with --config-file"
        ]
    outputs = _outputs(rendered)
    found = []
    expected_capacity = json.loads(json.dumps(capacity_report(spec.capacities)))
    carried_output = outputs.get(CAPACITY_OUTPUT)
    carried: dict[str, Any] = carried_output if isinstance(carried_output, dict) else {}
    for pool in sorted(set(expected_capacity) | set(carried)):
        if _canonical(carried.get(pool)) != _canonical(expected_capacity.get(pool)):
            found.append(
                f"{CHECK} {OUTPUTS}: {CAPACITY_OUTPUT}.{pool} is not what the capacity model computes from the "
                f"stack's spec ({'fits' if expected_capacity.get(pool, {}).get('fits') else 'rejected or absent'} there)"
            )
    found += _gateway_outputs(rendered, plan_gateway(spec))
    expected_prefixes = mirror_prefixes(spec.image_mirror)
    if _canonical(outputs.get(MIRROR_PREFIXES_OUTPUT)) != _canonical(expected_prefixes):
        found.append(
            f"{CHECK} {OUTPUTS}: {MIRROR_PREFIXES_OUTPUT} is not the stack's mirror "
            f"({', '.join(expected_prefixes) or 'none: images stay upstream'})"
        )
    return found
