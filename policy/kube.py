"""How the rules read Kubernetes resources as the Pulumi engine shows them to a policy.

Props arrive with camelCase keys as read-only mappings and sequences (the policy SDK wraps
them in proxies), with numbers that may be floats: nothing here assumes `dict` or `list`.
A resource is recognised by its type token (`kubernetes:<group>/<version>:<Kind>`), never
by which of our components created it, so a hand-added object is judged the same way.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components import generated, upstream
from components.conventions import CLASS_LABEL

# The rules read these through this module, with the rest of what they read of a resource.
from components.generated import INFERENCE_SERVICE as INFERENCE_SERVICE
from components.generated import KNATIVE_SERVING as KNATIVE_SERVING
from components.generated import SERVING_RUNTIMES as SERVING_RUNTIMES
from components.generated import at as at
from components.generated import mapping as mapping
from components.generated import sequence as sequence
from policy.commands import runs_vllm

LLM_INFERENCE_SERVICE = (upstream.KSERVE_API_GROUP, "LLMInferenceService")
GATEWAY = (upstream.GATEWAY_API_GROUP, "Gateway")
ROUTES = frozenset({(upstream.GATEWAY_API_GROUP, "HTTPRoute"), (upstream.GATEWAY_API_GROUP, "GRPCRoute")})
# What attaches more listeners to a Gateway (Gateway API ListenerSet, and its experimental name).
LISTENER_SETS = frozenset(
    {(upstream.GATEWAY_API_GROUP, "ListenerSet"), ("gateway.networking.x-k8s.io", "XListenerSet")}
)
ENVOY_PROXY = (upstream.ENVOY_GATEWAY_API_GROUP, "EnvoyProxy")
# Its PodSpecs (serving.kserve.io_llminferenceservices.yaml v1alpha2): the decode pods, their
# multi-node workers, and the same for prefill.
LLM_POD_SPECS = (
    ("spec", "template"),
    ("spec", "worker"),
    ("spec", "prefill", "template"),
    ("spec", "prefill", "worker"),
)

_CONTAINER_LISTS = ("initContainers", "containers")


# --- plain access ---------------------------------------------------------------------


def kind_of(resource_type: str) -> tuple[str, str] | None:
    """(group, Kind) of a Kubernetes type token; the core group is ''. None for other providers."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    group = parts[1].rpartition("/")[0]
    return ("" if group == "core" else group, parts[2])


def metadata(props: Mapping) -> Mapping:
    return mapping(props.get("metadata"))


def name_of(props: Mapping, fallback: str = "") -> str:
    return str(metadata(props).get("name") or fallback)


def namespace_of(props: Mapping) -> str:
    return str(metadata(props).get("namespace") or "default")


def labels_of(props: Mapping) -> Mapping:
    return mapping(metadata(props).get("labels"))


def annotations_of(props: Mapping) -> Mapping:
    return mapping(metadata(props).get("annotations"))


# --- pods and containers --------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """A pod template inside a resource: its spec and the labels its pods get."""

    path: str
    spec: Mapping
    labels: Mapping
    annotations: Mapping
    # KServe's model container: the predictor's args, env and resources, merged by KServe
    # into the runtime's `kserve-container`.
    model_containers: tuple[tuple[str, Mapping], ...] = ()
    is_runtime_template: bool = False

    @property
    def workload_class(self) -> str | None:
        value = self.labels.get(CLASS_LABEL)
        return str(value) if value is not None else None


@dataclass(frozen=True)
class Container:
    path: str
    spec: Mapping
    pod: Pod
    model_format: str | None = None  # set on an InferenceService's model container

    @property
    def command_line(self) -> list[str]:
        """command + args as declared."""
        return [str(item) for item in [*sequence(self.spec.get("command")), *sequence(self.spec.get("args"))]]

    @property
    def argv(self) -> list[str]:
        """command + args as words; a shell string (`sh -c "vllm serve ..."`) is split."""
        return [word for item in self.command_line for word in _split_shell(item)]

    @property
    def image(self) -> str | None:
        image = self.spec.get("image")
        return str(image) if image else None

    @property
    def is_vllm(self) -> bool:
        if self.model_format is not None:
            return (
                self.model_format in upstream.KSERVE_VLLM_MODEL_FORMATS
                and upstream.KSERVE_HF_NO_VLLM_ARG not in self.argv
            )
        if self.spec.get("command"):
            # `command` replaces the image's entrypoint, so vLLM runs only if the command says
            # so: a warm-up Job running `hf download` in the vLLM image serves nothing.
            return runs_vllm(self.command_line)
        image = (self.image or "").rpartition("@")[0] or (self.image or "")
        return "vllm" in image.lower() or runs_vllm(self.command_line)

    @property
    def is_vllm_server(self) -> bool:
        """A vLLM container whose own arguments configure the engine: not a ServingRuntime's
        template, whose arguments come from each InferenceService that uses it."""
        return self.is_vllm and not self.pod.is_runtime_template


def _split_shell(text: str) -> list[str]:
    if not any(space in text for space in " \n\t"):
        return [text]
    try:
        # A shell script's comments are not arguments: `--revision main # <commit>` pins nothing.
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def pods(resource_type: str, props: Mapping) -> list[Pod]:
    """Every pod template a resource declares (workloads, KServe objects, Knative services)."""
    kind = kind_of(resource_type)
    if kind is None:
        return []
    if kind == INFERENCE_SERVICE:
        return list(_inference_service_pods(props))
    if kind == LLM_INFERENCE_SERVICE:
        labels = {**labels_of(props), **mapping(at(props, "spec", "labels"))}
        annotations = {**annotations_of(props), **mapping(at(props, "spec", "annotations"))}
        specs = [(".".join(path), mapping(at(props, *path))) for path in LLM_POD_SPECS]
        return [Pod(path, spec, labels, annotations) for path, spec in specs if spec]
    if kind in SERVING_RUNTIMES:
        spec = mapping(props.get("spec"))
        return [Pod("spec", spec, labels_of(props), annotations_of(props), is_runtime_template=True)]
    template = generated.pod_template(kind, props)
    if template is None:
        return []
    path, meta, spec = template
    return [Pod(path, spec, mapping(meta.get("labels")), mapping(meta.get("annotations")))]


def _inference_service_pods(props: Mapping) -> Iterator[Pod]:
    # Judged alone, an InferenceService's runtime is another resource: its model containers
    # are kept apart (KServe merges them into the runtime's kserve-container), and its pods'
    # labels are those KServe gives them short of the runtime's own.
    for component, spec in generated.components_of(props):
        path = f"spec.{component}"
        models = tuple((f"{path}.{key}", model) for key, model in generated.model_entries(spec))
        yield Pod(
            path,
            spec,
            generated.component_pod_labels(props, component),
            generated.component_pod_annotations(props, component),
            model_containers=models,
        )


def containers(resource_type: str, props: Mapping) -> list[Container]:
    found = []
    for pod in pods(resource_type, props):
        for path, spec in pod.model_containers:
            model_format = generated.model_format(path.rpartition(".")[2], spec)
            found.append(Container(path, spec, pod, model_format=model_format))
        for key in _CONTAINER_LISTS:
            for index, spec in enumerate(sequence(pod.spec.get(key))):
                found.append(Container(f"{pod.path}.{key}[{index}]", mapping(spec), pod))
    return found


def runtime_finder(resources: Sequence[Any]) -> generated.Find:
    """A `generated.Find` over the ServingRuntimes and ClusterServingRuntimes among a stack's
    resources (each with `resource_type` and `props`), for what KServe merges a predictor into."""
    runtimes = [
        {**r.props, "kind": kind[1]} for r in resources if (kind := kind_of(r.resource_type)) in SERVING_RUNTIMES
    ]
    return generated.finder(runtimes)


def vllm_servers(resource_type: str, props: Mapping) -> list[Container]:
    return [c for c in containers(resource_type, props) if c.is_vllm_server]


def env_values(container: Container) -> Iterator[tuple[str, Any]]:
    """(name, literal value) of each env entry that sets `value` (not `valueFrom`)."""
    for entry in sequence(container.spec.get("env")):
        entry = mapping(entry)
        if "value" in entry and entry.get("value") is not None:
            yield str(entry.get("name", "")), entry["value"]
