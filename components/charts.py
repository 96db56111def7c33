"""Helm charts the way every layer installs them: pinned, into a namespace we declare.

`helm.v4.Chart` renders the chart like `helm template` and lets Pulumi apply the objects, so
they show in previews and pass the policy pack. It does not run Helm hooks: a hook object
is applied as an ordinary object, and hooks that only make sense inside Helm's lifecycle
are switched off in each chart's values (with the reason next to the value).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import conventions
from components.versions import Chart


def namespace(name: str, component: str, opts: pulumi.ResourceOptions, **extra_labels: str) -> k8s.core.v1.Namespace:
    """Charts here install into an existing namespace (Helm's --create-namespace has no v4 equivalent)."""
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata={"name": name, "labels": {**conventions.standard_labels(name, name, component), **extra_labels}},
        opts=opts,
    )


def pinned_chart(
    release: str, chart: Chart, ns: k8s.core.v1.Namespace, values: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v4.Chart:
    """One release of `chart` at its exact version, installed after its namespace exists."""
    source: dict[str, Any] = (
        {"chart": f"{chart.repo}/{chart.name}"}
        if chart.is_oci
        else {"chart": chart.name, "repository_opts": k8s.helm.v4.RepositoryOptsArgs(repo=chart.repo)}
    )
    return k8s.helm.v4.Chart(
        release,
        name=release,
        namespace=ns.metadata.name,
        version=chart.version,
        values=values,
        **source,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ns])),
    )
