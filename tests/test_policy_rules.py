"""Every rule of the policy pack against minimal hand-made resources: one that violates it
(the message names what is wrong) and one that complies. The resources are shaped as the
engine shows them, so the rules judge what anyone declares, not only our components."""

from __future__ import annotations

import copy

import pytest

from components.conventions import KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION
from policy.pack import POLICIES
from tests.policy_cases import (
    COMMIT,
    POOL_LABELS,
    capacity_outputs,
    container,
    deployment,
    inference_service,
    mirror_outputs,
    predictor,
    resource,
    violations,
    vllm_deployment,
)

pytestmark = pytest.mark.unit


def _with(isvc, **fields):
    changed = copy.deepcopy(isvc)
    predictor(changed).update(fields)
    return changed


def _model(isvc, **fields):
    changed = copy.deepcopy(isvc)
    predictor(changed)["model"].update(fields)
    return changed


def _annotated(isvc, **annotations):
    changed = copy.deepcopy(isvc)
    changed["inputs"]["metadata"]["annotations"].update(annotations)
    return changed


def vllm_deployment_sh(script, annotations=None):
    found = deployment(container(command=["/bin/sh", "-c", script]))
    found["inputs"]["spec"]["template"]["metadata"]["annotations"] = annotations or {}
    return found


def _job(*command):
    props = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "warm-up", "namespace": "llm-serving"},
             "spec": {"template": {"spec": {"containers": [container("python:3.11.9", command=list(command))]}}}}  # fmt: skip
    return resource("kubernetes:batch/v1:Job", props)


def _service(service_type, selector, **metadata):
    props = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "ns", **metadata},
             "spec": {"type": service_type, "selector": selector, "ports": [{"port": 80}]}}  # fmt: skip
    return resource("kubernetes:core/v1:Service", props)


def _envoy_proxy(envoy_service, **container):
    deployment_spec = {"envoyDeployment": {"container": container}} if container else {}
    props = {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyProxy", "metadata": {"name": "edge"},
             "spec": {"provider": {"type": "Kubernetes",
                                   "kubernetes": {"envoyService": envoy_service, **deployment_spec}}}}  # fmt: skip
    return resource("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", props)


def _keda_images(registry):
    """KEDA's image values, from `registry` (GHCR's mirror path under it); none when ''."""
    names = {"keda": "keda", "metricsApiServer": "keda-metrics-apiserver", "webhooks": "keda-admission-webhooks"}
    return {key: {"registry": registry, "repository": f"github/kedacore/{name}", "tag": "2.21.1"}
            for key, name in names.items()} if registry else {}  # fmt: skip


def _keda_chart(**values):
    return resource(
        "kubernetes:helm.sh/v4:Chart", {"chart": "keda", "version": "2.21.1", "values": values}, name="keda"
    )


def _knative_serving(kourier=None, **override):
    spec = {"registry": {"override": override}, **({"ingress": {"kourier": kourier}} if kourier else {})}
    props = {"apiVersion": "operator.knative.dev/v1beta1", "kind": "KnativeServing",
             "metadata": {"name": "knative-serving", "namespace": "knative-serving"}, "spec": spec}  # fmt: skip
    return resource("kubernetes:operator.knative.dev/v1beta1:KnativeServing", props)


def _autoscaler(kind, resource_type, spec, target="chat-predictor"):
    props = {"kind": kind, "metadata": {"name": "scaler", "namespace": "llm-serving"},
             "spec": {"scaleTargetRef": {"name": target}, **spec}}  # fmt: skip
    return resource(resource_type, props)


def _chart(resource_type, **inputs):
    return resource(resource_type, {"chart": "kserve-resources", **inputs}, name="kserve")


def _route(workload_class, backend):
    props = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": f"{workload_class}-route", "namespace": "llm-serving",
                          "labels": {"llmserving.io/class": workload_class}},
             "spec": {"rules": [{"backendRefs": [{"name": backend, "port": 80}]}]}}  # fmt: skip
    return resource("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", props)


def _kourier_route(workload_class, host_service):
    route = _route(workload_class, "kourier-internal")
    rule = route["inputs"]["spec"]["rules"][0]
    rule["backendRefs"][0]["namespace"] = "knative-serving"
    rule["filters"] = [
        {"type": "URLRewrite", "urlRewrite": {"hostname": f"{host_service}.llm-serving.svc.cluster.local"}}
    ]
    return route


def _edge_route(name="chat", section=None):
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge", "namespace": "llm-gateway",
              **({"sectionName": section} if section else {})}  # fmt: skip
    props = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "llm-gateway"},
        "spec": {"parentRefs": [parent], "rules": [{"backendRefs": [{"name": f"{name}-predictor", "port": 80}]}]},
    }
    return resource("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", props, name=name)  # fmt: skip


API_KEY_AUTH = {"apiKeyAuth": {"credentialRefs": [{"name": "keys"}], "extractFrom": [{"headers": ["Authorization"]}]}}
ALLOWLIST = {
    "authorization": {
        "defaultAction": "Deny",
        "rules": [{"action": "Allow", "principal": {"clientCIDRs": ["10.0.0.0/8"]}}],
    }
}


def _security_policy(name, kind, target, section=None, **spec):
    ref = {
        "group": "gateway.networking.k8s.io",
        "kind": kind,
        "name": target,
        **({"sectionName": section} if section else {}),
    }
    targets = {"targetRefs": [ref]} if target else {}
    props = {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "SecurityPolicy",
             "metadata": {"name": name, "namespace": "llm-gateway"}, "spec": {**targets, **spec}}  # fmt: skip
    return resource("kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy", props, name=name)


def _gateway(*listeners, labels=None):
    props = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
             "metadata": {"name": "edge", "namespace": "llm-gateway", **({"labels": labels} if labels else {})},
             "spec": {"gatewayClassName": "eg",
                      "listeners": [{"name": n, "port": p, "protocol": "HTTPS"} for n, p in listeners]}}  # fmt: skip
    return resource("kubernetes:gateway.networking.k8s.io/v1:Gateway", props, name="edge")


def _listener_set_route():
    found = _edge_route("batch")
    found["inputs"]["spec"]["parentRefs"] = [
        {"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "team"}
    ]
    return found


def _with_labels(found, **labels):
    found["inputs"]["metadata"]["labels"] = labels
    return found


def _with_namespace(found, namespace):
    found["inputs"]["metadata"]["namespace"] = namespace
    return found


def _network_policy(pod_selector, policy_types, namespace="llm-serving", **rules):
    props = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
             "metadata": {"name": "deny", "namespace": namespace},
             "spec": {"podSelector": pod_selector, "policyTypes": policy_types, **rules}}  # fmt: skip
    return resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", props)


def _runtime(workload_class):
    props = {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
             "metadata": {"name": f"{workload_class}-vllm", "namespace": "llm-serving",
                          "labels": {"llmserving.io/class": workload_class}},
             "spec": {"containers": [container(command=["vllm", "serve"])]}}  # fmt: skip
    return resource("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", props)


LBC_INTERNAL = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
}
IN_TREE_INTERNAL = {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}
CHAT = inference_service()
APPROVED_BY, APPROVED_ON, QUANTIZATION = (
    "llmserving.io/model-approved-by", "llmserving.io/model-approved-on", "llmserving.io/model-quantization"
)  # fmt: skip
APPROVED = _annotated(CHAT, **{
    "llmserving.io/model-source": "org/m", "llmserving.io/model-quantization": "none",
    "llmserving.io/model-license": "apache-2.0", APPROVED_BY: "ml-platform", APPROVED_ON: "2026-11-02",
    "llmserving.io/model-approval-ref": "GOV-1", "llmserving.io/model-evaluation": "EVAL-7",
})  # fmt: skip


def _in_prod(isvc):
    return resource(isvc["type"], copy.deepcopy(isvc["inputs"]), stack="prod")


BATCH = inference_service("batch", "batch", args=["/mnt/models", "--max-model-len", "32768"])


# --- knative-timeouts-drainable -------------------------------------------------------

ACCEPTED = KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION
REASON = "batch callers resubmit a request cut by a Knative proxy restart"


def _knative(predictor_spec, **components):
    """BATCH in Knative mode (as ServingPool declares a Knative pool), with these components."""
    changed = copy.deepcopy(BATCH)
    changed["inputs"]["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "Knative"}
    changed["inputs"]["spec"] = {"predictor": copy.deepcopy(predictor_spec), **components}
    predictor(changed).pop("autoScaling", None)
    return changed


KNATIVE_BATCH = _knative({**predictor(BATCH), "timeout": 1800})


def _drain(isvc, seconds, **model_fields):
    """`isvc` whose vLLM drains for `seconds` (`--shutdown-timeout`) on SIGTERM."""
    args = [*predictor(isvc)["model"]["args"], "--shutdown-timeout", seconds]
    return _model(isvc, args=args, **model_fields)


def knative_serving(**defaults):
    props = {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "namespace": "knative-serving"},
        "spec": {"config": {"defaults": defaults}},
    }
    return resource("kubernetes:operator.knative.dev/v1beta1:KnativeServing", props)


def knative_service(timeout_seconds):
    props = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "sneaky", "namespace": "llm-serving"},
        "spec": {"template": {"spec": {"timeoutSeconds": timeout_seconds, "containers": [container("img:v1.0.0")]}}},
    }
    return resource("kubernetes:serving.knative.dev/v1:Service", props)


SECRET_ENV = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "token"}}}
GPU = {"requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}
SHM_VOLUME = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
SHM_MOUNT = {"name": "dshm", "mountPath": "/dev/shm"}
DENY_ALL = _network_policy({}, ["Ingress", "Egress"])
HUB_MIRROR = "registry.internal/docker-hub/"
MIRROR = mirror_outputs(HUB_MIRROR, "registry.internal/github/")

PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator"}
PROXIES = {
    "gateway.envoyproxy.io/owning-gateway-name": "edge",
    "gateway.envoyproxy.io/owning-gateway-namespace": "llm-gateway",
}
DNS_EGRESS = _network_policy({}, ["Egress"], egress=[{
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}])  # fmt: skip


def _pinned(namespace, labels=None):
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            **({"podSelector": {"matchLabels": labels}} if labels is not None else {})}  # fmt: skip


def _named(found, name):
    found["inputs"]["metadata"]["name"] = name
    found["name"] = name
    found["urn"] = found["urn"].rpartition("::")[0] + "::" + name
    return found


def _ingress(name, *peers, ports=({"protocol": "TCP", "port": 8080},), selector=None):
    rule = {"from": list(peers), **({"ports": list(ports)} if ports else {})}
    return _named(_network_policy(selector or {}, ["Ingress"], ingress=[rule] if peers or ports else [{}]), name)


def _monitor():
    props = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "m", "namespace": "monitoring"},
             "spec": {"selector": {}}}  # fmt: skip
    return resource("kubernetes:monitoring.coreos.com/v1:PodMonitor", props)


GATEWAY = _gateway(("https", 443))
ISOLATED = [CHAT, GATEWAY, _monitor(), _named(DENY_ALL, "deny"), _named(DNS_EGRESS, "dns"),
            _ingress("fronts", _pinned("llm-gateway", PROXIES), _pinned("monitoring", PROMETHEUS_PODS))]  # fmt: skip
SH_VLLM = deployment(container(command=["/bin/sh", "-c", "exec python3 -m vllm.entrypoints.openai.api_server --port 8000"]),
                     labels={"app": "llm"}, name="sneaky")  # fmt: skip


def _llm_isvc(image="vllm/vllm-openai:latest", uri="hf://org/m", args=("--enable-log-requests",)):
    props = {"apiVersion": "serving.kserve.io/v1alpha2", "kind": "LLMInferenceService",
             "metadata": {"name": "llm", "namespace": "llm-serving"},
             "spec": {"model": {"uri": uri, "name": "m"},
                      "template": {"containers": [{"name": "main", "image": image, "args": list(args)}]}}}  # fmt: skip
    return resource("kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService", props)


PROXY_POLICY = _with_namespace(_named(_network_policy({"matchLabels": PROXIES}, ["Ingress"], ingress=[
    {"ports": [{"protocol": "TCP", "port": 10443}]},
    {"from": [_pinned("monitoring", PROMETHEUS_PODS)], "ports": [{"protocol": "TCP", "port": 19001}]}]), "proxies"),
    "llm-gateway")  # fmt: skip
MIRROR_EGRESS = _named(_network_policy({}, ["Egress"], egress=[
    {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]), "mirror")  # fmt: skip
ISOLATION_CASES = [
    ("model-ingress-restricted", "no policy", [CHAT], None, None, "no NetworkPolicy isolates it for ingress"),
    ("model-ingress-restricted", "allow-all beside the deny", [*ISOLATED, _ingress("all", ports=())], None, None,
     "llm-serving/all admits every source to every port"),
    ("model-ingress-restricted", "ingress from 0.0.0.0/0", [*ISOLATED, _ingress("cidr", {"ipBlock": {"cidr": "0.0.0.0/0"}})],
     None, None, "admits addresses 0.0.0.0/0 (ipBlock)"),
    ("model-ingress-restricted", "ingress from every namespace", [*ISOLATED, _ingress("ns", {"namespaceSelector": {}})],
     None, None, "every pod of every namespace"),
    ("model-ingress-restricted", "every pod of the monitoring namespace", [*ISOLATED, _ingress("mon", _pinned("monitoring"))],
     None, None, "admits every pod of namespace monitoring to its serving port"),
    ("model-ingress-restricted", "proxies of a gateway the stack does not declare",
     [*ISOLATED, _ingress("other", _pinned("llm-gateway", {**PROXIES, "gateway.envoyproxy.io/owning-gateway-name": "x"}))],
     None, None, "admits pods {gateway.envoyproxy.io/owning-gateway-name=x"),
    ("model-ingress-restricted", "vLLM through sh -c, found by what it runs", [SH_VLLM], None, None,
     "Deployment llm-serving/sneaky: no NetworkPolicy isolates it for ingress"),
    ("model-ingress-restricted", "LLMInferenceService is a model pod", [_llm_isvc()], None, None,
     "LLMInferenceService llm-serving/llm spec.template: no NetworkPolicy"),
    ("model-ingress-restricted", "only the fronts", ISOLATED, None, None, None),
    ("model-egress-restricted", "no policy", [CHAT], None, None, "no NetworkPolicy isolates it for egress"),
    ("model-egress-restricted", "pool egress to the internet",
     [*ISOLATED, _named(_network_policy({}, ["Egress"], egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]), "out")],
     None, None, "llm-serving/out lets it reach addresses 0.0.0.0/0 (ipBlock) on every port"),
    ("model-egress-restricted", "warm-up to its mirror's port, DNS for all",
     [*ISOLATED, _job("hf", "download", "org/m", "--revision", COMMIT),
      MIRROR_EGRESS],
     None, None, "InferenceService llm-serving/chat predictor: NetworkPolicy llm-serving/mirror lets it reach"),
    ("model-egress-restricted", "DNS only", ISOLATED, None, None, None),
    ("model-egress-restricted", "KServe's storage initializer fetches an hf:// model on 443",
     [_model(CHAT, storageUri=f"hf://org/m:{COMMIT}"), *ISOLATED[1:], MIRROR_EGRESS], None, None, None),
    ("model-egress-restricted", "KServe's download Jobs of a LocalModelCache, not isolated",
     [resource("kubernetes:serving.kserve.io/v1alpha1:LocalModelCache",
               {"kind": "LocalModelCache", "metadata": {"name": "m"}, "spec": {"sourceModelUri": f"hf://org/m:{COMMIT}"}})],
     None, None, "download Jobs of LocalModelCache default/m in kserve-localmodel-jobs: no NetworkPolicy isolates it"),
    ("platform-ingress-restricted", "Kourier and activator without policies",
     [_annotated(CHAT, **{"serving.kserve.io/deploymentMode": "Knative"}), _knative_serving({"enabled": True})],
     None, None, "Kourier's gateway in knative-serving: no NetworkPolicy isolates it"),
    ("platform-ingress-restricted", "activator open to every pod",
     [_annotated(CHAT, **{"serving.kserve.io/deploymentMode": "Knative"}),
      _with_namespace(_ingress("act", ports=(), selector={"matchLabels": {"app": "activator"}}), "knative-serving")],
     None, None, "Knative's activator in knative-serving: NetworkPolicy knative-serving/act admits every source"),
    ("platform-ingress-restricted", "edge proxies without a policy", [GATEWAY], None, None,
     "proxies of Gateway llm-gateway/edge in envoy-gateway-system/llm-gateway: no NetworkPolicy isolates them"),
    ("platform-ingress-restricted", "edge proxies open on every port", [GATEWAY, _with_namespace(
        _ingress("proxies", ports=(), selector={"matchLabels": PROXIES}), "llm-gateway")], None, None,
     "NetworkPolicy llm-gateway/proxies admits every source to every port"),
    ("platform-ingress-restricted", "guarded",
     [_annotated(CHAT, **{"serving.kserve.io/deploymentMode": "Knative"}), GATEWAY, PROXY_POLICY, _monitor(),
      _with_namespace(_ingress("act", _pinned("knative-serving"), ports=(), selector={"matchLabels": {"app": "activator"}}),
                      "knative-serving"),
      _with_namespace(_ingress("kourier", _pinned("llm-gateway", PROXIES), ports=(),
                               selector={"matchLabels": {"app": "3scale-kourier-gateway"}}), "knative-serving")],
     None, None, None),
]  # fmt: skip
EXPOSURE_CASES = [
    ("no-public-model-services", "NodePort selecting vLLM pods by other labels", [SH_VLLM, _service("NodePort", {"app": "llm"}, namespace="llm-serving")],
     None, None, "exposes model pods (Deployment llm-serving/sneaky)"),
    ("no-public-model-services", "another cloud's internal annotation on EKS",
     [_service("LoadBalancer", {"app": "gateway"}, annotations={"networking.gke.io/load-balancer-type": "Internal"})],
     None, {"no-public-model-services": {"cloud": "aws"}}, "AWS load-balancer controllers does not make internal"),
    ("no-public-model-services", "scheme annotation the in-tree provider does not read",
     [_service("LoadBalancer", {"app": "gateway"}, annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"})],
     None, {"no-public-model-services": {"cloud": "aws"}}, "internet-facing"),
    ("no-public-model-services", "controller's scheme wins over the internal annotation",
     [_service("LoadBalancer", {"app": "gateway"}, annotations={**LBC_INTERNAL, **IN_TREE_INTERNAL,
                                                                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"})],
     None, {"no-public-model-services": {"cloud": "aws"}}, "internet-facing"),
    ("no-public-model-services", "AWS annotations off AWS", [_service("LoadBalancer", {"app": "gateway"}, annotations=LBC_INTERNAL)],
     None, {"no-public-model-services": {"cloud": "none"}}, "no cloud annotations apply"),
]  # fmt: skip
_PROD_KEYS = {"volumeMounts": [{"name": "keys", "mountPath": "/etc/keys"}]}


def _prod(found):
    found["urn"] = found["urn"].replace("urn:pulumi:dev::", "urn:pulumi:prod::")
    return found


TRUST_CASES = [
    ("vllm-api-key-required", "prod pool without its key check", [_prod(copy.deepcopy(CHAT))], None, None,
     "vLLM runs without its own API-key check"),
    ("vllm-api-key-required", "config file not from a Secret",
     [_prod(_model(CHAT, args=["/mnt/models", "--config", "/tmp/keys.yaml"]))], None, None, "is not read from a Secret volume"),
    ("vllm-api-key-required", "dev may go without", [CHAT], None, None, None),
    ("vllm-api-key-required", "prod pool with its keys Secret",
     [_prod(_with(_model(CHAT, args=["/mnt/models", "--config", "/etc/keys/api-keys.yaml"], **_PROD_KEYS),
                  volumes=[{"name": "keys", "secret": {"secretName": "chat-keys"}}]))], None, None, None),
    ("trust-flags-accepted", "--trust-remote-code with no opt-in",
     [_model(CHAT, args=["/mnt/models", "--trust-remote-code"])], None, None,
     "sets --trust-remote-code, which runs the checkpoint's own Python modelling code"),
    ("trust-flags-accepted", "an abbreviation under sh -c, opt-in for another flag",
     [vllm_deployment_sh("vllm serve /m --trust_remote --max-model-len 4096", annotations={"llmserving.io/trusted-args": "--middleware"})],
     None, None, "sets --trust-remote-code"),
    ("trust-flags-accepted", "opted in on the InferenceService",
     [_annotated(_model(CHAT, args=["/mnt/models", "--trust-remote-code"]), **{"llmserving.io/trusted-args": "--trust-remote-code"})],
     None, None, None),
    ("trust-flags-accepted", "safe --load-format and a flag turned off", [_model(CHAT, args=["/mnt/models", "--load-format",
     "safetensors", "--no-trust-remote-code"])], None, None, None),
]  # fmt: skip
REVISION_CASES = [
    ("pinned-model-revisions", "--revision main beside a commit in a comment",
     [_job("/bin/sh", "-c", f"hf download org/m --revision main  # revision {COMMIT}")], None, None,
     "hf download org/m --revision main"),
    ("pinned-model-revisions", "commit mid-path, branch where the revision is read",
     [_model(CHAT, storageUri=f"pvc://cache/models/{COMMIT}/org/m/main")], None, None, "last path segment"),
    ("pinned-model-revisions", "vllm --revision main beside a commit in a comment",
     [deployment(container(command=["sh", "-c", f"vllm serve org/m --revision main # --revision {COMMIT}"]))], None, None,
     "without --revision"),
    ("pinned-model-revisions", "LLMInferenceService unpinned", [_llm_isvc()], None, None, "spec.model.uri: 'hf://org/m'"),
    ("pinned-image-tags", "LLMInferenceService :latest", [_llm_isvc()], None, None, "moving tag 'latest'"),
    ("no-request-logging", "LLMInferenceService logging", [_llm_isvc()], None, None, "--enable-log-requests"),
    ("no-request-logging", "vLLM through sh -c logging",
     [deployment(container(command=["/bin/sh", "-c", "vllm serve /m --enable-log-outputs"]))], None, None, "--enable-log-outputs"),
]  # fmt: skip

TLS = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "edge-tls"}]}
EDGE_COMPONENT = resource("llmserving:edge:Gateway", {"hostnames": {"chat": "chat.example", "batch": "batch.example"},
                                                      "tlsSecret": "llm-gateway/edge-tls"}, name="edge-component")  # fmt: skip


def _listener(name="https", port=443, protocol="HTTPS", **fields):
    return {"name": name, "port": port, "protocol": protocol, **({"tls": TLS} if protocol == "HTTPS" else {}), **fields}


def _edge_gateway(*listeners):
    found = _gateway()
    found["inputs"]["spec"]["listeners"] = list(listeners) or [_listener()]
    return found


def _admitting_gateway():
    found = _edge_gateway()
    found["inputs"]["spec"]["allowedListeners"] = {"namespaces": {"from": "All"}}
    return found


def _listener_set(*listeners):
    props = {"apiVersion": "gateway.networking.x-k8s.io/v1alpha1", "kind": "XListenerSet",
             "metadata": {"name": "extra", "namespace": "llm-gateway"},
             "spec": {"parentRef": {"name": "edge"}, "listeners": list(listeners)}}  # fmt: skip
    return resource("kubernetes:gateway.networking.x-k8s.io/v1alpha1:XListenerSet", props, name="extra")


def _pool_route(name, pool, *hostnames):
    found = _edge_route(name)
    found["inputs"]["spec"]["rules"][0]["backendRefs"][0].update(name=f"{pool}-predictor", namespace="llm-serving")
    found["inputs"]["spec"]["hostnames"] = list(hostnames)
    return found


def _traffic(name, target_kind, target, rate_limit=True, **spec):
    limit = {"rateLimit": {"local": {"rules": [{"limit": {"requests": 60, "unit": "Minute"}}]}}} if rate_limit else {}
    props = {"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
             "metadata": {"name": name, "namespace": "llm-gateway"},
             "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": target_kind, "name": target}],
                      **limit, **spec}}  # fmt: skip
    return resource("kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy", props, name=name)


EXT_AUTH = {"extAuth": {"http": {"backendRefs": [{"name": "allow-all", "port": 80}]}}}
EDGE_CASES = [
    ("edge-listeners-https", "plain-HTTP listener", [EDGE_COMPONENT, _edge_gateway(_listener(), _listener("http", 80, "HTTP"))],
     None, None, "listener http is HTTP, not HTTPS"),
    ("edge-listeners-https", "routes from every namespace",
     [EDGE_COMPONENT, _edge_gateway(_listener(allowedRoutes={"namespaces": {"from": "All"}}))], None, None,
     "admits routes from every namespace"),
    ("edge-listeners-https", "routes from a selector of many namespaces",
     [EDGE_COMPONENT, _edge_gateway(_listener(allowedRoutes={"namespaces": {"from": "Selector", "selector": {}}}))],
     None, None, "not one namespace of the stack"),
    ("edge-listeners-https", "someone else's certificate",
     [EDGE_COMPONENT, _edge_gateway(_listener(tls={"certificateRefs": [{"name": "other"}]}))], None, None,
     "serves certificate llm-gateway/other"),
    ("edge-listeners-https", "TLS passed through", [EDGE_COMPONENT, _edge_gateway(_listener(tls={**TLS, "mode": "Passthrough"}))],
     None, None, "passes TLS through"),
    ("edge-listeners-https", "HTTPS with our certificate, own namespace", [EDGE_COMPONENT, _edge_gateway()], None, None, None),
    ("edge-listeners-https", "Gateway admits ListenerSets", [EDGE_COMPONENT, _admitting_gateway()], None, None,
     "allowedListeners admits ListenerSets from All namespaces"),
    ("edge-listeners-https", "plain-HTTP listener added by a ListenerSet",
     [EDGE_COMPONENT, _edge_gateway(), _listener_set(_listener("http", 80, "HTTP"))], None, None,
     "XListenerSet llm-gateway/extra: listener http is HTTP, not HTTPS"),
    ("pool-routes-rate-limited", "rate limit removed", [CHAT, _pool_route("chat", "chat", "chat.example")], None, None,
     "reaches a pool without a rate limit"),
    ("pool-routes-rate-limited", "route policy without rateLimit replaces the gateway's",
     [CHAT, _pool_route("chat", "chat", "chat.example"), _traffic("edge", "Gateway", "edge"),
      _traffic("chat", "HTTPRoute", "chat", rate_limit=False, timeout={})], None, None,
     "BackendTrafficPolicy chat has no rateLimit and replaces"),
    ("pool-routes-rate-limited", "on the route, or on the gateway",
     [CHAT, BATCH, _pool_route("chat", "chat", "chat.example"), _pool_route("batch", "batch", "batch.example"),
      _traffic("chat", "HTTPRoute", "chat"), _traffic("edge", "Gateway", "edge")], None, None, None),
    ("route-hostnames-owned", "chat hostname to the batch pool",
     [EDGE_COMPONENT, CHAT, BATCH, _pool_route("batch", "batch", "chat.example")], None, None,
     "routes chat.example (pool chat's) to pool batch"),
    ("route-hostnames-owned", "no hostname", [EDGE_COMPONENT, CHAT, _pool_route("chat", "chat")], None, None,
     "names no hostname"),
    ("route-hostnames-owned", "a hostname no pool owns", [EDGE_COMPONENT, CHAT, _pool_route("chat", "chat", "x.example")],
     None, None, "routes x.example, which no pool owns"),
    ("route-hostnames-owned", "each hostname to its pool",
     [EDGE_COMPONENT, CHAT, BATCH, _pool_route("chat", "chat", "chat.example"), _pool_route("batch", "batch", "batch.example")],
     None, None, None),
    ("routes-authenticated", "extAuth to an allow-all backend",
     [_edge_route(), _security_policy("auth", "Gateway", "edge", **EXT_AUTH)], None, None,
     "SecurityPolicy llm-gateway/auth does not authenticate every request"),
    ("routes-authenticated", "extAuth that fails open",
     [_edge_route(), _security_policy("auth", "Gateway", "edge", extAuth={**EXT_AUTH["extAuth"], "failOpen": True})],
     None, {"routes-authenticated": {"authBackends": ["llm-gateway/allow-all"]}}, "does not authenticate"),
    ("routes-authenticated", "extAuth to our auth backend",
     [_edge_route(), _security_policy("auth", "Gateway", "edge", **EXT_AUTH)], None,
     {"routes-authenticated": {"authBackends": ["llm-gateway/allow-all"]}}, None),
]  # fmt: skip

# (rule, case id, resources, stack outputs, policy config, expected message part or None when compliant)
CASES = [
    ("pinned-image-tags", "no tag", [deployment(container("busybox"))], None, None, "has no tag"),
    (
        "pinned-image-tags",
        "latest",
        [deployment(container("vllm/vllm-openai:latest"))],
        None,
        None,
        "moving tag 'latest'",
    ),
    ("pinned-image-tags", "nightly suffix", [deployment(container("img:v1-nightly"))], None, None, "moving tag"),
    (
        "pinned-image-tags",
        "minor tag in production",
        [resource("kubernetes:apps/v1:Deployment", deployment(container("img:v0.32"))["inputs"], stack="prod")],
        None,
        None,
        "exact version tag",
    ),  # fmt: skip
    ("pinned-image-tags", "minor tag outside production", [deployment(container("img:v0.32"))], None, None, None),
    ("pinned-image-tags", "exact tag", [deployment(container("img:v0.32.0"))], None, None, None),
    ("pinned-image-tags", "digest", [deployment(container("img@sha256:" + "a" * 64))], None, None, None),
    (
        "pinned-model-revisions",
        "hf uri without revision",
        [_model(CHAT, storageUri="hf://meta-llama/Llama-3.1-8B-Instruct")],
        None,
        None,
        "storageUri",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "branch in path",
        [_model(CHAT, storageUri="s3://models/org/m/main")],
        None,
        None,
        "no 40-hex commit",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "hub id without --revision",
        [deployment(container(command=["vllm", "serve", "org/model"], args=["--max-model-len", "8192"]))],
        None,
        None,
        "without --revision",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "warm-up from a branch",
        [_job("huggingface-cli", "download", "org/m", "--revision", "main")],
        None,
        None,
        "downloads from the hub",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "a script with one pinned and one unpinned download",
        [_job("/bin/sh", "-c", f"hf download org/a --revision {COMMIT}\nhf download org/b --local-dir /m")],
        None,
        None,
        "hf download org/b",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "local model cache",
        [
            resource(
                "kubernetes:serving.kserve.io/v1alpha1:LocalModelCache",
                {"kind": "LocalModelCache", "metadata": {"name": "m"}, "spec": {"sourceModelUri": "hf://org/m"}},
            )
        ],
        None,
        None,
        "sourceModelUri",
    ),  # fmt: skip
    (
        "pinned-model-revisions",
        "pinned everywhere",
        [CHAT, _job("hf", "download", "org/m", "--revision", COMMIT), _model(CHAT, storageUri=f"hf://org/m:{COMMIT}")],
        None,
        None,
        None,
    ),  # fmt: skip
    ("context-cap-required", "no flag", [vllm_deployment()], None, None, "without --max-model-len"),
    ("context-cap-required", "auto", [vllm_deployment("--max-model-len", "auto")], None, None, "not a fixed token"),
    ("context-cap-required", "isvc without flag", [_model(CHAT, args=["/mnt/models"])], None, None, "without"),
    ("context-cap-required", "set", [vllm_deployment("--max-model-len=8192"), CHAT], None, None, None),
    (
        "chat-context-cap",
        "above cap",
        [_model(CHAT, args=["/mnt/models", "--max-model-len", "16384"])],
        None,
        None,
        "above the chat cap 8192",
    ),  # fmt: skip
    (
        "chat-context-cap",
        "human-readable spelling",
        [_model(CHAT, args=["/mnt/models", "--max_model_len=32k"])],
        None,
        None,
        "32000",
    ),  # fmt: skip
    (
        "chat-context-cap",
        "configured cap",
        [_model(CHAT, args=["/mnt/models", "--max-model-len", "16384"])],
        None,
        {"chat-context-cap": {"maxModelLen": 16384}},
        None,
    ),  # fmt: skip
    ("chat-context-cap", "batch may be long", [BATCH], None, None, None),
    (
        "gpu-requests-equal-limits",
        "unequal",
        [
            deployment(
                container(
                    resources={
                        "requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
                        "limits": {"nvidia.com/gpu": "2"},
                    }
                )
            )
        ],
        None,
        None,
        "must both be set and equal",
    ),
    (
        "gpu-requests-equal-limits",
        "no cpu request",
        [
            deployment(
                container(
                    resources={"requests": {"memory": "1Gi", "nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}}
                )
            )
        ],
        None,
        None,
        "without cpu requests",
    ),  # fmt: skip
    ("gpu-requests-equal-limits", "equal", [deployment(container(resources=GPU)), CHAT], None, None, None),
    ("shm-for-tensor-parallel", "no shm", [vllm_deployment("--tensor-parallel-size", "2")], None, None, "/dev/shm"),
    (
        "shm-for-tensor-parallel",
        "disk-backed shm",
        [
            deployment(
                container(command=["vllm", "serve"], args=["-tp", "4"], volumeMounts=[SHM_MOUNT]),
                volumes=[{"name": "dshm", "emptyDir": {}}],
            )
        ],
        None,
        None,
        "tensor parallel size 4",
    ),  # fmt: skip
    (
        "shm-for-tensor-parallel",
        "memory shm",
        [
            deployment(
                container(command=["vllm", "serve"], args=["--tensor_parallel_size=2"], volumeMounts=[SHM_MOUNT]),
                volumes=[SHM_VOLUME],
            ),
            _with(
                _model(CHAT, args=["/mnt/models", "--tensor-parallel-size", "2"], volumeMounts=[SHM_MOUNT]),
                volumes=[SHM_VOLUME],
            ),
        ],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "no-generation-probes",
        "chat completions",
        [deployment(container(readinessProbe={"httpGet": {"path": "/v1/chat/completions", "port": 8080}}))],
        None,
        None,
        "readinessProbe: probes the generation endpoint",
    ),  # fmt: skip
    (
        "no-generation-probes",
        "curl in exec",
        [
            deployment(
                container(livenessProbe={"exec": {"command": ["curl", "-d", "{}", "localhost:8000/v1/completions"]}})
            )
        ],
        None,
        None,
        "livenessProbe",
    ),  # fmt: skip
    (
        "no-generation-probes",
        "health",
        [deployment(container(startupProbe={"httpGet": {"path": "/health"}}))],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "no-plaintext-secrets",
        "hub token in env",
        [deployment(container(env=[{"name": "X", "value": "hf_" + "a" * 34}]))],
        None,
        None,
        "Hugging Face token",
    ),  # fmt: skip
    (
        "no-plaintext-secrets",
        "literal api key env",
        [deployment(container(env=[{"name": "VLLM_API_KEY", "value": "s3cr3t"}]))],
        None,
        None,
        "credential as a literal",
    ),  # fmt: skip
    ("no-plaintext-secrets", "api key argument", [vllm_deployment("--api-key", "abc123")], None, None, "--api-key"),
    (
        "no-plaintext-secrets",
        "token in annotation",
        [_annotated(CHAT, note="sk-" + "b" * 30)],
        None,
        None,
        "annotation note holds an OpenAI-style API key",
    ),  # fmt: skip
    (
        "no-plaintext-secrets",
        "token in ConfigMap",
        [
            resource(
                "kubernetes:core/v1:ConfigMap",
                {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"key": "AKIA" + "A" * 16}},
            )
        ],
        None,
        None,
        "data.key",
    ),  # fmt: skip
    (
        "no-plaintext-secrets",
        "secret references",
        [
            deployment(
                container(
                    env=[SECRET_ENV, {"name": "HF_HUB_DISABLE_IMPLICIT_TOKEN", "value": "1"}],
                    args=["--api-key", "$(VLLM_API_KEY)"],
                )
            )
        ],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "no-request-logging",
        "log requests",
        [_model(CHAT, args=["/mnt/models", "--enable-log-requests"])],
        None,
        None,
        "--enable-log-requests",
    ),  # fmt: skip
    (
        "no-request-logging",
        "log outputs, underscore spelling",
        [vllm_deployment("--enable_log_outputs=true")],
        None,
        None,
        "--enable-log-outputs",
    ),  # fmt: skip
    (
        "no-request-logging",
        "response debug env",
        [deployment(container(env=[{"name": "VLLM_DEBUG_LOG_API_SERVER_RESPONSE", "value": "true"}]))],
        None,
        None,
        "response body",
    ),  # fmt: skip
    (
        "no-request-logging",
        "KServe payload logger",
        [_with(CHAT, logger={"mode": "all", "url": "http://sink"})],
        None,
        None,
        "payload logger",
    ),  # fmt: skip
    (
        "no-request-logging",
        "turned off again",
        [vllm_deployment("--enable-log-requests", "--no-enable-log-requests")],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "no-public-model-services",
        "LoadBalancer to model pods",
        [_service("LoadBalancer", POOL_LABELS)],
        None,
        None,
        "exposes model pods",
    ),  # fmt: skip
    (
        "no-public-model-services",
        "NodePort to KServe pods",
        [_service("NodePort", {"serving.kserve.io/inferenceservice": "chat"})],
        None,
        None,
        "NodePort",
    ),  # fmt: skip
    (
        "no-public-model-services",
        "public gateway LoadBalancer",
        [_service("LoadBalancer", {"app": "gateway"})],
        None,
        None,
        "internet-facing",
    ),  # fmt: skip
    ("no-public-model-services", "EnvoyProxy default service", [_envoy_proxy({})], None, None, "internet-facing"),
    (
        "no-public-model-services",
        "internal gateway",
        [
            _service("LoadBalancer", {"app": "gateway"}, name="lbc", annotations=LBC_INTERNAL),
            _service("LoadBalancer", {"app": "gateway"}, name="in-tree", annotations=IN_TREE_INTERNAL),
            _envoy_proxy({"loadBalancerSourceRanges": ["10.0.0.0/8"]}),
            _service("ClusterIP", POOL_LABELS, name="pool"),
        ],
        None,
        {"no-public-model-services": {"cloud": "aws"}},
        None,
    ),  # fmt: skip
    (
        "no-public-model-services",
        "Kourier's default LoadBalancer",
        [_knative_serving({"enabled": True})],
        None,
        None,
        "service-type: ClusterIP",
    ),  # fmt: skip
    (
        "no-public-model-services",
        "Kourier NodePort",
        [_knative_serving({"enabled": True, "service-type": "NodePort"})],
        None,
        None,
        "around the gateway",
    ),  # fmt: skip
    (
        "no-public-model-services",
        "Kourier cluster-internal",
        [_knative_serving({"enabled": True, "service-type": "ClusterIP"}), _knative_serving({"enabled": False})],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "no-public-model-services",
        "public gateway allowed",
        [_service("LoadBalancer", {"app": "gateway"})],
        None,
        {"no-public-model-services": {"allowPublicLoadBalancer": True}},
        None,
    ),  # fmt: skip
    ("inference-signal-autoscaling", "scaleMetric cpu", [_with(CHAT, scaleMetric="cpu")], None, None, "scales on cpu"),
    (
        "inference-signal-autoscaling",
        "KServe's default hpa",
        [_with(_annotated(CHAT, **{"serving.kserve.io/autoscalerClass": "hpa"}), autoScaling={})],
        None,
        None,
        "hpa autoscaler class",
    ),  # fmt: skip
    (
        "inference-signal-autoscaling",
        "resource metric",
        [_with(CHAT, autoScaling={"metrics": [{"type": "Resource", "resource": {"name": "memory"}}]})],
        None,
        None,
        "scales on memory",
    ),  # fmt: skip
    (
        "inference-signal-autoscaling",
        "Knative metric annotation",
        [_with(CHAT, annotations={"autoscaling.knative.dev/metric": "cpu"})],
        None,
        None,
        "autoscaling.knative.dev/metric",
    ),
    (
        "inference-signal-autoscaling",
        "HPA on a predictor",
        [
            _autoscaler(
                "HorizontalPodAutoscaler",
                "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
                {"metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
            )
        ],
        None,
        None,
        "scales on cpu",
    ),
    (
        "inference-signal-autoscaling",
        "KEDA cpu trigger",
        [_autoscaler("ScaledObject", "kubernetes:keda.sh/v1alpha1:ScaledObject", {"triggers": [{"type": "memory"}]})],
        None,
        None,
        "scales on memory",
    ),  # fmt: skip
    (
        "inference-signal-autoscaling",
        "inference signals",
        [
            CHAT,
            _with(BATCH, scaleMetric="concurrency"),
            _autoscaler(
                "HorizontalPodAutoscaler",
                "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
                {"metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]},
                target="web",
            ),
        ],
        None,
        None,
        None,
    ),  # fmt: skip
    ("pinned-chart-versions", "no version", [_chart("kubernetes:helm.sh/v4:Chart")], None, None, "has no version"),
    (
        "pinned-chart-versions",
        "range",
        [_chart("kubernetes:helm.sh/v3:Release", version="^0.20")],
        None,
        None,
        "not an exact version",
    ),  # fmt: skip
    (
        "pinned-chart-versions",
        "exact or local",
        [
            _chart("kubernetes:helm.sh/v4:Chart", version="v0.20.0"),
            resource("kubernetes:helm.sh/v4:Chart", {"chart": "./charts/local"}, name="local"),
        ],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "images-from-mirror",
        "the stack's mirror, one upstream image",
        [deployment(container(f"{HUB_MIRROR}vllm/vllm-openai:v0.32.0"), container())],
        MIRROR,
        None,
        "spec.template.spec.containers[1]: 'docker.io/vllm/vllm-openai:v0.32.0' does not come from the registry mirror "
        "(registry.internal/docker-hub/, registry.internal/github/)",
    ),  # fmt: skip
    (
        "images-from-mirror",
        "a configured mirror, upstream image",
        [deployment(container())],
        None,
        {"images-from-mirror": {"mirrors": ["registry.internal/"]}},
        "does not come from the registry mirror",
    ),  # fmt: skip
    (
        "images-from-mirror",
        "chart image left at the chart's default",
        [_keda_chart(image=_keda_images(""))],
        MIRROR,
        None,
        "values.image.keda.registry+repository: 'ghcr.io/kedacore/keda' does not come",
    ),  # fmt: skip
    (
        "images-from-mirror",
        "Knative image from gcr.io",
        [_knative_serving(activator="gcr.io/knative-releases/knative.dev/serving/cmd/activator:v1.23.0")],
        MIRROR,
        None,
        "spec.registry.override.activator: 'gcr.io/knative-releases/",
    ),  # fmt: skip
    (
        "images-from-mirror",
        "Envoy proxies from Docker Hub",
        [_envoy_proxy({}, imageRepository="docker.io/envoyproxy/envoy")],
        MIRROR,
        None,
        "envoyDeployment.container.imageRepository: 'docker.io/envoyproxy/envoy'",
    ),  # fmt: skip
    (
        "images-from-mirror",
        "everything through the stack's mirror",
        [
            deployment(container(f"{HUB_MIRROR}vllm/vllm-openai:v0.32.0")),
            _keda_chart(image=_keda_images("registry.internal")),
            _knative_serving(activator=f"{HUB_MIRROR}knative/activator:v1.23.0"),
            _envoy_proxy({}, imageRepository=f"{HUB_MIRROR}envoyproxy/envoy"),
        ],
        MIRROR,
        None,
        None,
    ),  # fmt: skip
    (
        "images-from-mirror",
        "a configured prefix besides the stack's mirror",
        [deployment(container("registry.internal/team/app:1.0.0"))],
        MIRROR,
        {"images-from-mirror": {"mirrors": ["registry.internal/team/"]}},
        None,
    ),  # fmt: skip
    (
        "images-from-mirror",
        "no mirror",
        [deployment(container()), _keda_chart(), _envoy_proxy({}, imageRepository="envoy")],
        mirror_outputs(),
        None,
        None,
    ),  # fmt: skip
    (
        "chat-batch-separated",
        "one service, both labels",
        [_with(CHAT, labels={"llmserving.io/class": "batch"})],
        None,
        None,
        "serves both chat and batch",
    ),  # fmt: skip
    (
        "chat-batch-separated",
        "batch route to the chat pool",
        [CHAT, BATCH, _route("batch", "chat-predictor")],
        None,
        None,
        "batch by HTTPRoute llm-serving/batch-route",
    ),  # fmt: skip
    (
        "chat-batch-separated",
        "batch declared without its pool",
        [CHAT, _runtime("batch")],
        None,
        None,
        "class batch is declared",
    ),  # fmt: skip
    (
        "chat-batch-separated",
        "a pool per class",
        [CHAT, BATCH, _route("chat", "chat-predictor"), _runtime("batch")],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "chat-batch-separated",
        "batch route to the chat pool through Kourier",
        [CHAT, BATCH, _kourier_route("batch", "chat-predictor")],
        None,
        None,
        "llm-serving/chat serves both chat and batch (batch by HTTPRoute",
    ),
    (
        "chat-batch-separated",
        "each class through Kourier to its own pool",
        [CHAT, BATCH, _kourier_route("chat", "chat-predictor"), _kourier_route("batch", "batch-predictor")],
        None,
        None,
        None,
    ),  # fmt: skip
    ("serving-namespace-default-deny", "no policy", [CHAT], None, None, "Egress and Ingress"),
    (
        "serving-namespace-default-deny",
        "policy selects some pods",
        [CHAT, _network_policy({"matchLabels": {"a": "b"}}, ["Ingress", "Egress"])],
        None,
        None,
        "without a default-deny",
    ),
    (
        "serving-namespace-default-deny",
        "ingress only",
        [CHAT, _network_policy({}, ["Ingress"])],
        None,
        None,
        "for Egress",
    ),  # fmt: skip
    (
        "serving-namespace-default-deny",
        "deny in another namespace",
        [CHAT, _network_policy({}, ["Ingress", "Egress"], namespace="other")],
        None,
        None,
        "llm-serving",
    ),
    (
        "serving-namespace-default-deny",
        "default deny",
        [CHAT, vllm_deployment("--max-model-len", "1"), DENY_ALL],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "serving-namespace-default-deny",
        "ingress only when configured",
        [CHAT, _network_policy({}, ["Ingress"])],
        None,
        {"serving-namespace-default-deny": {"policyTypes": ["Ingress"]}},
        None,
    ),  # fmt: skip
    (
        "routes-authenticated",
        "no policy",
        [_edge_route()],
        None,
        None,
        "HTTPRoute llm-gateway/chat reaches its backends through Gateway llm-gateway/edge without authentication",
    ),
    (
        "routes-authenticated",
        "gateway policy that only authorizes",
        [_edge_route(), _security_policy("cidrs", "Gateway", "edge", **ALLOWLIST)],
        None,
        None,
        "SecurityPolicy llm-gateway/cidrs does not authenticate every request",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "route policy replaces the gateway's",
        [
            _edge_route(),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("clients", "HTTPRoute", "chat", **ALLOWLIST),
        ],
        None,
        None,
        "SecurityPolicy llm-gateway/clients replaces the authentication of Gateway llm-gateway/edge",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "listener policy replaces the gateway's",
        [
            _edge_route(section="https"),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("https", "Gateway", "edge", section="https", **ALLOWLIST),
        ],
        None,
        None,
        "through listener https of Gateway llm-gateway/edge, whose SecurityPolicy llm-gateway/https does not",
    ),
    (
        "routes-authenticated",
        "rule policy replaces the gateway's",
        [
            _edge_route(),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("rule", "HTTPRoute", "chat", section="completions", **ALLOWLIST),
        ],
        None,
        None,
        "replaces the authentication of rule completions with none",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "policy in another namespace does not attach",
        [_edge_route(), _with_namespace(_security_policy("auth", "Gateway", "edge", **API_KEY_AUTH), "default")],
        None,
        None,
        "without authentication",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "gateway auth, merged route allowlist, authenticated listener and route",
        [
            _edge_route(),
            _edge_route("batch", section="https"),
            _edge_route("embed"),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("clients", "HTTPRoute", "chat", mergeType="StrategicMerge", **ALLOWLIST),
            _security_policy("https", "Gateway", "edge", section="https", jwt={"providers": []}),
            _security_policy("embed", "HTTPRoute", "embed", basicAuth={"users": {"name": "htpasswd"}}),
        ],
        None,
        None,
        None,
    ),
    (
        "routes-authenticated",
        "route on every listener, one listener unauthenticated",
        [
            _gateway(("https", 443), ("internal", 8443)),
            _edge_route(),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("internal", "Gateway", "edge", section="internal", **ALLOWLIST),
        ],
        None,
        None,
        "through listener internal of Gateway llm-gateway/edge",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "gateway policy by label selector",
        [
            _gateway(("https", 443), labels={"edge": "yes"}),
            _edge_route(),
            _security_policy(
                "auth",
                "Gateway",
                None,
                targetSelectors=[{"kind": "Gateway", "matchLabels": {"edge": "yes"}}],
                **API_KEY_AUTH,
            ),
        ],
        None,
        None,
        None,
    ),  # fmt: skip
    (
        "routes-authenticated",
        "route policy by label selector replaces the gateway's",
        [
            _with_labels(_edge_route(), team="a"),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy(
                "team",
                "HTTPRoute",
                None,
                targetSelectors=[
                    {"kind": "HTTPRoute", "matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
                ],
                **ALLOWLIST,
            ),
        ],
        None,
        None,
        "SecurityPolicy llm-gateway/team replaces the authentication",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "two policies on the gateway, one without authentication",
        [
            _edge_route(),
            _security_policy("cidrs", "Gateway", "edge", **ALLOWLIST),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
        ],
        None,
        None,
        "llm-gateway/cidrs, llm-gateway/auth",
    ),
    (
        "routes-authenticated",
        "two policies on the gateway, the other order",
        [
            _edge_route(),
            _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH),
            _security_policy("cidrs", "Gateway", "edge", **ALLOWLIST),
        ],
        None,
        None,
        "llm-gateway/auth, llm-gateway/cidrs",
    ),
    (
        "routes-authenticated",
        "listener set without its own policy",
        [_listener_set_route(), _security_policy("auth", "Gateway", "edge", **API_KEY_AUTH)],
        None,
        None,
        "through ListenerSet llm-gateway/team without authentication",
    ),  # fmt: skip
    (
        "routes-authenticated",
        "exempt on purpose",
        [_edge_route()],
        None,
        {"routes-authenticated": {"unauthenticatedRoutes": ["llm-gateway/chat"]}},
        None,
    ),  # fmt: skip
    *ISOLATION_CASES,
    *EDGE_CASES,
    *EXPOSURE_CASES,
    *TRUST_CASES,
    *REVISION_CASES,
    ("capacity-fits", "no figures", [CHAT], {}, None, "has no capacity figures"),
    (
        "capacity-fits",
        "rejected",
        [CHAT],
        capacity_outputs(chat={"fits": False, "errors": ["weights need 90 GiB"]}),
        None,
        "does not fit: weights need 90 GiB",
    ),  # fmt: skip
    (
        "capacity-fits",
        "figures for another cap",
        [_model(CHAT, args=["/mnt/models", "--max-model-len", "16384"])],
        capacity_outputs(chat={}),
        None,
        "runs with maxModelLen 16384 but its capacity figures were computed for 8192",
    ),
    ("capacity-fits", "fits", [CHAT, BATCH], capacity_outputs(chat={}, batch={"maxModelLen": 32768}), None, None),
    ("vllm-drains-on-shutdown", "no drain", [CHAT], None, None, "vLLM runs with no --shutdown-timeout (0)"),
    ("vllm-drains-on-shutdown", "drain 0", [_drain(CHAT, "0")], None, None, "vLLM runs with --shutdown-timeout 0"),
    (
        "vllm-drains-on-shutdown",
        "Kubernetes' default grace under the drain",
        [_drain(CHAT, "120")],
        None,
        None,
        "its pod's terminationGracePeriodSeconds 30 ends vLLM's 120 s drain",
    ),
    (
        "vllm-drains-on-shutdown",
        "the preStop counts against the grace",
        [
            _with(
                _drain(CHAT, "120", lifecycle={"preStop": {"sleep": {"seconds": 10}}}),
                terminationGracePeriodSeconds=125,
            )
        ],
        None,
        None,
        "after a 10 s preStop",
    ),
    (
        "vllm-drains-on-shutdown",
        "drain within the grace",
        [_with(_drain(CHAT, "120"), terminationGracePeriodSeconds=160)],
        None,
        None,
        None,
    ),
    ("vllm-drains-on-shutdown", "Knative sets the grace", [_drain(KNATIVE_BATCH, "600")], None, None, None),
    (
        "vllm-drains-on-shutdown",
        "by hand, default grace",
        [vllm_deployment("--shutdown-timeout=600")],
        None,
        None,
        "terminationGracePeriodSeconds 30 ends vLLM's 600 s drain",
    ),
    (
        "knative-timeouts-drainable",
        "Knative batch past the grace",
        [KNATIVE_BATCH],
        None,
        None,
        "InferenceService llm-serving/batch: its predictor's timeout (1800 s) is longer than Knative's proxies drain",
    ),
    (
        "knative-timeouts-drainable",
        "accepted with a reason",
        [_annotated(KNATIVE_BATCH, **{ACCEPTED: REASON})],
        None,
        None,
        None,
    ),
    (
        "knative-timeouts-drainable",
        "a blank acceptance",
        [_annotated(KNATIVE_BATCH, **{ACCEPTED: "  "})],
        None,
        None,
        "(1800 s) is longer",
    ),
    ("knative-timeouts-drainable", "within the drain", [_with(KNATIVE_BATCH, timeout=15)], None, None, None),
    (
        "knative-timeouts-drainable",
        "a transformer past the grace",
        [_knative({**predictor(BATCH), "timeout": 300}, transformer={"timeout": 900.0})],
        None,
        None,
        "its transformer's timeout (900 s)",
    ),
    # KServe gives a Standard component's timeout to no Knative revision (no activator in front).
    ("knative-timeouts-drainable", "Standard mode", [_with(BATCH, timeout=1800)], None, None, None),
    (
        "knative-timeouts-drainable",
        "unset: Knative's 300 s default",
        [_knative(predictor(BATCH))],
        None,
        None,
        "its predictor's timeout is unset, so Knative's default revision timeout (300 s)",
    ),
    (
        "knative-timeouts-drainable",
        "unset: the KnativeServing's default",
        [_knative(predictor(BATCH)), knative_serving(**{"revision-timeout-seconds": "900"})],
        None,
        None,
        "its predictor's timeout is unset, so the KnativeServing's revision-timeout-seconds (900 s)",
    ),
    (
        "knative-timeouts-drainable",
        "a hand-declared Knative Service",
        [knative_service(1200)],
        None,
        None,
        "Service llm-serving/sneaky: its template's timeoutSeconds (1200 s)",
    ),
    ("knative-timeouts-drainable", "a Knative Service within the drain", [knative_service(10)], None, None, None),
    ("model-approved", "no record in production", [_in_prod(CHAT)], None, None, "without license, approval.owner"),
    (
        "model-approved",
        "no approval",
        [_in_prod(_annotated(APPROVED, **{APPROVED_BY: ""}))],
        None,
        None,
        "without approval.owner on record",
    ),  # fmt: skip
    (
        "model-approved",
        "quantized without its source",
        [_in_prod(_annotated(APPROVED, **{QUANTIZATION: "awq"}))],
        None,
        None,
        "without quantizationSource",
    ),  # fmt: skip
    (
        "model-approved",
        "not a date",
        [_in_prod(_annotated(APPROVED, **{APPROVED_ON: "last week"}))],
        None,
        None,
        "is not a date",
    ),  # fmt: skip
    (
        "model-approved",
        "a stack named production by config",
        [_annotated(CHAT)],
        None,
        {"model-approved": {"productionStacks": ["dev"]}},
        "without license",
    ),  # fmt: skip
    ("model-approved", "full record", [_in_prod(APPROVED)], None, None, None),
    (
        "model-approved",
        "quantized at load",
        [_in_prod(_annotated(APPROVED, **{QUANTIZATION: "fp8-at-load"}))],
        None,
        None,
        None,
    ),  # fmt: skip
    ("model-approved", "outside production", [CHAT], None, None, None),
    ("model-provenance", "no record outside production", [CHAT], None, None, "without license"),
    ("model-provenance", "full record", [APPROVED], None, None, None),
    ("model-provenance", "production is model-approved's", [_in_prod(CHAT)], None, None, None),
]


@pytest.mark.parametrize(
    ("rule", "resources", "outputs", "config", "expected"),
    [pytest.param(rule, resources, outputs, config, expected, id=f"{rule}: {case}")
     for rule, case, resources, outputs, config, expected in CASES],
)  # fmt: skip
def test_rule(rule, resources, outputs, config, expected):
    messages = violations(rule, *resources, outputs=outputs, config=config)
    if expected is None:
        assert messages == []
    else:
        assert any(expected in message for message in messages), messages


def test_every_rule_has_a_violating_and_a_compliant_case():
    violating = {rule for rule, _, _, _, _, expected in CASES if expected}
    compliant = {rule for rule, _, _, _, _, expected in CASES if expected is None}
    names = {policy.name for policy in POLICIES}
    assert violating == compliant == names


def test_every_rule_documents_itself():
    for policy in POLICIES:
        assert policy.description and policy.remediation_steps and policy.enforcement_level, policy.name
        for key, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert "default" in spec and spec.get("description"), f"{policy.name}.{key}"
