"""The policy pack's contents: its name and every rule, in one list.

`policy/__main__.py` hands this list, as the SDK's objects (`policy/crossguard.py`), to
`PolicyPack`, which serves it to the Pulumi engine; `python -m tools check` runs the very same
rules over a render. Rule names are stable:
users' policy config refers to them.
"""

from __future__ import annotations

from policy.rule import EnforcementLevel, Rule
from policy.rules import continuity, data_protection, edge, engine, governance, isolation, stack, supply_chain, trust

PACK_NAME = "private-llm-serving"
# Every rule sets its own level; this one applies to a rule that would not.
PACK_ENFORCEMENT_LEVEL = EnforcementLevel.MANDATORY

POLICIES: list[Rule] = [
    supply_chain.PINNED_IMAGE_TAGS,
    supply_chain.PINNED_MODEL_REVISIONS,
    governance.MODEL_APPROVED,
    governance.MODEL_PROVENANCE,
    engine.CONTEXT_CAP_REQUIRED,
    engine.CHAT_CONTEXT_CAP,
    engine.GPU_REQUESTS_EQUAL_LIMITS,
    engine.SHM_FOR_TENSOR_PARALLEL,
    engine.NO_GENERATION_PROBES,
    engine.VLLM_DRAINS_ON_SHUTDOWN,
    trust.VLLM_API_KEY_REQUIRED,
    trust.TRUST_FLAGS_ACCEPTED,
    data_protection.NO_PLAINTEXT_SECRETS,
    data_protection.NO_REQUEST_LOGGING,
    data_protection.NO_PUBLIC_MODEL_SERVICES,
    engine.INFERENCE_SIGNAL_AUTOSCALING,
    supply_chain.PINNED_CHART_VERSIONS,
    supply_chain.IMAGES_FROM_MIRROR,
    stack.CHAT_BATCH_SEPARATED,
    stack.SERVING_NAMESPACE_DEFAULT_DENY,
    stack.ROUTES_AUTHENTICATED,
    edge.EDGE_LISTENERS_HTTPS,
    edge.POOL_ROUTES_RATE_LIMITED,
    edge.ROUTE_HOSTNAMES_OWNED,
    isolation.MODEL_INGRESS_RESTRICTED,
    isolation.MODEL_EGRESS_RESTRICTED,
    isolation.PLATFORM_INGRESS_RESTRICTED,
    stack.CAPACITY_FITS,
    continuity.KNATIVE_TIMEOUTS_DRAINABLE,
]
