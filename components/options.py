"""Resource options shared by the components."""

from __future__ import annotations

import pulumi


def inherited_dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """What a component was put after, for its children to wait on too: Pulumi does not
    pass a component's depends_on on to the resources it creates."""
    depends_on = opts.depends_on if opts else None
    return [depends_on] if isinstance(depends_on, pulumi.Resource) else list(depends_on or [])
