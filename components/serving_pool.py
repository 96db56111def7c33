"""`ServingPool`: one model, one vLLM engine configuration, one workload class.

A pool is a KServe `ServingRuntime` (the pinned vLLM image) and an `InferenceService`
in `Standard` (Deployment, KEDA on vLLM's queue or KV-cache gauge) or `Knative` mode
(concurrency autoscaling, may scale to zero behind the activator). DESIGN.md section 4.
"""

from __future__ import annotations

import math
from typing import Any

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from components import conventions, metrics, upstream, vllm_args
from components.options import inherited_dependencies
from components.plan.pools import PoolPlan, model_annotations
from components.spec import ModelSpec, PoolSpec

MODEL_FORMAT = "vllm"
PORT_NAME = "http1"  # Knative accepts only http1 or h2c as the serving port's name
SHM_VOLUME = "dshm"
API_KEY_VOLUME = "vllm-api-keys"
API_KEY_DIR = "/etc/llmserving/vllm"
API_KEY_FILE = "api-keys.yaml"  # vLLM reads --config files only with a .yaml or .yml suffix
API_KEY_PATH = f"{API_KEY_DIR}/{API_KEY_FILE}"
APP_NAME = "vllm"  # app.kubernetes.io/name of every pool's objects and pods
COMPONENT = "serving-pool"
PROBE_PERIOD_SECONDS = 10
# How long vLLM takes to exit once its last request is done (engine and worker teardown),
# on top of its drain, before the kubelet may kill it.
VLLM_EXIT_SECONDS = 30
# A stopping Standard pod keeps serving this long before vLLM gets SIGTERM, while the
# endpoint controller removes it and the edge proxies stop sending it requests: once
# draining, vLLM 0.32 answers a new request 500 "cannot schedule new futures after
# shutdown" (tests/test_serving_drain.py). Knative has its own preStop (queue-proxy's drain).
ENDPOINT_REMOVAL_SECONDS = 10

_DEPLOYMENT_MODES = {"standard": "Standard", "knative": "Knative"}
# KEDA divides the query by the replica count (AverageValue), so both are sums.
_SIGNAL_METRICS = {"queue": metrics.VLLM_REQUESTS_WAITING, "kvCache": metrics.VLLM_KV_CACHE_USAGE}
KNATIVE_SCALE_DOWN_DELAY = "autoscaling.knative.dev/scale-down-delay"


# A pool's args are exactly its plan slice: it takes no other component's outputs (what it
# waits for reaches it through opts' depends_on).
ServingPoolArgs = PoolPlan


class ServingPool(pulumi.ComponentResource):
    """The KServe objects of one pool; exposes `runtime`, `inference_service`, `args`, `capacity`;
    outputs (registered) `url` and `inference_service_name`."""

    runtime: CustomResource
    inference_service: CustomResource
    url: str
    inference_service_name: str

    def __init__(self, name: str, args: ServingPoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:serving:ServingPool", name, None, opts)
        self.spec = args.pool
        self.capacity = args.capacity
        pulumi.log.info(f"capacity {args.pool.name}: {args.capacity.summary()}", resource=self)
        self.args = vllm_args.serve_args(args.pool, args.model, API_KEY_PATH if args.api_key_secret else None)
        self.pod_labels = pool_labels(args.pool, args.model)
        # The pool's objects wait for what the pool waits for (KServe's CRDs, the GPU nodes):
        # Pulumi does not pass a component's depends_on on to its children.
        after = inherited_dependencies(opts)
        self.runtime = CustomResource(
            f"{name}-runtime",
            api_version="serving.kserve.io/v1alpha1",
            kind="ServingRuntime",
            metadata=_metadata(runtime_name(args.pool), args.namespace, self.pod_labels),
            spec=runtime_spec(args.image),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.inference_service = CustomResource(
            name,
            api_version="serving.kserve.io/v1beta1",
            kind="InferenceService",
            metadata={
                **_metadata(args.pool.name, args.namespace, self.pod_labels),
                "annotations": inference_service_annotations(args.pool, args.model),
            },
            spec={"predictor": predictor_spec(args, self.args, self.pod_labels)},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.runtime, *after],
                # KServe rejects a change of deployment mode on an existing InferenceService.
                replace_on_changes=[f'metadata.annotations["{conventions.KSERVE_DEPLOYMENT_MODE}"]'],
                delete_before_replace=True,
            ),
        )
        self.url = f"https://{args.pool.hostname}/v1"
        self.inference_service_name = args.pool.name
        self.register_outputs({"url": self.url, "inferenceServiceName": self.inference_service_name})


def runtime_name(pool: PoolSpec) -> str:
    return f"{pool.name}-vllm"


def pool_labels(pool: PoolSpec, model: ModelSpec) -> dict[str, str]:
    return {
        **conventions.standard_labels(APP_NAME, pool.name, COMPONENT),
        conventions.POOL_LABEL: pool.name,
        conventions.CLASS_LABEL: pool.workload_class,
        conventions.MODEL_LABEL: model.name,
    }


def _metadata(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels}


def runtime_spec(image: str) -> dict[str, Any]:
    return {
        "supportedModelFormats": [{"name": MODEL_FORMAT, "autoSelect": False}],
        "multiModel": False,
        "containers": [
            {
                "name": conventions.KSERVE_CONTAINER,
                "image": image,
                "command": list(vllm_args.SERVE_COMMAND),
                "ports": [{"name": PORT_NAME, "containerPort": vllm_args.HTTP_PORT, "protocol": "TCP"}],
            }
        ],
    }


def inference_service_annotations(pool: PoolSpec, model: ModelSpec) -> dict[str, str]:
    annotations = {conventions.KSERVE_DEPLOYMENT_MODE: _DEPLOYMENT_MODES[pool.mode], **model_annotations(model)}
    if pool.mode == "standard":
        annotations["serving.kserve.io/autoscalerClass"] = "keda"
    if pool.trusted_args:
        annotations[conventions.TRUSTED_ARGS_ANNOTATION] = ",".join(sorted(a.flag for a in pool.trusted_args))
    if pool.accepted_risks.knative_proxy_restart is not None:
        annotations[conventions.KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION] = pool.accepted_risks.knative_proxy_restart
    return annotations


def predictor_spec(args: ServingPoolArgs, serve_args: list[str], labels: dict[str, str]) -> dict[str, Any]:
    pool = args.pool
    predictor: dict[str, Any] = {
        "minReplicas": pool.replicas.min,
        "maxReplicas": pool.replicas.max,
        "labels": labels,
        "nodeSelector": conventions.gpu_node_selector(args.node_pool.name),
        "tolerations": conventions.gpu_tolerations(),
        "model": model_spec(args, serve_args),
    }
    if pool.mode == "knative":
        # The revision's timeoutSeconds, which also bounds the activator's wait for a cold
        # start. A Standard pool gets none: KServe applies `timeout` only to a route it
        # creates, and it creates none here (disableIngressCreation): our HTTPRoute holds it.
        # Knative gives the revision's pods that timeout as their grace period and holds
        # vLLM's SIGTERM until queue-proxy has drained (knative/serving
        # pkg/reconciler/revision/resources/deploy.go BuildPodSpec, the user container's preStop).
        predictor["timeout"] = pool.request_timeout_seconds
    else:
        # Kubernetes' default 30 s would kill a draining vLLM (--shutdown-timeout, the pool's
        # timeout) long before its requests end; KServe copies the predictor's pod fields
        # onto the Deployment's pods.
        predictor["terminationGracePeriodSeconds"] = ENDPOINT_REMOVAL_SECONDS + pool.timeout_seconds + VLLM_EXIT_SECONDS
    volumes = _pod_volumes(args)
    if volumes:
        predictor["volumes"] = [volume for volume, _ in volumes]
    if args.rollout is not None:
        # KServe copies it onto the pool's Deployment (components/rollout.py says why and which).
        predictor["deploymentStrategy"] = args.rollout.strategy()
    return {**predictor, **autoscaling_fields(pool, args)}


def _pod_volumes(args: ServingPoolArgs) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod volume, its mount in the vLLM container) pairs."""
    volumes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if args.pool.tensor_parallel_size > 1:
        # NCCL between tensor-parallel ranks needs more /dev/shm than the 64 MiB default.
        shm = {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
        volumes.append((shm, {"name": SHM_VOLUME, "mountPath": "/dev/shm"}))
    if args.api_key_secret:
        # A file, not an env var or an argument: the keys stay out of the pod spec and `ps`.
        keys = {"name": API_KEY_VOLUME, "secret": {"secretName": args.api_key_secret}}
        volumes.append((keys, {"name": API_KEY_VOLUME, "mountPath": API_KEY_DIR, "readOnly": True}))
    return volumes


def autoscaling_fields(pool: PoolSpec, args: ServingPoolArgs) -> dict[str, Any]:
    if pool.mode == "knative":
        return {
            "scaleMetric": "concurrency",
            # Knative aims at this x container-concurrency-target-percentage (70 %) per pod.
            "scaleTarget": int(pool.autoscaling.target),
            # vLLM batches at most maxNumSeqs; more in flight only queue inside the pod.
            "containerConcurrency": pool.max_num_seqs,
            # A cold start loads the weights for minutes: keep the last pod a while.
            "annotations": {
                "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "10m",
                KNATIVE_SCALE_DOWN_DELAY: f"{pool.autoscaling.scale_down_delay_seconds}s",
                **({upstream.KNATIVE_INITIAL_SCALE: "0"} if args.zero_initial_scale else {}),
                # The activator only in front of a cold start, not of every request once a pod
                # serves: fewer requests held by a pod that cannot outlast them (upstream.py).
                upstream.KNATIVE_TARGET_BURST_CAPACITY: "0",
            },
        }
    return {
        "autoScaling": {
            # KServe hands this window to the ScaledObject's HPA (keda_reconciler.go).
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": pool.autoscaling.scale_down_delay_seconds}},
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "backend": "prometheus",
                            "serverAddress": args.prometheus_url,
                            "query": keda_query(pool, args.namespace),
                        },
                        # KServe passes only `value`, as KEDA's `threshold`, and no metric type, so
                        # KEDA divides the summed query by the replicas (AverageValue): the target
                        # is per replica (kserve v0.20.0 .../reconcilers/keda/keda_reconciler.go).
                        "target": {"type": "Value", "value": metrics.number(pool.autoscaling.target)},
                    },
                }
            ],
        }
    }


def keda_query(pool: PoolSpec, namespace: str) -> str:
    selected = metrics.series(
        _SIGNAL_METRICS[pool.autoscaling.signal],
        metrics.equal("namespace", namespace),
        metrics.matching("pod", conventions.predictor_pod_regex(pool.name)),
    )
    return f"sum({selected})"


def model_spec(args: ServingPoolArgs, serve_args: list[str]) -> dict[str, Any]:
    pool = args.pool
    gpus = str(pool.tensor_parallel_size)
    model: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "runtime": runtime_name(pool),
        "storageUri": args.storage_uri or f"pvc://{args.model_cache_claim}/{args.model.cache_path}",
        "args": serve_args,
        "env": _env(),
        "resources": {
            "requests": {"cpu": pool.cpu_request, "memory": pool.memory_request, conventions.GPU_RESOURCE: gpus},
            "limits": {"memory": pool.memory_request, conventions.GPU_RESOURCE: gpus},
        },
        "readinessProbe": _health_probe(failure_threshold=3),
        "livenessProbe": _health_probe(failure_threshold=6),
        "startupProbe": _health_probe(failure_threshold=math.ceil(pool.startup_timeout_seconds / PROBE_PERIOD_SECONDS)),
    }
    if pool.mode == "standard":
        # The kubelet's native sleep (no binary in the image needed); Knative refuses a
        # user container's lifecycle and runs its own preStop.
        model["lifecycle"] = {"preStop": {"sleep": {"seconds": ENDPOINT_REMOVAL_SECONDS}}}
    mounts = [mount for _, mount in _pod_volumes(args)]
    if mounts:
        model["volumeMounts"] = mounts
    return model


def _env() -> list[dict[str, str]]:
    # Weights come from the model cache only; nothing phones home from a private cluster.
    return [
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
    ]


def _health_probe(failure_threshold: int) -> dict[str, Any]:
    # /health answers without touching the GPU; a generation probe would burn tokens and
    # fail under load exactly when the pool is busiest.
    return {
        "httpGet": {"path": "/health", "port": vllm_args.HTTP_PORT},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "timeoutSeconds": 5,
        "failureThreshold": failure_threshold,
    }
