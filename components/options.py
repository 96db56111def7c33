"""Resource options shared by the components."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi


def inherited_dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Input[pulumi.Resource]]:
    """What a component was put after, for its children to wait on too: Pulumi does not
    pass a component's depends_on on to the resources it creates."""
    depends_on = opts.depends_on if opts else None
    if isinstance(depends_on, pulumi.Resource):
        return [depends_on]
    if depends_on is None or isinstance(depends_on, Sequence):
        return list(depends_on or [])
    # ResourceOptions also takes an Output (or awaitable) of the list, which cannot be
    # spread into the children's lists; our components are given resources.
    raise TypeError("a component's depends_on must be a resource or a list, not an Output of one")
