"""What a real cluster's controllers do with the shipped stacks' renders (issue 17): each
check reads the render as the controller would (cited in the component that sets it)."""

from __future__ import annotations

from typing import Any

import pytest

from components import upstream
from components.chart_images import KNATIVE_SERVING_IMAGES
from components.conventions import KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION
from components.images import parse
from components.vllm_args import SHUTDOWN_TIMEOUT
from tests.conftest import SHIPPED_STACKS
from tools import render
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def stack(request) -> tuple[Any, render.Rendered]:
    loaded = load_stack(request.param)
    return loaded.spec, render.render(loaded)


def of_kind(rendered: render.Rendered, kind: str) -> list[dict[str, Any]]:
    return [m for m in rendered.manifests if m["kind"] == kind]


def knative_serving(rendered: render.Rendered) -> dict[str, Any]:
    (serving,) = of_kind(rendered, "KnativeServing")
    return serving["spec"]


def test_knative_pool_images_are_digests_or_their_registry_skips_tag_resolution(stack):
    spec, rendered = stack
    deployment = knative_serving(rendered)["config"]["deployment"]
    skipped = set(deployment.get("registries-skipping-tag-resolving", "").split(","))
    runtimes = {r["metadata"]["name"]: r for r in of_kind(rendered, "ServingRuntime")}
    knative = [
        i
        for i in of_kind(rendered, "InferenceService")
        if i["metadata"]["name"] in {p.name for p in spec.knative_pools}
    ]
    assert knative
    for isvc in knative:
        runtime = runtimes[isvc["spec"]["predictor"]["model"]["runtime"]]
        for container in runtime["spec"]["containers"]:
            image = parse(container["image"])
            assert image.digest or image.registry in skipped, (isvc["metadata"]["name"], str(image))


def test_every_knative_image_the_operator_runs_comes_through_the_mirror(stack):
    spec, rendered = stack
    override = knative_serving(rendered)["registry"]["override"]
    assert set(override) == set(KNATIVE_SERVING_IMAGES)  # the post-install `cleanup` Job's included
    assert all(parse(image).registry == spec.image_mirror.host for image in override.values())


def test_the_dcgm_service_monitor_carries_the_release_label(stack):
    spec, rendered = stack
    (chart,) = [r for r in rendered.resources if r["type"] == CHART_TYPE and r["name"] == "gpu-operator"]
    monitor = chart["inputs"]["values"]["dcgmExporter"]["serviceMonitor"]
    assert monitor == {"enabled": True, "additionalLabels": {"release": spec.monitoring.release_label}}


def test_local_rate_limits_times_the_proxies_equal_each_pools_limit(stack):
    spec, rendered = stack
    (proxy,) = of_kind(rendered, "EnvoyProxy")
    kubernetes = proxy["spec"]["provider"]["kubernetes"]
    replicas = kubernetes["envoyDeployment"]["replicas"]
    assert "envoyHpa" not in kubernetes  # fixed replicas: the share holds
    limits = {}
    for policy in of_kind(rendered, "BackendTrafficPolicy"):
        (rule,) = policy["spec"]["rateLimit"]["local"]["rules"]
        limits[policy["spec"]["targetRefs"][0]["name"]] = rule["limit"]["requests"] * replicas
    assert limits == {pool.name: pool.requests_per_minute for pool in spec.pools}


def test_every_standard_pool_has_a_deployment_strategy(stack):
    spec, rendered = stack
    standard = {pool.name for pool in spec.pools if pool.mode == "standard"}
    strategies = {
        i["metadata"]["name"]: i["spec"]["predictor"].get("deploymentStrategy")
        for i in of_kind(rendered, "InferenceService")
        if i["metadata"]["name"] in standard
    }
    assert standard and all(strategies.values()), strategies
    for strategy in strategies.values():
        rolling = strategy["rollingUpdate"]
        assert strategy["type"] == "RollingUpdate" and (rolling["maxSurge"], rolling["maxUnavailable"]) in {
            (1, 0),
            (0, 1),
        }


def test_kserve_waits_for_keda_and_a_ready_knative_serving(stack):
    _, rendered = stack
    (serving,) = [r for r in rendered.resources if r["type"].endswith(":KnativeServing")]
    assert serving["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_no_knative_pool_runs_requests_past_its_proxies_drain_unless_accepted(stack):
    """Issue 17 fix 5: Knative's proxies keep their own grace periods (Kourier's gateway 30 s
    with a 15 s drain, the activator 600 s; the operator can raise neither), so a revision's
    timeout beyond them is either accepted, with its reason, or not rendered."""
    spec, rendered = stack
    knative = [
        i
        for i in of_kind(rendered, "InferenceService")
        if i["metadata"]["name"] in {p.name for p in spec.knative_pools}
    ]
    assert knative
    for isvc in knative:
        predictor = isvc["spec"]["predictor"]
        # Once a pod serves, requests bypass the activator (upstream.KNATIVE_TARGET_BURST_CAPACITY).
        assert predictor["annotations"][upstream.KNATIVE_TARGET_BURST_CAPACITY] == "0"
        if predictor["timeout"] > upstream.KNATIVE_PROXY_DRAIN_SECONDS:
            reason = isvc["metadata"]["annotations"][KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION]
            assert len(reason) >= 10, isvc["metadata"]["name"]


def _seconds(duration: str) -> int:
    assert duration.endswith("s") and duration[:-1].isdigit(), duration
    return int(duration[:-1])


def test_a_stopping_pool_pod_finishes_the_requests_it_serves(stack):
    """vLLM drains for the pool's timeout on SIGTERM (its default, 0, aborts them), and the
    pod's grace period outlasts that drain: Knative gives its revision pods the revision's
    timeout; a Standard pool sets it on the predictor."""
    _, rendered = stack
    for isvc in of_kind(rendered, "InferenceService"):
        predictor = isvc["spec"]["predictor"]
        args = predictor["model"]["args"]
        drain = int(args[args.index(SHUTDOWN_TIMEOUT.name) + 1])
        assert drain > 0
        if isvc["metadata"]["annotations"][upstream.KSERVE_DEPLOYMENT_MODE] in upstream.KSERVE_KNATIVE_MODES:
            assert predictor["timeout"] >= drain, isvc["metadata"]["name"]
        else:
            assert predictor["terminationGracePeriodSeconds"] >= drain + 10, isvc["metadata"]["name"]


def test_a_stopping_edge_proxy_finishes_every_request_a_route_allows(stack):
    _, rendered = stack
    (proxy,) = of_kind(rendered, "EnvoyProxy")
    drain = _seconds(proxy["spec"]["shutdown"]["drainTimeout"])
    routes = of_kind(rendered, "HTTPRoute")
    assert routes
    for route in routes:
        for rule in route["spec"]["rules"]:
            assert _seconds(rule["timeouts"]["request"]) <= drain, route["metadata"]["name"]
