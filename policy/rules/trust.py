"""Trust rules: what vLLM itself checks before it serves."""

from __future__ import annotations

from collections.abc import Iterator

from components.vllm_args import API_KEY, CONFIG
from policy import flags
from policy.kube import Container, mapping, sequence, vllm_servers
from policy.rule import ResourceValidationArgs, resource_rule
from policy.rules.supply_chain import IMAGE_TAG_CONFIG, is_production

# vLLM reads its key from VLLM_API_KEY when `--api-key` is not given (vllm/envs.py).
_API_KEY_ENV = "VLLM_API_KEY"


def _secret_mounts(container: Container) -> list[str]:
    """The mount paths of the container's volumes that come from a Secret (or a projected Secret)."""
    volumes = {
        str(v.get("name")): v
        for v in map(mapping, sequence(container.pod.spec.get("volumes")))
        if v.get("secret")
        or any(mapping(s).get("secret") for s in sequence(mapping(v.get("projected")).get("sources")))
    }
    mounts = [*sequence(container.spec.get("volumeMounts"))]
    return [str(mapping(m).get("mountPath", "")).rstrip("/") + "/" for m in mounts if mapping(m).get("name") in volumes]


def _key_from_secret_env(container: Container) -> bool:
    for entry in map(mapping, sequence(container.spec.get("env"))):
        if entry.get("name") == _API_KEY_ENV and mapping(entry.get("valueFrom")).get("secretKeyRef"):
            return True
    return False


def _api_key_problem(container: Container) -> str | None:
    argv = container.argv
    if flags.last_value(argv, *API_KEY.names):
        return None
    if _key_from_secret_env(container):
        return None
    config = flags.last_value(argv, *CONFIG.names)
    if config:
        if any(config.startswith(mount) for mount in _secret_mounts(container)):
            return None
        return f"{container.path}: {CONFIG.name} {config} is not read from a Secret volume, so it cannot hold the pool's keys"
    return (
        f"{container.path}: vLLM runs without its own API-key check ({API_KEY.name}, {_API_KEY_ENV} from a Secret, "
        f"or a {CONFIG.name} file from a Secret volume)"
    )


def _vllm_api_key_required(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_production(args):
        return
    for container in vllm_servers(args.resource_type, args.props):
        problem = _api_key_problem(container)
        if problem:
            yield problem


VLLM_API_KEY_REQUIRED = resource_rule(
    "vllm-api-key-required",
    f"In production stacks every vLLM server checks API keys itself ({API_KEY.name}, VLLM_API_KEY from a "
    f"Secret, or a {CONFIG.name} file mounted from a Secret), so a pod that reaches it around the "
    "gateway still needs a key for the OpenAI routes.",
    _vllm_api_key_required,
    "Keep the pool's vLLM API-key config (the ServingPool mounts its keys Secret and passes "
    f"{CONFIG.name}); never drop it in production. Production stacks are config `productionStacks`.",
    config=IMAGE_TAG_CONFIG,
)
