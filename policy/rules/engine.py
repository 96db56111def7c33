"""Engine rules: how a vLLM pod is configured, sized, probed and scaled."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from components import generated, upstream
from components.conventions import (
    GPU_RESOURCE,
    KSERVE_DEPLOYMENT_MODE,
    MODEL_LABEL,
    POOL_LABEL,
    PREDICTOR_SUFFIX,
)  # fmt: skip
from components.pool_defaults import CONTEXT_CAPS
from components.vllm_args import MAX_MODEL_LEN, MAX_NUM_SEQS, SHUTDOWN_TIMEOUT, TENSOR_PARALLEL_SIZE
from policy import flags
from policy.kube import (
    INFERENCE_SERVICE,
    Container,
    Pod,
    annotations_of,
    at,
    containers,
    kind_of,
    labels_of,
    mapping,
    pods,
    sequence,
    vllm_servers,
)
from policy.rule import PolicyConfigSchema, ResourceValidationArgs, resource_rule, setting

_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
# Endpoints that make the engine do model work: a probe on one burns GPU time on every
# check and fails under load exactly when the pool is busiest.
_GENERATION_PATH = re.compile(
    r"/(v1/)?(chat/completions|completions|responses|messages|embeddings|generate\w*|pooling|score|"
    r"rerank|classify|audio/\w+|images/\w+|invocations)\b|/v2/models/[^/\s]+/(generate|infer)|:predict\b"
)


def _max_model_len(container: Container) -> str | None:
    return flags.last_value(container.argv, *MAX_MODEL_LEN.names)


# --- context-cap-required -------------------------------------------------------------


def _context_cap_required(args: ResourceValidationArgs) -> Iterator[str]:
    for container in vllm_servers(args.resource_type, args.props):
        value = _max_model_len(container)
        if value is None:
            yield f"{container.path}: vLLM runs without {MAX_MODEL_LEN.name}, so it serves the model's full context"
        elif flags.token_count(value) is None:
            yield f"{container.path}: {MAX_MODEL_LEN.name} {value} is not a fixed token count"


CONTEXT_CAP_REQUIRED = resource_rule(
    "context-cap-required",
    f"Every vLLM container sets {MAX_MODEL_LEN.name}: the context cap sizes the KV cache and "
    "decides how many sequences fit at once.",
    _context_cap_required,
    f"Set the pool's `maxModelLen` (the platform passes {MAX_MODEL_LEN.name}), or pass a fixed "
    f"{MAX_MODEL_LEN.name} to a vLLM container declared by hand.",
)


# --- chat-context-cap -----------------------------------------------------------------

CHAT_CAP_CONFIG = PolicyConfigSchema(
    properties={
        "maxModelLen": {
            "type": "integer",
            "minimum": 1,
            "default": CONTEXT_CAPS["chat"],
            "description": f"Largest {MAX_MODEL_LEN.name} a chat-class pool may serve.",
        }
    }
)


def _chat_context_cap(args: ResourceValidationArgs) -> Iterator[str]:
    cap = int(setting(args, CHAT_CAP_CONFIG, "maxModelLen"))
    for container in vllm_servers(args.resource_type, args.props):
        tokens = flags.token_count(_max_model_len(container))
        if container.pod.workload_class == "chat" and tokens is not None and tokens > cap:
            yield f"{container.path}: chat pool serves {MAX_MODEL_LEN.name} {tokens}, above the chat cap {cap}"


CHAT_CONTEXT_CAP = resource_rule(
    "chat-context-cap",
    "Chat-class pools keep a short context cap, so warm replicas hold many concurrent sequences "
    "and time to first token stays low.",
    _chat_context_cap,
    "Lower the chat pool's `maxModelLen` to the cap, or serve long documents from a batch-class "
    "pool; raise this rule's `maxModelLen` only with capacity evidence.",
    config=CHAT_CAP_CONFIG,
)


# --- gpu-requests-equal-limits --------------------------------------------------------


def _quantity(value: object) -> str:
    text = str(value).strip()
    try:
        return str(int(float(text))) if float(text).is_integer() else text
    except ValueError:
        return text


def _gpu_container_problems(container: Container) -> Iterator[str]:
    requests = mapping(at(container.spec, "resources", "requests"))
    limits = mapping(at(container.spec, "resources", "limits"))
    if GPU_RESOURCE not in requests and GPU_RESOURCE not in limits:
        return
    requested, limited = requests.get(GPU_RESOURCE), limits.get(GPU_RESOURCE)
    if requested is None or limited is None or _quantity(requested) != _quantity(limited):
        yield (
            f"{container.path}: {GPU_RESOURCE} requests ({requested}) and limits ({limited}) must both be set and equal"
        )
    missing = [resource for resource in ("cpu", "memory") if resource not in requests]
    if missing:
        yield f"{container.path}: GPU container without {' and '.join(missing)} requests"


def _gpu_requests_equal_limits(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        yield from _gpu_container_problems(container)


GPU_REQUESTS_EQUAL_LIMITS = resource_rule(
    "gpu-requests-equal-limits",
    "Every GPU container requests exactly the GPUs it is limited to, and requests CPU and memory.",
    _gpu_requests_equal_limits,
    "Set resources.requests and resources.limits of nvidia.com/gpu to the same count (the "
    "tensor parallel size) and give cpu and memory requests, so the scheduler places the pod "
    "on a node that can feed its GPUs.",
)


# --- shm-for-tensor-parallel ----------------------------------------------------------


def _memory_volumes(pod: Pod) -> set[str]:
    return {
        str(mapping(volume).get("name"))
        for volume in sequence(pod.spec.get("volumes"))
        if at(volume, "emptyDir", "medium") == "Memory"
    }


def _has_memory_shm(container: Container) -> bool:
    memory_volumes = _memory_volumes(container.pod)
    return any(
        at(mount, "mountPath") == "/dev/shm" and str(at(mount, "name")) in memory_volumes
        for mount in sequence(container.spec.get("volumeMounts"))
    )


def _shm_for_tensor_parallel(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        tensor_parallel = flags.integer(
            flags.last_value(container.argv, *TENSOR_PARALLEL_SIZE.names), default=int(TENSOR_PARALLEL_SIZE.default())
        )
        if container.is_vllm and tensor_parallel > 1 and not _has_memory_shm(container):
            yield (
                f"{container.path}: tensor parallel size {tensor_parallel} without a memory-backed "
                "/dev/shm (NCCL between ranks needs more than the 64 MiB default)"
            )


SHM_FOR_TENSOR_PARALLEL = resource_rule(
    "shm-for-tensor-parallel",
    "A vLLM container with tensor parallel size above 1 mounts a memory-backed emptyDir at /dev/shm.",
    _shm_for_tensor_parallel,
    "Add a volume `emptyDir: {medium: Memory, sizeLimit: ...}` to the pod and mount it at /dev/shm "
    "in the vLLM container.",
)


# --- no-generation-probes -------------------------------------------------------------


def _probe_target(probe: object) -> str:
    path = at(probe, "httpGet", "path")
    if path is not None:
        return str(path)
    return " ".join(str(word) for word in sequence(at(probe, "exec", "command")))


def _no_generation_probes(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        for probe in _PROBES:
            target = _probe_target(container.spec.get(probe))
            if _GENERATION_PATH.search(target):
                yield f"{container.path}.{probe}: probes the generation endpoint '{target}'"


NO_GENERATION_PROBES = resource_rule(
    "no-generation-probes",
    "No readiness, liveness or startup probe calls a generation endpoint (/v1/completions, /v1/chat/completions, ...).",
    _no_generation_probes,
    "Probe vLLM's /health (it answers without touching the GPU); a startup probe with a long "
    "failure budget covers model loading.",
)


# --- vllm-drains-on-shutdown ----------------------------------------------------------


def _drain_problems(container: Container, on_knative: bool) -> Iterator[str]:
    value = flags.last_value(container.argv, *SHUTDOWN_TIMEOUT.names)
    drain = int(value) if value is not None and value.isdigit() else None
    if not drain:
        shown = f"{SHUTDOWN_TIMEOUT.name} {value}" if value is not None else f"no {SHUTDOWN_TIMEOUT.name} (0)"
        yield (
            f"{container.path}: vLLM runs with {shown}, so when its pod stops (a rollout, a scale-down, a node "
            "drain) it aborts every request it serves"
        )
        return
    if on_knative:
        return
    declared = container.pod.spec.get("terminationGracePeriodSeconds")
    grace = (
        int(declared) if isinstance(declared, int | float) else upstream.KUBERNETES_DEFAULT_TERMINATION_GRACE_SECONDS
    )
    pre_stop = at(container.spec, "lifecycle", "preStop", "sleep", "seconds")
    waited = int(pre_stop) if isinstance(pre_stop, int | float) else 0
    if grace < waited + drain:
        yield (
            f"{container.path}: its pod's terminationGracePeriodSeconds {grace} ends vLLM's {drain} s drain "
            f"({SHUTDOWN_TIMEOUT.name}{f', after a {waited} s preStop' if waited else ''}) early: the kubelet "
            "kills the requests still running"
        )


def _vllm_drains_on_shutdown(args: ResourceValidationArgs) -> Iterator[str]:
    # Knative sets its revision pods' grace period (the revision timeout) and holds the
    # container's SIGTERM until queue-proxy has drained (knative/serving deploy.go).
    on_knative = generated.runs_on_knative(kind_of(args.resource_type), args.props)
    for container in vllm_servers(args.resource_type, args.props):
        yield from _drain_problems(container, on_knative)


VLLM_DRAINS_ON_SHUTDOWN = resource_rule(
    "vllm-drains-on-shutdown",
    f"Every vLLM server drains when its pod stops: {SHUTDOWN_TIMEOUT.name} above 0 (vLLM 0.32's default, "
    "0, aborts the requests in flight, and a stream may still end as if complete), and outside Knative "
    "a pod grace period that outlasts the preStop and the drain.",
    _vllm_drains_on_shutdown,
    f"Keep the pool's generated {SHUTDOWN_TIMEOUT.name} (its timeoutSeconds) and grace period; on a vLLM "
    f"container declared by hand pass {SHUTDOWN_TIMEOUT.name} <longest request seconds> and set the pod's "
    "terminationGracePeriodSeconds above it.",
)


# --- inference-signal-autoscaling -----------------------------------------------------

_RESOURCE_SIGNALS = {"cpu", "memory"}
_KNATIVE_METRIC = "autoscaling.knative.dev/metric"
_KNATIVE_CLASS = "autoscaling.knative.dev/class"
_KNATIVE_HPA_CLASS = "hpa.autoscaling.knative.dev"
_KSERVE_AUTOSCALER = "serving.kserve.io/autoscalerClass"
_STANDARD_MODES = {"Standard", "RawDeployment"}
_HPA = ("autoscaling", "HorizontalPodAutoscaler")
_SCALED_OBJECT = ("keda.sh", "ScaledObject")


def _resource_metric(metric: object) -> str | None:
    """The cpu/memory resource a metric entry (KServe autoScaling, HPA v2) scales on, if any."""
    kind = str(at(metric, "type") or "")
    if kind in ("Resource", "ContainerResource"):
        return str(at(metric, "resource", "name") or at(metric, "containerResource", "name") or "")
    return None


def _component_problems(pod: Pod, isvc_annotations: object) -> Iterator[str]:
    spec = pod.spec
    if str(spec.get("scaleMetric", "")) in _RESOURCE_SIGNALS:
        yield f"{pod.path}.scaleMetric: scales on {spec['scaleMetric']}"
    metrics = sequence(at(spec, "autoScaling", "metrics"))
    for index, metric in enumerate(metrics):
        resource = _resource_metric(metric)
        if resource:
            yield f"{pod.path}.autoScaling.metrics[{index}]: scales on {resource}"
    if str(pod.annotations.get(_KNATIVE_METRIC, "")) in _RESOURCE_SIGNALS:
        yield f"{pod.path}: annotation {_KNATIVE_METRIC} scales on {pod.annotations[_KNATIVE_METRIC]}"
    elif pod.annotations.get(_KNATIVE_CLASS) == _KNATIVE_HPA_CLASS:
        yield f"{pod.path}: Knative's HPA class without {_KNATIVE_METRIC} scales on cpu"
    annotations = mapping(isvc_annotations)
    standard = str(annotations.get(KSERVE_DEPLOYMENT_MODE, "")) in _STANDARD_MODES
    autoscaler = annotations.get(_KSERVE_AUTOSCALER, "hpa" if standard else None)
    if autoscaler == "hpa" and not metrics and spec.get("maxReplicas") != spec.get("minReplicas"):
        yield f"{pod.path}: KServe's hpa autoscaler class with no metric scales on cpu"


def _targets_model_pods(props: Mapping) -> bool:
    target = str(at(props, "spec", "scaleTargetRef", "name") or "")
    labels = labels_of(props)
    return target.endswith(PREDICTOR_SUFFIX) or POOL_LABEL in labels or MODEL_LABEL in labels


def _autoscaler_problems(kind: tuple[str, str], props: Mapping) -> Iterator[str]:
    if kind == _HPA:
        if at(props, "spec", "targetCPUUtilizationPercentage") is not None:
            yield "spec: scales on cpu (targetCPUUtilizationPercentage)"
        metrics = sequence(at(props, "spec", "metrics"))
        for index, metric in enumerate(metrics):
            resource = _resource_metric(metric)
            if resource:
                yield f"spec.metrics[{index}]: scales on {resource}"
    else:
        for index, trigger in enumerate(sequence(at(props, "spec", "triggers"))):
            if str(at(trigger, "type")) in _RESOURCE_SIGNALS:
                yield f"spec.triggers[{index}]: scales on {at(trigger, 'type')}"


def _inference_signal_autoscaling(args: ResourceValidationArgs) -> Iterator[str]:
    kind = kind_of(args.resource_type)
    if kind == INFERENCE_SERVICE:
        for pod in pods(args.resource_type, args.props):
            yield from _component_problems(pod, annotations_of(args.props))
    elif kind in (_HPA, _SCALED_OBJECT) and _targets_model_pods(args.props):
        yield from _autoscaler_problems(kind, args.props)
    else:
        for pod in pods(args.resource_type, args.props):
            if any(c.is_vllm for c in containers(args.resource_type, args.props)):
                metric = str(pod.annotations.get(_KNATIVE_METRIC, ""))
                if metric in _RESOURCE_SIGNALS:
                    yield f"{pod.path}: annotation {_KNATIVE_METRIC} scales on {metric}"


INFERENCE_SIGNAL_AUTOSCALING = resource_rule(
    "inference-signal-autoscaling",
    "vLLM pools never autoscale on CPU or memory: vLLM reserves its GPU memory at start and "
    "its CPU use says nothing about load.",
    _inference_signal_autoscaling,
    "Scale on an inference signal: KEDA on vllm:num_requests_waiting or vllm:kv_cache_usage_perc "
    f"(Standard mode), or Knative concurrency tied to {MAX_NUM_SEQS.name} (Knative mode).",
)
