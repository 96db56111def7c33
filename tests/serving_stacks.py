"""The vLLM pools of every shipped stack, as the serving tier starts them: one entry per
distinct rendered `vllm serve` argument list, with what the tests assert against, all read
from the render (probes, served model name, caps, the API-key `--config` file, labels).

The render masks every secret as `[secret]`; to get the `--config` file vLLM would read,
each stack is rendered here with two test clients' keys in `apiKeys` (as `pulumi config set
--secret` would give them) and the mock runtime's masking switched off for that render.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, replace
from typing import Any

from components import conventions, metrics, monitoring, vllm_args
from components.secret_config import API_KEYS_KEY
from tests.conftest import SHIPPED_STACKS
from tools import mockrun, render, vllm_parser
from tools.k8s_objects import dig
from tools.stackfile import load_stack

# Two clients, so "each client's key" means more than one; shaped as secret_config allows.
TEST_CLIENT_KEYS = {
    "serving-test-a": "serving-test-key-a-0123456789",
    "serving-test-b": "serving-test-key-b-9876543210",
}
SERVING_NAMESPACE_KIND = "InferenceService"
# The pool the real-Prometheus test scrapes (a Standard chat pool with KEDA); the pool tests
# leave its server running for it.
PROMETHEUS_POOL = "dev/chat"


@dataclass(frozen=True)
class Probe:
    path: str
    port: int


@dataclass(frozen=True)
class ServedPool:
    """One distinct argument list, and every (stack, pool) that renders it."""

    arguments: tuple[str, ...]
    where: tuple[str, ...]  # "dev/chat", ...
    namespace: str
    pool: str
    workload_class: str
    model_label: str
    served_model_name: str
    max_model_len: int
    default_max_tokens: int
    tensor_parallel_size: int
    probes: tuple[Probe, ...]
    api_key_config: str | None  # the --config file's content, None without --config
    client_keys: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return "+".join(self.where)


def _value(arguments: tuple[str, ...], flag: str) -> str:
    return arguments[arguments.index(flag) + 1]


@functools.cache
def rendered(stack: str) -> render.Rendered:
    """`stack` rendered with TEST_CLIENT_KEYS and secrets left readable."""
    loaded = load_stack(stack)
    config = {**loaded.config, API_KEYS_KEY: dict(TEST_CLIENT_KEYS)}
    original = mockrun._masked
    mockrun._masked = mockrun._plain  # the test needs the Secret's content the pod would mount
    try:
        return render.render(replace(loaded, config=config))
    finally:
        mockrun._masked = original


@functools.cache
def served_pools() -> tuple[ServedPool, ...]:
    """Every distinct argument list of every pool of every shipped stack, in a stable order."""
    found: dict[tuple[str, ...], ServedPool] = {}
    for stack in SHIPPED_STACKS:
        manifests = rendered(stack).manifests
        for resource, arguments in vllm_parser.serve_arguments(manifests).items():
            key = tuple(arguments)
            name = resource.rsplit("/", 1)[1]
            if key in found:
                found[key] = replace(found[key], where=(*found[key].where, f"{stack}/{name}"))
                continue
            found[key] = _served_pool(stack, name, key, manifests)
    return tuple(found.values())


def _served_pool(stack: str, name: str, arguments: tuple[str, ...], manifests: list[dict[str, Any]]) -> ServedPool:
    isvc = next(o for o in manifests if o["kind"] == SERVING_NAMESPACE_KIND and o["metadata"]["name"] == name)
    namespace = isvc["metadata"]["namespace"]
    model = dig(isvc, "spec", "predictor", "model")
    labels = dig(isvc, "spec", "predictor", "labels")
    probes = tuple(
        Probe(model[probe]["httpGet"]["path"], int(model[probe]["httpGet"]["port"]))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
        if probe in model
    )
    config = None
    if vllm_args.CONFIG.name in arguments:
        config = _mounted_file(manifests, model, isvc, _value(arguments, vllm_args.CONFIG.name))
    overrides = json.loads(_value(arguments, vllm_args.OVERRIDE_GENERATION_CONFIG.name))
    return ServedPool(
        arguments=arguments,
        where=(f"{stack}/{name}",),
        namespace=namespace,
        pool=labels[conventions.POOL_LABEL],
        workload_class=labels[conventions.CLASS_LABEL],
        model_label=labels[conventions.MODEL_LABEL],
        served_model_name=_value(arguments, vllm_args.SERVED_MODEL_NAME.name),
        max_model_len=int(_value(arguments, vllm_args.MAX_MODEL_LEN.name)),
        default_max_tokens=int(overrides["max_new_tokens"]),
        tensor_parallel_size=int(_value(arguments, vllm_args.TENSOR_PARALLEL_SIZE.name)),
        probes=probes,
        api_key_config=config,
        client_keys=tuple(TEST_CLIENT_KEYS.values()) if config else (),
    )


def _mounted_file(manifests: list[dict[str, Any]], model: dict[str, Any], isvc: dict[str, Any], path: str) -> str:
    """The content of `path` in the predictor: the Secret volume mounted at its directory."""
    directory, file_name = path.rsplit("/", 1)
    mount = next(m for m in model["volumeMounts"] if m["mountPath"] == directory)
    volume = next(v for v in dig(isvc, "spec", "predictor", "volumes") if v["name"] == mount["name"])
    secret_name = volume["secret"]["secretName"]
    secret = next(
        o
        for o in manifests
        if o["kind"] == "Secret"
        and o["metadata"]["name"] == secret_name
        and o["metadata"]["namespace"] == isvc["metadata"]["namespace"]
    )
    return str(secret["stringData"][file_name])


def served_pool(where: str) -> ServedPool:
    """The served pool of "<stack>/<pool>"."""
    return next(pool for pool in served_pools() if where in pool.where)


def rule_groups(stack: str) -> dict[str, list[dict[str, Any]]]:
    """The rendered PrometheusRule groups of `stack`, by the pool their rules label."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for obj in rendered(stack).manifests:
        if obj["kind"] == "PrometheusRule":
            for group in obj["spec"]["groups"]:
                (pool,) = {rule["labels"][metrics.POOL] for rule in group["rules"]}
                groups.setdefault(pool, []).append(group)
    return groups


def target_labels(pool: ServedPool) -> dict[str, str]:
    """The labels our PodMonitor's relabelings put on every series of this pool's pods
    (monitoring.TARGET_LABELS, from the pod labels the InferenceService gives its predictor)."""
    pod_labels = {
        conventions.POOL_LABEL: pool.pool,
        conventions.CLASS_LABEL: pool.workload_class,
        conventions.MODEL_LABEL: pool.model_label,
    }
    return {target: pod_labels[pod_label] for target, pod_label in monitoring.TARGET_LABELS.items()}


def pod_name(pool: ServedPool) -> str:
    """A pod name as KServe's Deployment (or Knative's revision) would give a predictor pod."""
    return f"{pool.pool}-predictor-00001-deployment-7c9d8f6b5-x2k4q"
