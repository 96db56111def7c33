"""What the controllers make of declared objects: the pods a workload or an InferenceService runs.

One model, shared by the policy pack (`policy/kube.py`, which judges each object as the engine
shows it) and the offline cross-reference checks (`tools/inventory.py`, `tools/vllm_parser.py`),
so that both read a pod template, a predictor's model container, its runtime and its labels
the same way. Pure functions over Kubernetes objects as mappings (plain dicts from a render,
or the policy SDK's read-only proxies): nothing here assumes `dict` or `list`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from components import upstream

GroupKind = tuple[str, str]  # (API group, Kind); the core group is ''

# Where the pod template sits in each workload kind: (metadata path, spec path).
_TEMPLATE = (("spec", "template", "metadata"), ("spec", "template", "spec"))
POD_TEMPLATES: dict[GroupKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("", "Pod"): (("metadata",), ("spec",)),
    ("apps", "Deployment"): _TEMPLATE,
    ("apps", "StatefulSet"): _TEMPLATE,
    ("apps", "DaemonSet"): _TEMPLATE,
    ("apps", "ReplicaSet"): _TEMPLATE,
    ("batch", "Job"): _TEMPLATE,
    ("batch", "CronJob"): (
        ("spec", "jobTemplate", "spec", "template", "metadata"),
        ("spec", "jobTemplate", "spec", "template", "spec"),
    ),
    (upstream.KNATIVE_SERVING_API_GROUP, "Service"): _TEMPLATE,
}
KNATIVE_SERVING: GroupKind = (upstream.KNATIVE_OPERATOR_API_GROUP, "KnativeServing")
# The Knative kinds whose revision template sets a request timeout (spec.template.spec.timeoutSeconds).
KNATIVE_REVISION_TEMPLATES = frozenset(
    {(upstream.KNATIVE_SERVING_API_GROUP, "Service"), (upstream.KNATIVE_SERVING_API_GROUP, "Configuration")}
)
INFERENCE_SERVICE: GroupKind = (upstream.KSERVE_API_GROUP, "InferenceService")
SERVING_RUNTIME: GroupKind = (upstream.KSERVE_API_GROUP, "ServingRuntime")
CLUSTER_SERVING_RUNTIME: GroupKind = (upstream.KSERVE_API_GROUP, "ClusterServingRuntime")
SERVING_RUNTIMES = frozenset({SERVING_RUNTIME, CLUSTER_SERVING_RUNTIME})

# Container list fields merged by their strategic-merge key rather than replaced (the
# `patchMergeKey` tags of k8s.io/api core/v1 Container).
_MERGE_KEYS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}

# A lookup of a declared object by (Kind, namespace, name); the namespace is None for a
# cluster-scoped object, and for a namespaced one whose manifest names none.
Find = Callable[[str, str | None, str], Mapping[str, Any] | None]


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else ()


def at(value: Any, *path: str) -> Any:
    """The value at `path` inside nested mappings, or None."""
    for key in path:
        value = mapping(value).get(key)
    return value


def group_kind(api_version: str, kind: str) -> GroupKind:
    """(group, Kind) of a manifest's apiVersion and kind."""
    return (api_version.rpartition("/")[0], kind)


def pod_template(kind: GroupKind, obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], Mapping[str, Any]] | None:
    """(path of the pod spec, pod metadata, pod spec) of a workload, or None for other kinds."""
    if kind not in POD_TEMPLATES:
        return None
    meta_path, spec_path = POD_TEMPLATES[kind]
    return ".".join(spec_path), mapping(at(obj, *meta_path)), mapping(at(obj, *spec_path))


# --- KServe (KSERVE_VERSION): an InferenceService's components, runtime and predictor pods ---


def components_of(isvc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(component name, component spec) of each component the InferenceService declares."""
    for component in upstream.KSERVE_COMPONENTS:
        spec = mapping(at(isvc, "spec", component))
        if spec:
            yield component, spec


def model_entries(component: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(key, model spec) of each key that names the component's serving container by model
    format (`model`, or an older per-framework key; KServe admits one)."""
    return [(key, mapping(component[key])) for key in upstream.KSERVE_MODEL_KEYS if key in component]


def predictor_model(isvc: Mapping[str, Any]) -> Mapping[str, Any]:
    entries = model_entries(mapping(at(isvc, "spec", upstream.KSERVE_PREDICTOR)))
    return entries[0][1] if entries else {}


def model_format(key: str, model: Mapping[str, Any]) -> str:
    """The model format: `modelFormat.name`, or the framework a per-framework key names."""
    return str(at(model, "modelFormat", "name") or key)


def find_runtime(isvc: Mapping[str, Any], find: Find) -> Mapping[str, Any] | None:
    """The runtime the predictor names: a ServingRuntime of the InferenceService's namespace,
    else the ClusterServingRuntime of that name (pkg/controller/v1beta1/inferenceservice/utils
    GetServingRuntime). A predictor that names none is matched by KServe on model format
    among the runtimes installed; that is not modelled (None)."""
    name = predictor_model(isvc).get("runtime")
    if not name:
        return None
    namespace = at(isvc, "metadata", "namespace")
    runtime = find(SERVING_RUNTIME[1], str(namespace) if namespace else None, str(name))
    return runtime or find(CLUSTER_SERVING_RUNTIME[1], None, str(name))


def finder(objects: Sequence[Mapping[str, Any]]) -> Find:
    """A `Find` over declared manifests."""
    index = {
        (obj.get("kind"), at(obj, "metadata", "namespace") or None, at(obj, "metadata", "name")): obj for obj in objects
    }
    return lambda kind, namespace, name: index.get((kind, namespace, name))


def merge_container(runtime_container: Mapping[str, Any], model: Mapping[str, Any]) -> dict[str, Any]:
    """The serving container KServe runs: the runtime's `kserve-container` with the model's
    container fields merged in by strategic merge patch, args concatenated, the runtime's
    first (pkg/controller/v1beta1/inferenceservice/utils/utils.go MergeRuntimeContainers)."""
    overrides = {k: v for k, v in model.items() if k not in upstream.KSERVE_MODEL_FIELDS}
    merged = _strategic_merge(runtime_container, overrides)
    merged["args"] = [*sequence(runtime_container.get("args")), *sequence(model.get("args"))]
    merged["name"] = runtime_container.get("name") or upstream.KSERVE_CONTAINER
    return merged


def predictor_pod_spec(isvc: Mapping[str, Any], runtime: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pod spec of the predictor's pods: the predictor's pod fields, the merged serving
    container, the runtime's other containers, then the predictor's own `containers`."""
    predictor = mapping(at(isvc, "spec", upstream.KSERVE_PREDICTOR))
    runtime_containers = [mapping(c) for c in sequence(at(runtime, "spec", "containers"))]
    base = upstream.serving_container(runtime_containers) or {"name": upstream.KSERVE_CONTAINER}
    others = [c for c in runtime_containers if c.get("name") != upstream.KSERVE_CONTAINER]
    pod_fields = {k: v for k, v in predictor.items() if k not in upstream.KSERVE_COMPONENT_FIELDS}
    serving = merge_container(base, predictor_model(isvc))
    return {**pod_fields, "containers": [serving, *others, *map(mapping, sequence(predictor.get("containers")))]}


def component_pod_labels(
    isvc: Mapping[str, Any], component: str, runtime: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The labels on a component's pods: the runtime's, the InferenceService's, the
    component's, then KServe's own (components/predictor.go buildObjectMeta)."""
    return {
        **upstream.component_pod_metadata(
            mapping(at(isvc, "metadata", "labels")),
            mapping(at(isvc, "spec", component, "labels")),
            mapping(at(runtime, "spec", "labels")),
        ),
        **upstream.kserve_pod_labels(at(isvc, "metadata", "name"), component),
    }


def component_pod_annotations(isvc: Mapping[str, Any], component: str) -> dict[str, Any]:
    return upstream.component_pod_metadata(
        mapping(at(isvc, "metadata", "annotations")), mapping(at(isvc, "spec", component, "annotations"))
    )


def component_revision_timeout(component: Mapping[str, Any]) -> Any:
    """The request timeout KServe gives a Knative-mode component's revisions: its `timeout`
    (ComponentExtensionSpec TimeoutSeconds, copied to the revision's timeoutSeconds by
    pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go), None
    when it sets none and Knative's own default applies."""
    return component.get("timeout")


def is_knative(isvc: Mapping[str, Any]) -> bool:
    mode = mapping(at(isvc, "metadata", "annotations")).get(upstream.KSERVE_DEPLOYMENT_MODE, "")
    return mode in upstream.KSERVE_KNATIVE_MODES


def runs_on_knative(kind: GroupKind | None, obj: Mapping[str, Any]) -> bool:
    """Whether the object's pods are Knative revisions: a Knative Service or Configuration, or a
    Knative-mode InferenceService (KServe makes each component a Knative Service)."""
    return kind in KNATIVE_REVISION_TEMPLATES or (kind == INFERENCE_SERVICE and is_knative(obj))


def _strategic_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = _strategic_merge(base[key], value)
        elif key in _MERGE_KEYS and sequence(value):
            merged[key] = _merge_list(sequence(base.get(key)), sequence(value), _MERGE_KEYS[key])
        else:
            merged[key] = value
    return merged


def _merge_list(base: Sequence[Any], patch: Sequence[Any], merge_key: str) -> list[Any]:
    """A patch entry merges into the base entry with the same key; the others follow."""
    patched = {mapping(item).get(merge_key): mapping(item) for item in patch}
    kept = [_strategic_merge(mapping(item), patched.pop(mapping(item).get(merge_key), {})) for item in base]
    return [*kept, *patched.values()]
