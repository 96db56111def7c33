"""How large the model cache must be: the pinned checkpoints plus headroom. Pure Python."""

from __future__ import annotations

import math
from collections.abc import Iterable

from components.capacity import GIB, ceil_div, rounded_gib

# The model cache holds every pinned revision plus headroom for tokenizer files, partial
# downloads and a revision being replaced.
MODEL_CACHE_HEADROOM_PERCENT = 10


def model_cache_bytes_required(weight_totals: Iterable[int]) -> int:
    """Cache volume size for the given checkpoints: their sum plus 10 % headroom (rounded up).

    Pass each checkpoint's on-disk size; weight_bytes_total(arch, dtype, quantization)
    estimates it when the checkpoint is stored in that format (a 16-bit checkpoint that
    vLLM quantizes at load occupies its 16-bit size on disk).
    """
    return ceil_div(sum(weight_totals) * (100 + MODEL_CACHE_HEADROOM_PERCENT), 100)


def model_cache_error(cache_size_bytes: int, weight_totals: Iterable[int]) -> str | None:
    """An error message when the cache is smaller than model_cache_bytes_required, else None."""
    totals = list(weight_totals)
    required = model_cache_bytes_required(totals)
    if cache_size_bytes >= required:
        return None
    return (
        f"the model cache is {rounded_gib(cache_size_bytes)} GiB but the pinned models need "
        f"{rounded_gib(sum(totals))} GiB, {rounded_gib(required)} GiB with {MODEL_CACHE_HEADROOM_PERCENT} % headroom; "
        "raise the cache size "
        f"to at least {math.ceil(required / GIB)}Gi or pin fewer models"
    )
