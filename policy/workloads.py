"""Model pods, found by what they run rather than by our labels: every pod an InferenceService
or an LLMInferenceService makes, and every workload pod that starts vLLM (its image, its
command, a `sh -c` script, `python -m vllm...`) or downloads model weights (a warm-up Job).

The stack rules that judge isolation and exposure read them through `model_pods`: for each,
the labels its pods carry (so a NetworkPolicy or a Service selector can be matched against
them), the ports it serves inference on, and, for a downloader, the ports of the mirrors it
is configured to reach. Pure: mappings in, dataclasses out, no Pulumi import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from components import upstream
from components.vllm_args import PORT
from policy import flags
from policy.commands import HUB_DOWNLOAD
from policy.kube import (
    INFERENCE_SERVICE,
    LLM_INFERENCE_SERVICE,
    LLM_POD_SPECS,
    Container,
    Pod,
    at,
    containers,
    kind_of,
    labels_of,
    mapping,
    name_of,
    namespace_of,
    pods,
    sequence,
)

# vLLM's own default serving port (vllm/entrypoints/openai/cli_args.py `--port`).
VLLM_DEFAULT_PORT = 8000
# Env that names where a downloader fetches from (huggingface_hub HF_ENDPOINT; the AWS SDKs'
# endpoint overrides): their ports are the mirror ports its egress may reach.
MIRROR_ENDPOINT_ENV = ("HF_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
HTTPS_PORT = 443


def downloads(container: Container) -> bool:
    return bool(HUB_DOWNLOAD.search(" ".join(container.command_line)))


# --- model pods ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPod:
    """The pods of one model workload, as NetworkPolicies and Services see them."""

    where: str  # as messages name it: "InferenceService llm-serving/chat predictor"
    urn: str
    namespace: str
    labels: Mapping[str, Any]
    serving_ports: frozenset[int | str]  # numbers and names that answer inference
    other_ports: frozenset[int | str] = frozenset()  # Knative's sidecar admin and metrics ports
    knative: bool = False  # fronted by Knative's activator and Kourier
    downloader: bool = False  # fetches weights: may reach its mirrors
    mirror_ports: frozenset[int] = frozenset()


def model_pods(resources: Sequence[Any]) -> list[ModelPod]:
    runtimes = _runtimes(resources)
    found: list[ModelPod] = []
    for resource in resources:
        kind = kind_of(resource.resource_type)
        if kind is None:
            continue
        if kind == INFERENCE_SERVICE:
            found.extend(_inference_service_pods(resource, runtimes))
        elif kind == LLM_INFERENCE_SERVICE:
            found.extend(_llm_inference_service_pods(resource))
        elif kind == LOCAL_MODEL_CACHE:
            found.append(_local_model_download(resource))
        else:
            found.extend(_workload_pods(resource))
    return found


def _describe(resource: Any) -> str:
    props = resource.props
    return f"{resource.resource_type.rpartition(':')[2]} {namespace_of(props)}/{name_of(props, resource.name)}"


def _runtimes(resources: Sequence[Any]) -> dict[tuple[str | None, str], Mapping]:
    """ServingRuntimes by (namespace, name), ClusterServingRuntimes by (None, name)."""
    found: dict[tuple[str | None, str], Mapping] = {}
    for resource in resources:
        kind = kind_of(resource.resource_type)
        if kind and kind[0] == upstream.KSERVE_API_GROUP and kind[1] in ("ServingRuntime", "ClusterServingRuntime"):
            namespace = namespace_of(resource.props) if kind[1] == "ServingRuntime" else None
            found[(namespace, name_of(resource.props, resource.name))] = resource.props
    return found


def _ports_of(container_specs: Sequence[Mapping], argv: Sequence[str], vllm: bool) -> set[int | str]:
    ports: set[int | str] = set()
    for spec in container_specs:
        for port in map(mapping, sequence(spec.get("ports"))):
            if port.get("containerPort") is not None:
                ports.add(int(port["containerPort"]))
            if port.get("name"):
                ports.add(str(port["name"]))
    if vllm:
        ports.add(flags.integer(flags.last_value(argv, PORT.name), default=VLLM_DEFAULT_PORT))
    return ports


def _inference_service_pods(resource: Any, runtimes: dict) -> Iterator[ModelPod]:
    props = resource.props
    namespace, name = namespace_of(props), name_of(props, resource.name)
    mode = str(mapping(at(props, "metadata", "annotations")).get(upstream.KSERVE_DEPLOYMENT_MODE, ""))
    knative = mode in upstream.KSERVE_KNATIVE_MODES
    for pod in pods(resource.resource_type, props):
        component = pod.path.rpartition(".")[2]
        model = next((spec for _, spec in pod.model_containers), {})
        runtime_name = str(mapping(model).get("runtime") or "")
        runtime = runtimes.get((namespace, runtime_name)) or runtimes.get((None, runtime_name)) or {}
        runtime_containers = [mapping(c) for c in sequence(at(runtime, "spec", "containers"))]
        labels = {
            **mapping(at(runtime, "spec", "labels")),
            **pod.labels,
            **upstream.kserve_pod_labels(name, component),
        }
        argv = [str(a) for c in runtime_containers for a in sequence(c.get("args"))]
        argv += [str(a) for a in sequence(mapping(model).get("args"))]
        ports = _ports_of([*runtime_containers, *map(mapping, sequence(pod.spec.get("containers")))], argv, False)
        ports |= {flags.integer(flags.last_value(argv, PORT.name), default=upstream.KSERVE_DEFAULT_HTTP_PORT)}
        other: set[int | str] = set()
        if knative:
            labels[upstream.KNATIVE_SERVICE_LABEL] = f"{name}-{component}"
            ports |= {upstream.QUEUE_PROXY_PORT, upstream.QUEUE_PROXY_PORT_NAME, upstream.KNATIVE_USER_PORT}
            other = {number for port, number in upstream.QUEUE_PROXY_PORTS if port != upstream.QUEUE_PROXY_PORT_NAME}
            other |= {port for port, _ in upstream.QUEUE_PROXY_PORTS if port != upstream.QUEUE_PROXY_PORT_NAME}
        where = f"{_describe(resource)} {component}"
        # KServe's storage initializer (an init container of the same pod) fetches any storageUri
        # but a claim's, so such a pod may reach its mirror like a warm-up Job.
        uri = str(mapping(model).get("storageUri") or "")
        fetches = bool(uri) and not uri.startswith("pvc://")
        yield ModelPod(where, resource.urn, namespace, labels, frozenset(ports), frozenset(other), knative,
                       downloader=fetches, mirror_ports=frozenset({HTTPS_PORT}) if fetches else frozenset())  # fmt: skip


def _llm_inference_service_pods(resource: Any) -> Iterator[ModelPod]:
    # KServe runs vLLM in every LLMInferenceService (its LLMInferenceServiceConfig templates),
    # also where the resource leaves the template to the config.
    props = resource.props
    found: list[Pod | None] = [*pods(resource.resource_type, props)] or [None]
    for pod in found:
        specs = [mapping(c) for c in sequence(pod.spec.get("containers"))] if pod else []
        argv = [str(word) for c in specs for word in [*sequence(c.get("command")), *sequence(c.get("args"))]]
        labels = pod.labels if pod else {**labels_of(props), **mapping(at(props, "spec", "labels"))}
        where = f"{_describe(resource)} {pod.path if pod else LLM_POD_SPECS[0][-1]}"
        yield ModelPod(where, resource.urn, namespace_of(props), labels, frozenset(_ports_of(specs, argv, True)))


# A LocalModelCache is filled by KServe's download Jobs, in the namespace the KServe chart's
# `kserve.localmodel.jobNamespace` names (upstream.LOCAL_MODEL_JOB_NAMESPACE); their labels are
# KServe's, so only policies that select every pod of that namespace are known to apply.
LOCAL_MODEL_CACHE = (upstream.KSERVE_API_GROUP, "LocalModelCache")


def _local_model_download(resource: Any) -> ModelPod:
    where = f"download Jobs of {_describe(resource)} in {upstream.LOCAL_MODEL_JOB_NAMESPACE}"
    return ModelPod(where, resource.urn, upstream.LOCAL_MODEL_JOB_NAMESPACE, {}, frozenset(),
                    downloader=True, mirror_ports=frozenset({HTTPS_PORT}))  # fmt: skip


def _workload_pods(resource: Any) -> Iterator[ModelPod]:
    kind = kind_of(resource.resource_type)
    by_pod: dict[str, list[Container]] = {}
    for container in containers(resource.resource_type, resource.props):
        if not container.pod.is_runtime_template:
            by_pod.setdefault(container.pod.path, []).append(container)
    for found in by_pod.values():
        vllm = [c for c in found if c.is_vllm]
        downloaders = [c for c in found if downloads(c)]
        if not vllm and not downloaders:
            continue
        pod = found[0].pod
        argv = [word for c in vllm for word in c.argv]
        ports = _ports_of([c.spec for c in found], argv, bool(vllm))
        mirror_ports = frozenset(port for c in downloaders for port in _mirror_ports(c))
        yield ModelPod(
            f"{_describe(resource)}",
            resource.urn,
            namespace_of(resource.props),
            pod.labels,
            frozenset(ports),
            knative=kind is not None and kind[0] == upstream.KNATIVE_SERVING_API_GROUP,
            downloader=bool(downloaders),
            mirror_ports=mirror_ports,
        )


def _mirror_ports(container: Container) -> Iterator[int]:
    """The ports a downloader's configured endpoints listen on; HTTPS (the public hub, S3) when it names none."""
    named = False
    for entry in map(mapping, sequence(container.spec.get("env"))):
        if entry.get("name") in MIRROR_ENDPOINT_ENV and entry.get("value"):
            parts = urlsplit(str(entry["value"]))
            try:
                port = parts.port
            except ValueError:
                continue
            named = True
            yield port or (80 if parts.scheme == "http" else HTTPS_PORT)
    if not named:
        yield HTTPS_PORT
