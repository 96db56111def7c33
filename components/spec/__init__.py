"""The typed stack configuration: `private-llm-serving:platform`, parsed into `PlatformSpec`.

Pure Python (pydantic), no Pulumi imports. `load_platform` is the one entry point: it
applies class defaults, validates every field and every cross-field rule, and raises
`SpecError` with one line per problem, each naming the stack file and the config path.

One module per area and job, each importing only those before it:
`base` (config key, `_Spec`, shared patterns and types), the areas `cluster`, `models`,
`supply_chain`, `pools`, `edge` and `monitoring` (schemas, defaults and the rules one
area can check alone), `platform` (`PlatformSpec` and what is derived from it), `rules`
(the rules across areas and the capacity gate), `errors` (`SpecError`, pydantic's errors
as config paths) and `loading` (`load_platform`).
"""

# Besides the public names of __all__, the private `_X as _X` re-exports are the tables and
# before-validators the config reference reads (tools/config_fields.py), so it cannot drift
# from what load_platform does.
from components.pool_defaults import CLASS_DEFAULTS
from components.spec.base import CLIENT_NAME_PATTERN, CONFIG_KEY
from components.spec.cluster import _FIELD_KINDS as _FIELD_KINDS
from components.spec.cluster import EksCluster, KubeconfigCluster, NodePoolSpec
from components.spec.cluster import _with_node_pool_kinds as _with_node_pool_kinds
from components.spec.edge import GatewaySpec
from components.spec.errors import SpecError
from components.spec.loading import load_platform
from components.spec.models import ModelSpec
from components.spec.monitoring import MonitoringSpec
from components.spec.platform import PlatformSpec
from components.spec.pools import PoolSpec
from components.spec.pools import _with_concurrency_target as _with_concurrency_target
from components.spec.supply_chain import _CACHE_FIELD_KINDS as _CACHE_FIELD_KINDS
from components.spec.supply_chain import EcrPullThroughMirror, HubMirrorModelMirror, S3ModelMirror

__all__ = [
    "CLASS_DEFAULTS",
    "CLIENT_NAME_PATTERN",
    "CONFIG_KEY",
    "EcrPullThroughMirror",
    "EksCluster",
    "GatewaySpec",
    "HubMirrorModelMirror",
    "KubeconfigCluster",
    "ModelSpec",
    "MonitoringSpec",
    "NodePoolSpec",
    "PlatformSpec",
    "PoolSpec",
    "S3ModelMirror",
    "SpecError",
    "load_platform",
]
