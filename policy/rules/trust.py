"""Trust rules: what vLLM itself checks before it serves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from components.conventions import TRUSTED_ARGS_ANNOTATION
from components.vllm_args import API_KEY, CONFIG, trust_flags_in
from policy import flags
from policy.kube import Container, annotations_of, containers, mapping, sequence, vllm_servers
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


# --- trust-flags-accepted -------------------------------------------------------------


def _accepted(container: Container, props: Mapping) -> set[str]:
    """The trust flags the object's (or its pods') opt-in annotation names: what the
    pool's `trustedArgs` accepted, comma-separated (components/serving_pool.py)."""
    values = (
        annotations_of(props).get(TRUSTED_ARGS_ANNOTATION),
        container.pod.annotations.get(TRUSTED_ARGS_ANNOTATION),
    )
    return {name.strip() for value in values if value for name in str(value).split(",") if name.strip()}


def _trust_flags_accepted(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(args.resource_type, args.props):
        if not container.is_vllm:
            continue
        accepted = _accepted(container, args.props)
        for _, trust in trust_flags_in(container.argv):
            if trust.name not in accepted:
                yield (
                    f"{container.path}: sets {trust.name}, which {trust.risk}, and no "
                    f"{TRUSTED_ARGS_ANNOTATION} annotation accepts it"
                )


TRUST_FLAGS_ACCEPTED = resource_rule(
    "trust-flags-accepted",
    "A vLLM container (a pool's, a runtime's or one declared by hand) sets a flag that changes what "
    "the server trusts, runs or publishes (components/vllm_args.py TRUST_FLAGS, read as vLLM's parser "
    f"reads them: aliases, prefixes, `_` for `-`) only where the object's {TRUSTED_ARGS_ANNOTATION} "
    "annotation accepts it, as a pool's reviewed `trustedArgs` opt-in renders it.",
    _trust_flags_accepted,
    "Name the flag, with its reason, in the pool's `trustedArgs` (the platform renders the annotation), "
    "or drop it from `extraArgs`.",
)
