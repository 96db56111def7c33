"""A real Prometheus scrapes a real vLLM serving the `dev` chat pool, and the expressions we
generate run against what it stored: the KEDA query, the queue and TTFT alert expressions
and every vLLM panel query of the dashboard.

The scrape config is the rendered PodMonitor as the Prometheus Operator turns it into a
scrape job (`keep` on the selector's labels and the endpoint's port, the operator's
`namespace`/`pod`/`container`/`endpoint`/`job` target labels, then the endpoint's own
relabelings, copied from the render), with one static target standing in for Kubernetes
discovery: the `__meta_kubernetes_*` labels a predictor pod of the pool would have (its
labels from the InferenceService, the container port name from the ServingRuntime).
What differs, and why: the target (loopback, not pod discovery) and the scrape interval
(1 s instead of the rendered 15 s, so a bounded flood of a few seconds leaves samples).
Prometheus runs on loopback, a free port, storage in a temporary directory, stopped by PID.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from components import alerts, metrics
from tests import serving_stacks, vllm_server
from tests.tiny_model import tiny_model
from tools import promql

pytestmark = pytest.mark.serving

STACK, POOL = serving_stacks.PROMETHEUS_POOL.split("/")
SCRAPE_INTERVAL = "1s"
FLOOD_REQUESTS = 160  # above the chat pool's max-num-seqs (64), so requests wait in vLLM's queue
FLOOD_MAX_TOKENS = 192
FLOOD_SECONDS = 120  # the flood's bound in time


def _pool() -> serving_stacks.ServedPool:
    return serving_stacks.served_pool(serving_stacks.PROMETHEUS_POOL)


def _manifest(kind: str, name: str) -> dict[str, Any]:
    return next(
        o for o in serving_stacks.rendered(STACK).manifests if o["kind"] == kind and o["metadata"]["name"] == name
    )


def _meta(label: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def scrape_config(port: int) -> dict[str, Any]:
    """The rendered PodMonitor as a Prometheus scrape job, for a pod of the pool on `port`."""
    pool = _pool()
    monitor = next(o for o in serving_stacks.rendered(STACK).manifests if o["kind"] == "PodMonitor")
    isvc = _manifest("InferenceService", POOL)
    runtime = _manifest("ServingRuntime", isvc["spec"]["predictor"]["model"]["runtime"])
    container = runtime["spec"]["containers"][0]
    pod_labels = isvc["spec"]["predictor"]["labels"]
    namespace = isvc["metadata"]["namespace"]
    assert namespace in monitor["spec"]["namespaceSelector"]["matchNames"]
    discovered = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": serving_stacks.pod_name(pool),
        "__meta_kubernetes_pod_container_name": container["name"],
        "__meta_kubernetes_pod_container_port_name": container["ports"][0]["name"],
        **{f"__meta_kubernetes_pod_label_{_meta(k)}": v for k, v in pod_labels.items()},
        **{f"__meta_kubernetes_pod_labelpresent_{_meta(k)}": "true" for k in pod_labels},
    }
    selector = monitor["spec"]["selector"]
    monitor_id = f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}"
    jobs = []
    for index, endpoint in enumerate(monitor["spec"]["podMetricsEndpoints"]):
        keep = [
            {"action": "keep", "source_labels": [f"__meta_kubernetes_pod_label_{_meta(k)}"], "regex": v}
            for k, v in selector.get("matchLabels", {}).items()
        ] + [
            {
                "action": "keep",
                "source_labels": [f"__meta_kubernetes_pod_labelpresent_{_meta(e['key'])}"],
                "regex": "true",
            }
            for e in selector.get("matchExpressions", [])
            if e["operator"] == "Exists"
        ]
        operator = [
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": endpoint["port"],
            },
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"target_label": "job", "replacement": monitor_id},
            {"target_label": "endpoint", "replacement": endpoint["port"]},
        ]
        ours = [_snake(r) for r in endpoint.get("relabelings", [])]
        jobs.append({
            "job_name": f"podMonitor/{monitor_id}/{index}",
            "metrics_path": endpoint["path"],
            "scrape_interval": SCRAPE_INTERVAL,
            "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": discovered}],
            "relabel_configs": keep + operator + ours,
        })  # fmt: skip
    return {"global": {"scrape_interval": SCRAPE_INTERVAL}, "scrape_configs": jobs}


def _snake(relabeling: dict[str, Any]) -> dict[str, Any]:
    names = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    return {names.get(key, key): value for key, value in relabeling.items()}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(vLLM URL, Prometheus URL), both alive for the module."""
    pool = _pool()
    assert pool.api_key_config is None  # dev checks keys at the gateway only; Prometheus sends none anyway
    server = vllm_server.take(serving_stacks.PROMETHEUS_POOL)  # left running by test_serving_pools.py
    if server is None:  # this module alone
        port = vllm_server.free_port()
        arguments = vllm_server.loopback_arguments(pool.arguments, tiny_model(), port)
        server = vllm_server.start(arguments, log_name="prometheus-dev-chat", port=port)
    try:
        with _prometheus(scrape_config(server.port), tmp_path_factory.mktemp("prometheus")) as prometheus:
            yield server.base_url, prometheus
    finally:
        vllm_server.stop(server)


@pytest.fixture(scope="module")
def flooded(stack) -> tuple[str, float, float]:
    """A bounded flood through the chat pool; (Prometheus URL, flood start, flood end)."""
    vllm_url, prometheus = stack
    _wait_for_target(prometheus)
    pool = _pool()
    body = {"model": pool.served_model_name, "prompt": "Tell me about the pools.", "max_tokens": FLOOD_MAX_TOKENS,
            "ignore_eos": True}  # fmt: skip
    deadline = time.monotonic() + FLOOD_SECONDS
    statuses: list[int] = []

    def one() -> None:
        if time.monotonic() < deadline:
            statuses.append(vllm_server.request(f"{vllm_url}/v1/completions", body, timeout=FLOOD_SECONDS).status)

    start = time.time()
    threads = [threading.Thread(target=one) for _ in range(FLOOD_REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=FLOOD_SECONDS + 10)
    end = time.time()
    assert statuses.count(200) == FLOOD_REQUESTS, statuses
    time.sleep(3)  # two more scrapes after the last request
    return prometheus, start, end


def test_the_keda_query_sees_the_queue(flooded):
    prometheus, start, end = flooded
    isvc = _manifest("InferenceService", POOL)
    (query,) = [expr for _, expr in promql.expressions(isvc)]
    values = _range(prometheus, query, start, end)
    assert values, f"KEDA query returned nothing: {query}"
    assert max(values) > 0, f"no request ever waited during the flood: {query}"


def test_the_queue_alerts_waiting_clause_and_the_alert_expression_evaluate(flooded):
    prometheus, start, end = flooded
    expr = _alert(alerts.QUEUE_GROWING)["expr"]
    waiting, _, growing = expr.partition(" and ")
    assert growing.startswith("deriv("), expr  # the clause needs minutes of history: promtool tests it
    assert _range(prometheus, waiting, start, end), f"never true during the flood: {waiting}"
    _instant(prometheus, expr)  # evaluates (empty here: a few seconds are no growing trend)


def test_the_ttft_alert_expression_matches_its_p95(flooded):
    prometheus, _, end = flooded
    rule = _alert(alerts.TTFT_ABOVE_SLO)
    parsed = promql_parser.parse(rule["expr"])
    assert isinstance(parsed, promql_parser.BinaryExpr) and isinstance(parsed.rhs, promql_parser.NumberLiteral)
    p95 = _instant(prometheus, str(parsed.lhs), at=end)
    assert len(p95) == 1 and p95[0]["metric"] == {metrics.POOL: POOL}, p95
    value = float(p95[0]["value"][1])
    assert math.isfinite(value) and value > 0
    fired = _instant(prometheus, rule["expr"], at=end)
    assert bool(fired) == (value > parsed.rhs.val), (value, parsed.rhs.val, fired)


def test_every_vllm_panel_query_of_the_dashboard_returns_series(flooded):
    prometheus, _, end = flooded
    dashboard = next(
        o
        for o in serving_stacks.rendered(STACK).manifests
        if o["kind"] == "ConfigMap" and "dashboard" in o["metadata"]["name"]
    )
    queries = [
        (where, expr)
        for where, expr in promql.expressions(dashboard)
        if f'{metrics.POOL}="{POOL}"' in expr
        and all(n.startswith("vllm:") for n in promql.metric_names(promql_parser.parse(expr)))
    ]
    assert len(queries) >= 10, queries
    for where, expr in queries:
        result = _instant(prometheus, expr, at=end)
        assert result, f"{where}: no series for {expr}"
        assert all(math.isfinite(float(sample["value"][1])) for sample in result), (where, result)


def _alert(name: str) -> dict[str, Any]:
    rules = [rule for group in serving_stacks.rule_groups(STACK)[POOL] for rule in group["rules"]]
    return next(rule for rule in rules if rule["alert"] == name)


# --- Prometheus ------------------------------------------------------------------------


class _prometheus:
    """Prometheus on a free loopback port with `config`; stopped by PID on exit."""

    def __init__(self, config: dict[str, Any], directory: Path) -> None:
        self.config, self.directory = config, directory

    def __enter__(self) -> str:
        config_file = self.directory / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        port = vllm_server.free_port()
        self.log_path = self.directory / "prometheus.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config_file}", f"--storage.tsdb.path={self.directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not _ready(url):
            if not self._alive() or time.monotonic() > deadline:
                self.__exit__()
                raise AssertionError(f"Prometheus did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        return url

    def _alive(self) -> bool:
        return self.process.poll() is None

    def __exit__(self, *exc: object) -> None:
        if self._alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.log.close()


def _ready(url: str) -> bool:
    try:
        return vllm_server.request(f"{url}/-/ready", timeout=2).status == 200
    except OSError:
        return False


def _api(prometheus: str, path: str, **params: Any) -> Any:
    reply = vllm_server.request(f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30)
    assert reply.status == 200, reply.body[:500]
    data = reply.json()
    assert data["status"] == "success", data
    return data["data"]


def _instant(prometheus: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    return list(_api(prometheus, "query", query=expr, **({"time": at} if at else {}))["result"])


def _range(prometheus: str, expr: str, start: float, end: float) -> list[float]:
    result = _api(prometheus, "query_range", query=expr, start=start, end=end, step="1s")["result"]
    return [float(value) for series in result for _, value in series["values"]]


def _wait_for_target(prometheus: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        targets = _api(prometheus, "targets")["activeTargets"]
        if any(t["health"] == "up" for t in targets):
            up = [t for t in targets if t["health"] == "up"]
            assert len(up) == 1 and up[0]["labels"][metrics.POOL] == POOL, json.dumps(targets)[:2000]
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never scraped vLLM: {_api(prometheus, 'targets')}")
