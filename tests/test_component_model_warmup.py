"""`ModelWarmup` built alone from its plan slice, under the mock runtime, and `plan_warmup`
on a small spec."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components import conventions, versions
from components.cluster import EksAccess
from components.model_warmup import ModelWarmup, ModelWarmupArgs
from components.plan.weights import WarmupPlan, plan_warmup
from components.spec import EksCluster, PlatformSpec, S3ModelMirror, load_platform
from tests.conftest import BASE_PLATFORM, REVISION
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:supplychain:ModelWarmup"
JOB_TYPE = "kubernetes:batch/v1:Job"
ACCOUNT_TYPE = "kubernetes:core/v1:ServiceAccount"
ASSOCIATION_TYPE = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
SOURCE = "meta-llama/Llama-3.1-8B-Instruct"
JOB = f"warmup-meta-llama-llama-3-1-8b-instruct-{REVISION[:8]}"
EKS = {"kind": "eks", "name": "llm-test", "region": "eu-west-1"}
S3 = {"kind": "s3", "bucket": "corp-models", "prefix": "approved/llm"}


def spec_of(**platform: Any) -> PlatformSpec:
    config = copy.deepcopy(BASE_PLATFORM)
    config.update(platform)
    return load_platform(config, "test", capacity_gate=False)


def build(
    plan: WarmupPlan, cluster: EksCluster | None = None, built: dict[str, ModelWarmup] | None = None
) -> Recording:
    """The component alone, after a stand-in serving namespace (as Platform puts it), with a
    stand-in EKS access when the plan's mirror is s3."""
    built = {} if built is None else built

    def program() -> None:
        namespace = k8s.core.v1.Namespace("serving-namespace", metadata={"name": plan.namespace})
        eks = None
        if cluster is not None:
            provider = aws.Provider("aws", region=cluster.region)
            found = aws.eks.get_cluster_output(name=cluster.name, opts=pulumi.InvokeOutputOptions(provider=provider))
            eks = EksAccess(cluster, provider, found)
        opts = pulumi.ResourceOptions(depends_on=[namespace])
        built["warmup"] = ModelWarmup("model-warmup", ModelWarmupArgs(plan, eks), opts)

    return record(program)


def test_the_plan_holds_what_the_warmup_reads():
    spec = spec_of()
    assert plan_warmup(spec) == WarmupPlan(
        namespace="llm-serving",
        claim_name="model-cache",
        image=versions.VLLM_IMAGE,  # no registry mirror: the upstream reference
        revisions=(spec.models[0],),
        mirror=spec.model_mirror,
        mirror_region="",
        hub_token=False,
        retries=3,
        deadline_seconds=7200,
    )


def test_the_plan_shares_one_job_per_revision_and_mirrors_the_image():
    config = copy.deepcopy(BASE_PLATFORM)
    config["models"].append({**config["models"][0], "name": "llama-copy"})
    digest = f"sha256:{'a' * 64}"
    mirror = {"kind": "none", "digests": {versions.VLLM_IMAGE: digest}}
    hub = {"kind": "hub", "token": True}
    plan = plan_warmup(spec_of(models=config["models"], registryMirror=mirror, modelMirror=hub))
    assert [model.name for model in plan.revisions] == ["llama-8b"]
    assert plan.image == f"{versions.VLLM_IMAGE}@{digest}"  # through images.mirrored, as every pod's
    assert plan.hub_token and plan.s3_mirror is None


def test_the_plan_of_an_s3_mirror_holds_its_bucket_and_region():
    plan = plan_warmup(spec_of(cluster=EKS, modelMirror=S3))
    assert isinstance(plan.s3_mirror, S3ModelMirror) and plan.s3_mirror.bucket == "corp-models"
    assert (plan.mirror_region, plan.image) == ("eu-west-1", versions.AWS_CLI_IMAGE)


def test_one_job_per_revision_fills_the_claim_with_the_hub_token():
    built: dict[str, ModelWarmup] = {}
    spec = spec_of(modelMirror={"kind": "hub", "token": True})
    recording = build(plan_warmup(spec), built=built)
    assert sorted(recording.of_type(ACCOUNT_TYPE)) == ["model-warmup-account"]
    (job,) = recording.of_type(JOB_TYPE).values()
    assert (job["name"], job["parent"]) == (JOB, recording.only(COMPONENT_TYPE)["urn"])
    metadata = job["inputs"]["metadata"]
    assert (metadata["name"], metadata["namespace"]) == (JOB, "llm-serving")
    assert metadata["annotations"] == {"pulumi.com/replaceUnready": "true"}
    assert metadata["labels"]["app.kubernetes.io/component"] == conventions.MODEL_CACHE_COMPONENT
    job_spec = job["inputs"]["spec"]
    assert (job_spec["backoffLimit"], job_spec["activeDeadlineSeconds"]) == (3, 7200)
    pod = job_spec["template"]["spec"]
    assert pod["serviceAccountName"] == "model-warmup"
    assert pod["volumes"][0] == {"name": "model-cache", "persistentVolumeClaim": {"claimName": "model-cache"}}
    (container,) = pod["containers"]
    assert container["image"] == versions.VLLM_IMAGE
    assert f"hf download {SOURCE} --revision {REVISION}" in container["command"][2]
    token = {"secretKeyRef": {"name": conventions.HUB_TOKEN_SECRET, "key": conventions.HUB_TOKEN_KEY}}
    assert {"name": "HF_TOKEN", "valueFrom": token} in container["env"]
    account_urn = recording.of_type(ACCOUNT_TYPE)["model-warmup-account"]["urn"]
    namespace_urn = recording.of_type("kubernetes:core/v1:Namespace")["serving-namespace"]["urn"]
    assert {account_urn, namespace_urn} <= set(recording.dependencies[job["urn"]])
    assert not recording.of_type(ASSOCIATION_TYPE)
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"jobs": [JOB]}
    warmup = built["warmup"]
    assert warmup.jobs == [JOB] and warmup.job_for(spec.models[0]) is warmup.revision_jobs[JOB.removeprefix("warmup-")]


def test_an_s3_mirror_reads_through_a_pod_identity_role():
    spec = spec_of(cluster=EKS, modelMirror=S3)
    assert isinstance(spec.cluster, EksCluster)
    recording = build(plan_warmup(spec), spec.cluster)
    policy = recording.of_type("aws:iam/rolePolicy:RolePolicy")["model-warmup-read"]["inputs"]["policy"]
    resources = [statement["Resource"] for statement in json.loads(policy)["Statement"]]
    assert resources == [["arn:aws:s3:::corp-models/approved/llm/*"], ["arn:aws:s3:::corp-models"]]
    association = recording.of_type(ASSOCIATION_TYPE)["model-warmup-identity"]
    assert {k: association["inputs"][k] for k in ("clusterName", "namespace", "serviceAccount")} == {
        "clusterName": "llm-test",
        "namespace": "llm-serving",
        "serviceAccount": "model-warmup",
    }
    (job,) = recording.of_type(JOB_TYPE).values()
    assert association["urn"] in recording.dependencies[job["urn"]]
    (container,) = job["inputs"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == versions.AWS_CLI_IMAGE
    assert {"name": "AWS_REGION", "value": "eu-west-1"} in container["env"]
    assert f"aws s3 sync s3://corp-models/approved/llm/{SOURCE}/{REVISION}/" in container["command"][2]
