"""`ModelWarmup`: one Kubernetes Job per pinned (model source, revision) that fills the model
cache claim before any GPU pod starts (modelCache.kind pvc; DESIGN.md section 2).

Each Job downloads one revision into `models/<org>/<name>/<revision>/` on the claim from the
model mirror (`modelMirror.kind`):
- `hub`: `hf download <org>/<name> --revision <commit> --local-dir <dir>` against the public
  hub, with the hub token from the `hf-token` Secret (secret config `hfToken`) when
  `modelMirror.token`;
- `hub-mirror`: the same against an internal Hugging Face-compatible endpoint (HF_ENDPOINT);
- `s3`: `aws s3 sync s3://<bucket>/<prefix>/<org>/<name>/<revision>/ <dir>/`, through an IAM
  role bound to the Job's service account with EKS Pod Identity that may read below that
  prefix and nothing else.

The downloader runs in an image the cluster already pulls through the registry mirror:
the pinned vLLM image, which ships huggingface_hub's `hf` CLI (nothing is installed from
PyPI at run time, which a private cluster would not allow anyway), or the pinned AWS CLI
image for s3. The Job checks that the directory holds a model (`config.json`) and writes a
completion marker last; a Job that finds the marker exits at once, so re-runs are cheap
and safe. Retries and run time are bounded (`backoffLimit`, `activeDeadlineSeconds`), the
pod runs as a non-root user with a read-only root filesystem, and only these Jobs see the
hub token: serving pods read the cache offline.

pulumi-kubernetes awaits a `batch/v1` Job until its `Complete` condition is true and fails
the update at once on `Failed`, so an InferenceService that depends on its revision's Job
is not created before the weights are there. The provider's default wait is 10 minutes;
each Job's custom timeout follows `modelCache.warmupDeadlineSeconds` instead. A Job's pod
template cannot change in place: a new image or mirror replaces the Job (deleted first, its
name being fixed), and the marker makes the new one finish in seconds.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import conventions
from components.cluster import EksAccess, aws_partition
from components.conventions import HUB_TOKEN_KEY, HUB_TOKEN_SECRET
from components.options import inherited_dependencies
from components.plan.weights import ModelMirror, WarmupPlan, revision_name
from components.spec import HubMirrorModelMirror, ModelSpec, S3ModelMirror

APP_NAME = conventions.MODEL_WARMUP_APP_NAME
COMPONENT = conventions.MODEL_CACHE_COMPONENT
SERVICE_ACCOUNT = "model-warmup"
CACHE_MOUNT = "/model-cache"
SCRATCH_MOUNT = "/tmp"
COMPLETION_MARKER = ".llmserving-complete"
# A non-root user whose group owns what the Job writes (fsGroup, where the volume supports it;
# an EFS access point or NFS export must let this uid write).
RUN_AS = 1000
# EKS Pod Identity's service principal, which the role's trust policy lets assume it.
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
AWAIT_MARGIN_SECONDS = 600
RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "1Gi"},
    "limits": {"memory": "4Gi", "ephemeral-storage": "2Gi"},
}


@dataclass(frozen=True)
class ModelWarmupArgs:
    plan: WarmupPlan
    eks: EksAccess | None = None  # for the s3 mirror's IAM role and Pod Identity association


class ModelWarmup(pulumi.ComponentResource):
    """Exposes `revision_jobs` (revision name -> Job), `job_for(model)`, `service_account`, and
    for an s3 mirror `role`, `role_policy`, `pod_identity`; outputs `jobs` (the Job names)."""

    jobs: list[str]
    revision_jobs: dict[str, k8s.batch.v1.Job]
    service_account: k8s.core.v1.ServiceAccount
    role: aws.iam.Role | None
    role_policy: aws.iam.RolePolicy | None
    pod_identity: aws.eks.PodIdentityAssociation | None

    def __init__(self, name: str, args: ModelWarmupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:supplychain:ModelWarmup", name, None, opts)
        plan = args.plan
        # The Jobs wait for what this component waits for (namespace, claim, token Secret).
        after = inherited_dependencies(opts)
        self.service_account = k8s.core.v1.ServiceAccount(
            "model-warmup-account",
            metadata=_metadata(SERVICE_ACCOUNT, plan.namespace, SERVICE_ACCOUNT),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        self.role = None
        self.role_policy = None
        self.pod_identity = None
        if plan.s3_mirror is not None:
            self.pod_identity = self._s3_access(plan, plan.s3_mirror, _required(args.eks))
        ready = [self.service_account, *after, *[r for r in [self.pod_identity] if r is not None]]
        self.revision_jobs = {revision_name(model): self._job(plan, model, ready) for model in plan.revisions}
        self.jobs = sorted(job_name(model) for model in plan.revisions)
        self.register_outputs({"jobs": self.jobs})

    def job_for(self, model: ModelSpec) -> k8s.batch.v1.Job:
        return self.revision_jobs[revision_name(model)]

    def _job(self, plan: WarmupPlan, model: ModelSpec, after: list[pulumi.Input[pulumi.Resource]]) -> k8s.batch.v1.Job:
        timeout = f"{plan.deadline_seconds + AWAIT_MARGIN_SECONDS}s"
        return k8s.batch.v1.Job(
            f"warmup-{revision_name(model)}",
            metadata={
                **_metadata(job_name(model), plan.namespace, revision_name(model)),
                # A Job that failed (token missing, mirror down) is replaced on the next
                # `pulumi up` instead of awaited again, so fixing the cause is enough.
                "annotations": {"pulumi.com/replaceUnready": "true"},
            },
            # Kubernetes' camelCase JSON, which pulumi-kubernetes types as a TypedDict of its Python
            # names but sends as is (pulumi runtime/rpc.py serialize_property keeps unknown keys).
            spec=cast("k8s.batch.v1.JobSpecArgsDict", job_spec(plan, model)),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=after,
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ),
        )

    def _s3_access(self, plan: WarmupPlan, mirror: S3ModelMirror, eks: EksAccess) -> aws.eks.PodIdentityAssociation:
        aws_opts = pulumi.ResourceOptions(parent=self, provider=eks.aws_provider)
        self.role = aws.iam.Role(
            "model-warmup-role",
            assume_role_policy=json.dumps(POD_IDENTITY_TRUST, sort_keys=True),
            tags={"app.kubernetes.io/part-of": conventions.PART_OF},
            opts=aws_opts,
        )
        self.role_policy = aws.iam.RolePolicy(
            "model-warmup-read",
            role=self.role.name,
            policy=s3_read_policy(mirror, plan.mirror_region),
            opts=aws_opts,
        )
        return aws.eks.PodIdentityAssociation(
            "model-warmup-identity",
            cluster_name=eks.cluster.name,
            namespace=plan.namespace,
            service_account=SERVICE_ACCOUNT,
            role_arn=self.role.arn,
            opts=pulumi.ResourceOptions.merge(aws_opts, pulumi.ResourceOptions(depends_on=[self.role_policy])),
        )


POD_IDENTITY_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    ],
}


def _required(eks: EksAccess | None) -> EksAccess:
    if eks is None:  # the spec's cross-field rules refuse s3 on other clusters
        raise ValueError("an s3 model mirror needs an eks cluster")
    return eks


def _metadata(name: str, namespace: str, instance: str) -> k8s.meta.v1.ObjectMetaArgsDict:
    return {"name": name, "namespace": namespace, "labels": warmup_labels(instance)}


def warmup_labels(instance: str) -> dict[str, str]:
    return conventions.standard_labels(APP_NAME, instance, COMPONENT)


def job_name(model: ModelSpec) -> str:
    return f"warmup-{revision_name(model)}"


def cache_dir(model: ModelSpec) -> str:
    return f"{CACHE_MOUNT}/{model.cache_path}"


def job_spec(plan: WarmupPlan, model: ModelSpec) -> dict[str, Any]:
    return {
        "backoffLimit": plan.retries,
        "activeDeadlineSeconds": plan.deadline_seconds,
        "template": {
            "metadata": {"labels": warmup_labels(revision_name(model))},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": SERVICE_ACCOUNT,
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "warmup",
                        "image": plan.image,
                        "command": ["/bin/sh", "-c", warmup_script(plan.mirror, model)],
                        "env": warmup_env(plan),
                        "resources": RESOURCES,
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [
                            {"name": "model-cache", "mountPath": CACHE_MOUNT},
                            {"name": "scratch", "mountPath": SCRATCH_MOUNT},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "model-cache", "persistentVolumeClaim": {"claimName": plan.claim_name}},
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                ],
            },
        },
    }


def download_command(mirror: ModelMirror, model: ModelSpec) -> str:
    target = shlex.quote(cache_dir(model))
    if isinstance(mirror, S3ModelMirror):
        source = shlex.quote(f"s3://{mirror.source_path(model)}/")
        return f"aws s3 sync {source} {target}/ --only-show-errors --no-progress"
    return f"hf download {shlex.quote(model.source)} --revision {model.revision} --local-dir {target}"


def warmup_script(mirror: ModelMirror, model: ModelSpec) -> str:
    directory = shlex.quote(cache_dir(model))
    marker = shlex.quote(f"{cache_dir(model)}/{COMPLETION_MARKER}")
    return "\n".join(
        [
            "set -eu",
            f"if [ -f {marker} ]; then echo 'already complete: {model.cache_path}'; exit 0; fi",
            f"mkdir -p {directory}",
            download_command(mirror, model),
            # An empty source (wrong prefix, nothing mirrored yet) must not look complete.
            f"test -f {directory}/config.json || {{ echo 'no config.json in {model.cache_path}' >&2; exit 1; }}",
            # The marker last, renamed into place: it exists only once every file does.
            f"echo {shlex.quote(f'{model.source}@{model.revision}')} > {marker}.tmp",
            f"mv {marker}.tmp {marker}",
        ]
    )


def warmup_env(plan: WarmupPlan) -> list[dict[str, Any]]:
    mirror = plan.mirror
    env: list[dict[str, Any]] = [{"name": "HOME", "value": SCRATCH_MOUNT}]
    if isinstance(mirror, S3ModelMirror):
        return [*env, {"name": "AWS_REGION", "value": plan.mirror_region}]
    env += [
        {"name": "HF_HOME", "value": f"{SCRATCH_MOUNT}/hf"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        # Xet's chunk cache would fill the small scratch volume; the files land on the claim.
        {"name": "HF_XET_CHUNK_CACHE_SIZE_BYTES", "value": "0"},
    ]
    if isinstance(mirror, HubMirrorModelMirror):
        # Mirrors serve the plain HTTP file API; Xet storage is the public hub's own.
        env += [{"name": "HF_ENDPOINT", "value": mirror.endpoint}, {"name": "HF_HUB_DISABLE_XET", "value": "1"}]
    if plan.hub_token:
        token = {"secretKeyRef": {"name": HUB_TOKEN_SECRET, "key": HUB_TOKEN_KEY}}
        env.append({"name": HUB_TOKEN_KEY, "valueFrom": token})
    return env


def s3_read_policy(mirror: S3ModelMirror, region: str) -> str:
    """Read-only on `<bucket>/<prefix>/` and nothing else: objects below it, and listing only
    keys below it."""
    bucket = f"arn:{aws_partition(region)}:s3:::{mirror.bucket}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadModels",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"{bucket}/{mirror.prefix}/*"],
        },
        {
            "Sid": "ListModels",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [bucket],
            "Condition": {"StringLike": {"s3:prefix": [f"{mirror.prefix}/*"]}},
        },
    ]
    if mirror.kms_key_arn:
        decrypt = {
            "Sid": "DecryptModels",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [mirror.kms_key_arn],
        }
        statements.append(decrypt)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
