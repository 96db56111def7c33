"""Data-protection rules: no credentials in plain text, no prompt logging, no public endpoints."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping

from components.conventions import CLASS_LABEL, KSERVE_ISVC_LABEL, MODEL_LABEL, POOL_LABEL, selects
from components.upstream import EKS_SCHEME_ANNOTATION
from components.vllm_args import REQUEST_LOGGING
from policy import flags
from policy.kube import (
    ENVOY_PROXY,
    KNATIVE_SERVING,
    Container,
    annotations_of,
    at,
    containers,
    env_values,
    kind_of,
    mapping,
    namespace_of,
    pods,
    sequence,
)
from policy.rule import (
    PolicyConfigSchema,
    ResourceValidationArgs,
    StackValidationArgs,
    resource_rule,
    setting,
    stack_rule,
)
from policy.workloads import ModelPod, model_pods

# --- no-plaintext-secrets -------------------------------------------------------------

# What each kind of credential looks like, with the literal text every match contains (a
# substring test first keeps the scan of long values cheap).
TOKEN_PATTERNS: dict[str, tuple[tuple[str, ...], re.Pattern]] = {
    "a Hugging Face token": (("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    "an OpenAI-style API key": (("sk-",), re.compile(r"\bsk-(proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    "an AWS access key id": (("AKIA", "ASIA"), re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    "a GitHub token": (
        ("gh", "github_pat_"),
        re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    "a Slack token": (("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    "a Pulumi access token": (("pul-",), re.compile(r"\bpul-[0-9a-f]{40}\b")),
    "a JSON web token": (("eyJ",), re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    "a private key": (("PRIVATE KEY",), re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
}
# Env names that hold a credential (HF_TOKEN, VLLM_API_KEY, DB_PASSWORD, ...).
_SECRET_NAME = re.compile(r"(^|_)(TOKEN|API_?KEY|SECRET|SECRET_KEY|PASSWORD|PASSWD|ACCESS_KEY|CREDENTIALS?)$", re.I)
# Switches that happen to end in TOKEN (HF_HUB_DISABLE_IMPLICIT_TOKEN=1) are not credentials.
_SWITCH_VALUES = {"", "0", "1", "true", "false", "yes", "no", "on", "off"}
# Command-line flags that take a credential (vLLM --api-key, --hf-token, ...).
_SECRET_FLAG = re.compile(r"^--[a-z0-9-]*(api-key|token|password|secret)$")
# Kubernetes expands $(VAR) in args from the container's env, which may come from a secretKeyRef.
_ENV_REFERENCE = re.compile(r"^\$\([A-Za-z_][A-Za-z0-9_]*\)$")
_CONFIG_MAP = ("", "ConfigMap")


def token_kind(text: str) -> str | None:
    """What kind of credential `text` contains, or None."""
    for kind, (markers, pattern) in TOKEN_PATTERNS.items():
        if any(marker in text for marker in markers) and pattern.search(text):
            return kind
    return None


def _env_problems(container: Container) -> Iterator[str]:
    for name, value in env_values(container):
        kind = token_kind(str(value))
        if kind:
            yield f"{container.path}: env {name} holds {kind} in plain text"
        elif _SECRET_NAME.search(name) and str(value).strip().lower() not in _SWITCH_VALUES:
            yield f"{container.path}: env {name} sets a credential as a literal value"


def _arg_problems(container: Container) -> Iterator[str]:
    argv = container.argv
    for index, word in enumerate(argv):
        kind = token_kind(word)
        if kind:
            yield f"{container.path}: an argument holds {kind} in plain text"
        flag, has_inline, inline = word.partition("=")
        if not _SECRET_FLAG.match(flag.replace("_", "-")):
            continue
        value = inline if has_inline else (argv[index + 1] if index + 1 < len(argv) else "")
        if value and not value.startswith("-") and not _ENV_REFERENCE.match(value):
            yield f"{container.path}: {flag} is given a literal credential"


def _annotation_problems(where: str, annotations: Mapping) -> Iterator[str]:
    for key, value in annotations.items():
        kind = token_kind(str(value))
        if kind:
            yield f"{where} annotation {key} holds {kind}"


def _no_plaintext_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    own_annotations = annotations_of(props)
    yield from _annotation_problems("metadata", own_annotations)
    for pod in pods(args.resource_type, props):
        added = {key: value for key, value in pod.annotations.items() if own_annotations.get(key) != value}
        yield from _annotation_problems(pod.path, added)
    for container in containers(args.resource_type, props):
        yield from _env_problems(container)
        yield from _arg_problems(container)
    if kind_of(args.resource_type) == _CONFIG_MAP:
        for key, value in mapping(props.get("data")).items():
            kind = token_kind(str(value))
            if kind:
                yield f"data.{key} holds {kind}"


NO_PLAINTEXT_SECRETS = resource_rule(
    "no-plaintext-secrets",
    "No env value, argument, annotation or ConfigMap entry holds a credential (hub tokens, API "
    "keys, private keys); secrets reach pods only through secretKeyRef or secret volumes.",
    _no_plaintext_secrets,
    "Keep the credential in Pulumi secret config (pulumi config set --secret), store it in a "
    "Kubernetes Secret, and pass it with env valueFrom.secretKeyRef (or $(VAR) in args).",
)


# --- no-request-logging ---------------------------------------------------------------

# vLLM logs every API response body when this is set.
_RESPONSE_LOGGING_ENV = "VLLM_DEBUG_LOG_API_SERVER_RESPONSE"


def _no_request_logging(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        for flag in REQUEST_LOGGING:
            if flags.is_enabled(container.argv, flag.name):
                yield f"{container.path}: {flag.name} writes prompts or completions to the logs"
        for name, value in env_values(container):
            if name == _RESPONSE_LOGGING_ENV and str(value).strip().lower() not in ("", "0", "false"):
                yield f"{container.path}: env {name} writes every response body to the logs"
    for pod in pods(args.resource_type, args.props):
        logger = mapping(pod.spec.get("logger"))
        if logger:
            yield (
                f"{pod.path}.logger: KServe's payload logger sends {logger.get('mode', 'all')} "
                f"payloads to {logger.get('url', 'its sink')}"
            )


NO_REQUEST_LOGGING = resource_rule(
    "no-request-logging",
    "Request and prompt logging stays off (prompts may hold regulated data): no vLLM "
    f"{'/'.join(flag.name for flag in REQUEST_LOGGING)}, no KServe payload logger.",
    _no_request_logging,
    "Remove the logging flag from `extraArgs` (vLLM logs no requests by default) or the "
    "component's `logger`; use vLLM's metrics for observability.",
)


# --- no-public-model-services ---------------------------------------------------------

PUBLIC_SERVICE_CONFIG = PolicyConfigSchema(
    properties={
        "allowPublicLoadBalancer": {
            "type": "boolean",
            "default": False,
            "description": "Allow an internet-facing load balancer (the gateway's); model pods "
            "are never exposed directly either way.",
        },
        "cloud": {
            "type": "string",
            "enum": ["auto", "aws", "none"],
            "default": "auto",
            "description": "Whose load-balancer controllers read the Services: aws (EKS), none (any other "
            "cluster: no annotation makes a load balancer internal), or auto (aws when the stack "
            "declares AWS resources).",
        },
    }
)
# AWS: the AWS Load Balancer Controller (v2.2+, docs/guide/service/annotations.md) takes a
# Service whose `aws-load-balancer-type` is `external` or `nlb-ip`, or whose loadBalancerClass is
# its own; it reads the scheme annotation, and the older `aws-load-balancer-internal` only
# when no scheme is set. Every other LoadBalancer Service goes to the in-tree cloud provider,
# which reads only `aws-load-balancer-internal`. The controller's own default scheme is
# internal; the rule asks for it explicitly, so a controller flag cannot turn it around.
AWS_LB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
AWS_LBC_TYPES = ("external", "nlb-ip")
AWS_LBC_CLASS = "service.k8s.aws/nlb"
AWS_INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
# Pod labels that mark model pods: ours, and those KServe puts on predictor pods.
_MODEL_POD_LABELS = (POOL_LABEL, CLASS_LABEL, MODEL_LABEL, KSERVE_ISVC_LABEL)
_EXPOSED_TYPES = ("LoadBalancer", "NodePort")
_SERVICE = ("", "Service")


def _is_private_range(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).is_private
    except ValueError:
        return False


def cloud_of(args: StackValidationArgs) -> str:
    configured = str(setting(args, PUBLIC_SERVICE_CONFIG, "cloud"))
    if configured != "auto":
        return configured
    return (
        "aws" if any(r.resource_type.startswith(("aws:", "pulumi:providers:aws")) for r in args.resources) else "none"
    )


def is_internal(annotations: Mapping, source_ranges: object, cloud: str, load_balancer_class: object = None) -> bool:
    """Whether the load balancer the cloud in use makes for a Service is internal: by the
    annotations its controller reads, or by private `loadBalancerSourceRanges` (which
    kube-proxy enforces on any cluster)."""
    ranges = [str(cidr) for cidr in sequence(source_ranges)]
    if ranges and all(_is_private_range(cidr) for cidr in ranges):
        return True
    if cloud != "aws":
        return False
    if load_balancer_class not in (None, "", AWS_LBC_CLASS):
        return False  # some other controller: it reads none of AWS's annotations
    internal = str(annotations.get(AWS_INTERNAL_ANNOTATION, "")).lower() == "true"
    lbc = load_balancer_class == AWS_LBC_CLASS or str(annotations.get(AWS_LB_TYPE_ANNOTATION, "")) in AWS_LBC_TYPES
    if not lbc:
        return internal
    scheme = annotations.get(EKS_SCHEME_ANNOTATION)
    return str(scheme) == "internal" if scheme is not None else internal


def _selects_model_labels(selector: Mapping) -> bool:
    return any(label in selector for label in _MODEL_POD_LABELS) or str(selector.get("app", "")).startswith("isvc.")


def _service_problems(props: Mapping, cloud: str, allow_public: bool, pods: list[ModelPod]) -> Iterator[str]:
    service_type = str(at(props, "spec", "type") or "ClusterIP")
    if service_type not in _EXPOSED_TYPES:
        return
    selector = dict(mapping(at(props, "spec", "selector")))
    namespace = namespace_of(props)
    selected = [
        p for p in pods if selector and p.namespace == namespace and selects({"matchLabels": selector}, p.labels)
    ]
    if selected or _selects_model_labels(selector):
        what = f" ({selected[0].where})" if selected else ""
        yield f"spec.type {service_type} exposes model pods{what} outside the cluster; route them through the gateway"
    elif service_type == "LoadBalancer" and not allow_public:
        spec = mapping(props.get("spec"))
        if not is_internal(
            annotations_of(props), spec.get("loadBalancerSourceRanges"), cloud, spec.get("loadBalancerClass")
        ):
            yield f"a LoadBalancer Service that the {cloud_text(cloud)} does not make internal is internet-facing"


def cloud_text(cloud: str) -> str:
    return "AWS load-balancer controllers" if cloud == "aws" else "cluster's load balancer (no cloud annotations apply)"


def _envoy_proxy_problems(props: Mapping, cloud: str, allow_public: bool) -> Iterator[str]:
    service = mapping(at(props, "spec", "provider", "kubernetes", "envoyService"))
    # Envoy Gateway gives each Gateway a LoadBalancer Service unless told otherwise.
    if str(service.get("type") or "LoadBalancer") != "LoadBalancer" or allow_public:
        return
    internal = is_internal(mapping(service.get("annotations")), service.get("loadBalancerSourceRanges"), cloud,
                           service.get("loadBalancerClass"))  # fmt: skip
    if not internal:
        yield (
            f"spec.provider.kubernetes.envoyService: the gateway's LoadBalancer is internet-facing: the "
            f"{cloud_text(cloud)} reads no internal setting on it"
        )


def _knative_serving_problems(props: Mapping) -> Iterator[str]:
    kourier = mapping(at(props, "spec", "ingress", "kourier"))
    # The Knative Operator gives Kourier's gateway a LoadBalancer Service unless told otherwise,
    # with no way to annotate it internal: Knative routes would bypass the gateway's auth.
    if kourier.get("enabled") and str(kourier.get("service-type") or "LoadBalancer") in _EXPOSED_TYPES:
        yield (
            "spec.ingress.kourier: Kourier's Service would be a LoadBalancer or NodePort, reaching "
            "Knative pools around the gateway; set service-type: ClusterIP"
        )


def _no_public_model_services(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    allow_public = bool(setting(args, PUBLIC_SERVICE_CONFIG, "allowPublicLoadBalancer"))
    cloud = cloud_of(args)
    pods = model_pods(args.resources)
    for resource in args.resources:
        kind, props = kind_of(resource.resource_type), resource.props
        if kind == _SERVICE:
            found = _service_problems(props, cloud, allow_public, pods)
        elif kind == ENVOY_PROXY:
            found = _envoy_proxy_problems(props, cloud, allow_public)
        elif kind == KNATIVE_SERVING:
            found = _knative_serving_problems(props)
        else:
            continue
        for problem in found:
            yield problem, resource.urn


NO_PUBLIC_MODEL_SERVICES = stack_rule(
    "no-public-model-services",
    "No LoadBalancer or NodePort Service selects model pods (matched against the pods every "
    "workload, InferenceService and LLMInferenceService runs, whatever their labels); the "
    "gateway's load balancer is internal, as the cloud in use reads it, unless explicitly allowed.",
    _no_public_model_services,
    "Reach model pods only through the gateway (ClusterIP Services behind HTTPRoutes); on EKS give the "
    "gateway's load balancer `service.beta.kubernetes.io/aws-load-balancer-type: external` and "
    "`service.beta.kubernetes.io/aws-load-balancer-scheme: internal` (AWS Load Balancer Controller), "
    "elsewhere private loadBalancerSourceRanges, or set this rule's `allowPublicLoadBalancer` to true deliberately.",
    config=PUBLIC_SERVICE_CONFIG,
)
