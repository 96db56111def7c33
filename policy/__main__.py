"""Entry point of the policy pack: builds the PolicyPack, which serves the rules to the engine.

Constructing `PolicyPack` starts a gRPC server and blocks, so nothing else imports this file.
"""

import sys
from pathlib import Path

# The engine runs this file from inside policy/; the rules import as `policy.*` (and the
# label names and the charts' image lists from the pure `components` modules), as they do
# for `python -m tools check`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.crossguard import enforcement_level, policies  # noqa: E402
from policy.pack import PACK_ENFORCEMENT_LEVEL, PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, policies=policies(POLICIES), enforcement_level=enforcement_level(PACK_ENFORCEMENT_LEVEL))
