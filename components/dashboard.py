"""The Grafana dashboard of a stack's serving pools, generated from the spec.

One row per pool, each with the same panels, so a new pool appears without anyone
editing JSON. Panels show what the engine feels (latency, queue, KV cache, tokens,
failures) next to what Kubernetes and the GPUs report, because a Running pod is not
proof of serving health. Pure Python, no Pulumi imports; `dashboard_json` is
byte-identical for the same input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components import conventions, metrics
from components.spec import PoolSpec

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_WIDTH = 6
PANEL_HEIGHT = 8
GRID_COLUMNS = 24
PANELS_PER_LINE = GRID_COLUMNS // PANEL_WIDTH
SCHEMA_VERSION = 39


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    queries: tuple[Query, ...]
    slo: float | None = None  # drawn as a red line
    max: float | None = None


def dashboard_json(title: str, uid: str, namespace: str, pools: Sequence[PoolSpec]) -> str:
    return json.dumps(dashboard(title, uid, namespace, pools), indent=2, sort_keys=True) + "\n"


def dashboard(title: str, uid: str, namespace: str, pools: Sequence[PoolSpec]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for pool in pools:
        panels.append(_row(len(panels) + 1, pool, y))
        y += 1
        pool_panels = pool_panel_specs(pool, namespace)
        for index, spec in enumerate(pool_panels):
            line, column = divmod(index, PANELS_PER_LINE)
            panels.append(_panel(len(panels) + 1, spec, column * PANEL_WIDTH, y + line * PANEL_HEIGHT))
        y += math.ceil(len(pool_panels) / PANELS_PER_LINE) * PANEL_HEIGHT
    return {
        "title": title,
        "uid": uid,
        "tags": [conventions.PART_OF, "vllm"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {"list": [_datasource_variable()]},
        "panels": panels,
    }


def pool_panel_specs(pool: PoolSpec, namespace: str) -> list[Panel]:
    engine = metrics.vllm_pool(namespace, pool.name)
    pod_regex = conventions.predictor_pod_regex(pool.name)
    pods = metrics.pool_pods("namespace", namespace, "pod", pod_regex)
    gpus = metrics.pool_pods(metrics.DCGM_NAMESPACE, namespace, metrics.DCGM_POD, pod_regex)
    return [
        _percentiles("Time to first token", metrics.VLLM_TTFT, engine, slo=pool.slo.ttft_p95_seconds),
        _percentiles("Inter-token latency", metrics.VLLM_INTER_TOKEN_LATENCY, engine),
        _percentiles("End-to-end request latency", metrics.VLLM_E2E_LATENCY, engine, slo=pool.slo.e2e_p95_seconds),
        Panel("Requests waiting / running", "short", (
            Query(_sum(metrics.series(metrics.VLLM_REQUESTS_WAITING, *engine)), "waiting"),
            Query(_sum(metrics.series(metrics.VLLM_REQUESTS_RUNNING, *engine)), "running"),
        )),
        Panel("KV-cache usage", "percentunit", (
            Query(metrics.by("max", "pod", metrics.series(metrics.VLLM_KV_CACHE_USAGE, *engine)), "{{pod}}"),
        ), max=1),
        Panel("Tokens per second", "short", (
            Query(_sum(metrics.rate(metrics.VLLM_PROMPT_TOKENS, *engine)), "prompt"),
            Query(_sum(metrics.rate(metrics.VLLM_GENERATION_TOKENS, *engine)), "generation"),
        )),
        Panel("Finished requests by reason", "reqps", (
            Query(metrics.by("sum", metrics.FINISHED_REASON, metrics.rate(metrics.VLLM_REQUEST_SUCCESS, *engine)),
                  f"{{{{{metrics.FINISHED_REASON}}}}}"),
        )),
        Panel("Replicas: Running, Ready, serving metrics", "short", (
            Query(_sum(metrics.series(metrics.KSM_POD_PHASE, *pods, metrics.equal("phase", "Running"))), "Running"),
            Query(_sum(metrics.series(metrics.KSM_POD_READY, *pods, metrics.equal("condition", "true"))), "Ready"),
            Query(f"count({metrics.series(metrics.VLLM_REQUESTS_RUNNING, *engine)})", "engines reporting"),
        )),
        Panel("GPU utilisation (DCGM)", "percent", (
            Query(metrics.by("avg", metrics.DCGM_POD, metrics.series(metrics.DCGM_GPU_UTIL, *gpus)),
                  f"{{{{{metrics.DCGM_POD}}}}}"),
        ), max=100),
        Panel("GPU memory used (DCGM)", "mbytes", (
            Query(metrics.by("sum", metrics.DCGM_POD, metrics.series(metrics.DCGM_FB_USED, *gpus)),
                  f"{{{{{metrics.DCGM_POD}}}}}"),
        )),
    ]  # fmt: skip


def _percentiles(title: str, histogram: str, engine: tuple[str, ...], slo: float | None = None) -> Panel:
    queries = tuple(
        Query(metrics.histogram_quantile(quantile, histogram, engine), f"p{round(quantile * 100)}")
        for quantile in (0.5, 0.95)
    )
    return Panel(title, "s", queries, slo=slo)


def _sum(expr: str) -> str:
    return f"sum({expr})"


def _row(panel_id: int, pool: PoolSpec, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "row",
        "title": f"{pool.name}: {pool.workload_class} pool, model {pool.model}, {pool.mode} mode",
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_COLUMNS, "x": 0, "y": y},
        "panels": [],
    }


def _panel(panel_id: int, spec: Panel, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": spec.unit, "min": 0}
    if spec.max is not None:
        defaults["max"] = spec.max
    if spec.slo is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": spec.slo}],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": spec.title if spec.slo is None else f"{spec.title} (SLO p95 {metrics.number(spec.slo)}s)",
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + index), "datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend}
            for index, query in enumerate(spec.queries)
        ],
    }


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "current": {}}
