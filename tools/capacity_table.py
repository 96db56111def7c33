"""`capacity`: the capacity model's figures for every pool of a stack, as a table."""

from __future__ import annotations

from components.capacity import PoolCapacity
from components.spec import PlatformSpec

COLUMNS = (
    ("pool", "<"), ("class", "<"), ("GPU", "<"), ("TP", ">"), ("weights/GPU GiB", ">"),
    ("KV B/token/GPU", ">"), ("KV tokens", ">"), ("maxModelLen", ">"), ("seqs at cap", ">"),
    ("decode tok/s", ">"), ("verdict", "<"),
)  # fmt: skip


def rows(spec: PlatformSpec) -> list[tuple[str, ...]]:
    return [_row(pool.name, pool.workload_class, spec.pool_capacity(pool)) for pool in spec.pools]


def _row(name: str, workload_class: str, capacity: PoolCapacity) -> tuple[str, ...]:
    figures = capacity.to_dict()
    return (
        name, workload_class, capacity.gpu, str(capacity.tensor_parallel_size), f"{figures['weightsPerGpuGiB']:.2f}",
        str(capacity.kv_bytes_per_token_per_gpu), f"{capacity.kv_cache_tokens:,}", str(capacity.max_model_len),
        str(capacity.concurrent_sequences_at_cap), f"{capacity.decode_ceiling_tokens_per_s:,.0f}",
        "fits" if capacity.fits else "REJECTED",
    )  # fmt: skip


def table(spec: PlatformSpec) -> str:
    body = rows(spec)
    widths = [max(len(header), *(len(row[i]) for row in body)) for i, (header, _) in enumerate(COLUMNS)]
    lines = [_line([header for header, _ in COLUMNS], widths)]
    lines.append("  ".join("-" * width for width in widths))
    lines += [_line(row, widths) for row in body]
    return "\n".join(line.rstrip() for line in lines)


def _line(cells, widths) -> str:
    return "  ".join(f"{cell:{align}{width}}" for cell, width, (_, align) in zip(cells, widths, COLUMNS))


def findings(spec: PlatformSpec) -> list[str]:
    """Each error and warning of each pool, one line apiece."""
    lines = []
    for pool in spec.pools:
        capacity = spec.pool_capacity(pool)
        lines += [f"capacity {pool.name}: {error}" for error in capacity.errors]
        lines += [f"capacity {pool.name} (warning): {warning}" for warning in capacity.warnings]
    return lines
