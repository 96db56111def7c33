"""`capacity`: the capacity model's figures for every pool of a stack, as a table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.capacity import PoolCapacity
from components.spec import PlatformSpec


@dataclass(frozen=True)
class Column:
    header: str  # with its unit, so a figure is never read in the wrong one
    align: str
    legend: str


COLUMNS = (
    Column("pool", "<", "the pool's name (pools[].name)"),
    Column("class", "<", "chat or batch"),
    Column("GPU", "<", "the GPU model of the pool's node pool"),
    Column("TP", ">", "tensor parallel size: GPUs per replica"),
    Column("weights GiB/GPU", ">", "model weights held by each GPU (GiB = 2^30 bytes)"),
    Column("KV GiB/GPU", ">", "GPU memory left for the KV cache on each GPU, after weights and the runtime reserve"),
    Column(
        "KV bytes/token/GPU",
        ">",
        "KV-cache bytes one token takes on each GPU: 2 (K and V) x layers x the GPU's KV heads x head dim x bytes per value",
    ),
    Column("KV tokens", ">", "tokens the KV cache holds, across all sequences of one replica"),
    Column("maxModelLen tokens", ">", "the context cap: prompt plus output tokens of one sequence"),
    Column("seqs at cap", ">", "sequences one replica holds at once when each uses the whole context cap"),
    Column(
        "decode tok/s/seq", ">", "upper bound on one sequence's decode speed, from HBM bandwidth (real speed is lower)"
    ),
    Column("verdict", "<", "fits, or REJECTED (the lines below the table say why)"),
)


def rows(spec: PlatformSpec, capacity: Mapping[str, PoolCapacity]) -> list[tuple[str, ...]]:
    return [_row(pool.name, pool.workload_class, capacity[pool.name]) for pool in spec.pools]


def _row(name: str, workload_class: str, capacity: PoolCapacity) -> tuple[str, ...]:
    figures = capacity.to_dict()
    return (
        name, workload_class, capacity.gpu, str(capacity.tensor_parallel_size), f"{figures['weightsPerGpuGiB']:.2f}",
        f"{figures['usableKvGiBPerGpu']:.2f}", f"{capacity.kv_bytes_per_token_per_gpu:,}", f"{capacity.kv_cache_tokens:,}",
        f"{capacity.max_model_len:,}", f"{capacity.concurrent_sequences_at_cap:,}",
        f"{capacity.decode_ceiling_tokens_per_s:,.0f}", "fits" if capacity.fits else "REJECTED",
    )  # fmt: skip


def table(spec: PlatformSpec, capacity: Mapping[str, PoolCapacity]) -> str:
    body = rows(spec, capacity)
    widths = [max(len(column.header), *(len(row[i]) for row in body)) for i, column in enumerate(COLUMNS)]
    lines = [_line([column.header for column in COLUMNS], widths)]
    lines.append("  ".join("-" * width for width in widths))
    lines += [_line(row, widths) for row in body]
    return "\n".join(line.rstrip() for line in [*lines, "", *legend()])


def legend() -> list[str]:
    width = max(len(column.header) for column in COLUMNS)
    return [f"{column.header:<{width}}  {column.legend}" for column in COLUMNS]


def _line(cells, widths) -> str:
    return "  ".join(
        f"{cell:{column.align}{width}}" for cell, width, column in zip(cells, widths, COLUMNS, strict=True)
    )


def findings(capacity: Mapping[str, PoolCapacity]) -> list[str]:
    """Each error and warning of each pool, one line apiece."""
    lines = []
    for name, figures in capacity.items():
        lines += [f"capacity {name}: {error}" for error in figures.errors]
        lines += [f"capacity {name} (warning): {warning}" for warning in figures.warnings]
    return lines
