"""Continuity rules: what a restart of the platform's own proxies does to the requests they carry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from components import generated, upstream
from components.conventions import KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION
from policy.kube import INFERENCE_SERVICE, KNATIVE_SERVING, annotations_of, at, kind_of, name_of, namespace_of
from policy.rule import PolicyResource, StackValidationArgs, stack_rule

_DRAIN = upstream.KNATIVE_PROXY_DRAIN_SECONDS
_PROXIES = (
    f"Kourier's gateway drains {upstream.KOURIER_GATEWAY_DRAIN_SECONDS} s (terminationGracePeriodSeconds "
    f"{upstream.KOURIER_GATEWAY_TERMINATION_GRACE_SECONDS}), the activator "
    f"{upstream.KNATIVE_ACTIVATOR_TERMINATION_GRACE_SECONDS} s, and the Knative Operator can raise neither"
)


def _seconds(value: object) -> float | None:
    """A timeout as the API server stores it (an integer; the engine may hand a float, a
    ConfigMap value is a string); None for what is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    return None


def _default_timeout(args: StackValidationArgs) -> tuple[float, str]:
    """The request timeout of a revision that sets none: the stack's KnativeServing
    config-defaults `revision-timeout-seconds`, else Knative's own default."""
    for resource in args.resources:
        if kind_of(resource.resource_type) == KNATIVE_SERVING:
            configured = at(resource.props, "spec", "config", "defaults", upstream.KNATIVE_REVISION_TIMEOUT_KEY)
            seconds = _seconds(configured)
            if seconds is not None:
                return seconds, f"the KnativeServing's {upstream.KNATIVE_REVISION_TIMEOUT_KEY}"
    return float(upstream.KNATIVE_DEFAULT_REVISION_TIMEOUT_SECONDS), "Knative's default revision timeout"


def _revision_timeouts(resource: PolicyResource) -> Iterator[tuple[str, object]]:
    """(what, timeout as declared, None when unset) of each set of revisions Knative's
    proxies front for this object: a Knative-mode InferenceService's components, a Knative
    Service's or Configuration's revision template."""
    kind = kind_of(resource.resource_type)
    props = resource.props
    if not generated.runs_on_knative(kind, props):
        return
    if kind == INFERENCE_SERVICE:
        for component, spec in generated.components_of(props):
            yield f"its {component}'s timeout", generated.component_revision_timeout(spec)
    else:
        yield "its template's timeoutSeconds", at(props, "spec", "template", "spec", "timeoutSeconds")


def _accepted(props: Mapping) -> bool:
    return bool(str(annotations_of(props).get(KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION) or "").strip())


def _knative_timeouts_drainable(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    default, default_source = _default_timeout(args)
    for resource in args.resources:
        if _accepted(resource.props):
            continue
        kind = kind_of(resource.resource_type)
        for what, declared in _revision_timeouts(resource):
            seconds = _seconds(declared)
            source = what
            if seconds is None:
                seconds, source = default, f"{what} is unset, so {default_source}"
            if seconds > _DRAIN:
                name = f"{kind[1] if kind else resource.resource_type} {namespace_of(resource.props)}/"
                yield (
                    f"{name}{name_of(resource.props, resource.name)}: {source} ({seconds:g} s) is longer than "
                    f"Knative's proxies drain when they restart ({_PROXIES}), so a Knative upgrade, a node drain "
                    "or Kourier's autoscaler scaling down cuts its requests",
                    resource.urn,
                )


KNATIVE_TIMEOUTS_DRAINABLE = stack_rule(
    "knative-timeouts-drainable",
    "A Knative revision (a Knative-mode InferenceService's components, a Knative Service or "
    "Configuration) takes no longer per request than Knative's proxies can carry a request "
    f"through their own restart ({_DRAIN} s: {_PROXIES}), unless the object records why cut "
    "requests are acceptable.",
    _knative_timeouts_drainable,
    "Serve long requests from a Standard pool (the edge proxies and vLLM drain for the pool's "
    f"timeout), or state why cut requests are acceptable: the pool's acceptedRisks.knativeProxyRestart, "
    f"which sets the {KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION} annotation (on a hand-declared object, "
    "set the annotation to the reason).",
)
