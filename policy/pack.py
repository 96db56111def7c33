"""The policy pack's contents: its name and every rule, in one list.

`policy/__main__.py` hands this list to `PolicyPack` (which serves it to the Pulumi engine);
`python -m tools check` runs the very same objects over a render. Rule names are stable:
users' policy config refers to them.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Policy

from policy.rules import data_protection, engine, governance, stack, supply_chain

PACK_NAME = "private-llm-serving"
# Every rule sets its own level; this one applies to a rule that would not.
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY

POLICIES: list[Policy] = [
    supply_chain.PINNED_IMAGE_TAGS,
    supply_chain.PINNED_MODEL_REVISIONS,
    governance.MODEL_APPROVED,
    governance.MODEL_PROVENANCE,
    engine.CONTEXT_CAP_REQUIRED,
    engine.CHAT_CONTEXT_CAP,
    engine.GPU_REQUESTS_EQUAL_LIMITS,
    engine.SHM_FOR_TENSOR_PARALLEL,
    engine.NO_GENERATION_PROBES,
    data_protection.NO_PLAINTEXT_SECRETS,
    data_protection.NO_REQUEST_LOGGING,
    data_protection.NO_PUBLIC_MODEL_SERVICES,
    engine.INFERENCE_SIGNAL_AUTOSCALING,
    supply_chain.PINNED_CHART_VERSIONS,
    supply_chain.IMAGES_FROM_MIRROR,
    stack.CHAT_BATCH_SEPARATED,
    stack.SERVING_NAMESPACE_DEFAULT_DENY,
    stack.ROUTES_AUTHENTICATED,
    stack.CAPACITY_FITS,
]
