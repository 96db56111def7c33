"""A load test's figures per load level, judged against the pool's SLO: a table for the
terminal, a JSON record and a PNG plot (latency against load, the SLO drawn as a line) that
a reviewer can attach to a pull request."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from components.spec.pools import Slo
from tools.serving_client import Sample

QUANTILES = (50, 95, 99)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LevelStats:
    label: str  # "2 req/s" or "concurrency 4"
    load: float  # offered rate (req/s) or concurrency, the plot's x
    requests: int
    errors: int
    seconds: float
    ttft: dict[str, float | None]
    itl: dict[str, float | None]
    e2e: dict[str, float | None]
    output_tokens_per_second: float
    requests_per_second: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 1.0


def level_stats(label: str, load: float, samples: Sequence[Sample], seconds: float) -> LevelStats:
    good = [sample for sample in samples if sample.ok]

    def quantiles(values: list[float]) -> dict[str, float | None]:
        return {f"p{q}": percentile(values, q) for q in QUANTILES}

    return LevelStats(
        label=label,
        load=load,
        requests=len(samples),
        errors=len(samples) - len(good),
        seconds=seconds,
        ttft=quantiles([s.ttft for s in good if s.ttft is not None]),
        itl=quantiles([itl for s in good if (itl := s.itl) is not None]),
        e2e=quantiles([s.e2e for s in good if s.e2e is not None]),
        output_tokens_per_second=sum(s.output_tokens for s in good) / seconds if seconds > 0 else 0.0,
        requests_per_second=len(samples) / seconds if seconds > 0 else 0.0,
    )


def misses(stats: LevelStats, slo: Slo, max_error_rate: float) -> list[str]:
    """What this level misses of the SLO; [] when it holds."""
    found = []
    ttft, e2e = stats.ttft["p95"], stats.e2e["p95"]
    if ttft is None or ttft > slo.ttft_p95_seconds:
        found.append(f"TTFT p95 {_seconds(ttft)} above {slo.ttft_p95_seconds:g} s")
    if e2e is None or e2e > slo.e2e_p95_seconds:
        found.append(f"e2e p95 {_seconds(e2e)} above {slo.e2e_p95_seconds:g} s")
    if stats.error_rate > max_error_rate:
        found.append(f"error rate {stats.error_rate:.1%} above {max_error_rate:.1%}")
    return found


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def table(levels: Sequence[LevelStats], slo: Slo, max_error_rate: float) -> list[str]:
    header = ["load", "reqs", "err%", "TTFT p50/p95/p99 ms", "ITL p50/p95/p99 ms", "e2e p50/p95/p99 ms", "out tok/s",
              "SLO"]  # fmt: skip
    rows = [header]
    for stats in levels:
        missed = misses(stats, slo, max_error_rate)
        rows.append([
            stats.label, str(stats.requests), f"{stats.error_rate * 100:.1f}",
            "/".join(_ms(stats.ttft[f"p{q}"]) for q in QUANTILES),
            "/".join(_ms(stats.itl[f"p{q}"]) for q in QUANTILES),
            "/".join(_ms(stats.e2e[f"p{q}"]) for q in QUANTILES),
            f"{stats.output_tokens_per_second:.1f}", "met" if not missed else "MISSED: " + "; ".join(missed),
        ])  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
            for row in rows]  # fmt: skip


def write_json(path: Path, meta: dict, levels: Sequence[LevelStats], slo: Slo, max_error_rate: float) -> Path:
    record = {
        **meta,
        "slo": {"ttftP95Seconds": slo.ttft_p95_seconds, "e2eP95Seconds": slo.e2e_p95_seconds,
                "maxErrorRate": max_error_rate},
        "levels": [{**asdict(stats), "errorRate": stats.error_rate, "misses": misses(stats, slo, max_error_rate)}
                   for stats in levels],
    }  # fmt: skip
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def plot(path: Path, title: str, x_label: str, levels: Sequence[LevelStats], slo: Slo) -> Path:
    """TTFT and end-to-end latency (p50, p95, p99) against load, each with its SLO (p95) as a line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file for the pull request
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    loads = [stats.load for stats in levels]
    for axis, (name, attribute, target) in zip(axes, (("time to first token", "ttft", slo.ttft_p95_seconds),
                                                     ("end-to-end latency", "e2e", slo.e2e_p95_seconds)), strict=True):  # fmt: skip
        for q, style in zip(QUANTILES, (":", "-", "--"), strict=True):
            values = [getattr(stats, attribute)[f"p{q}"] for stats in levels]
            axis.plot(loads, [math.nan if v is None else v for v in values], style, marker="o", label=f"p{q}")
        axis.axhline(target, color="red", linewidth=1.5, label=f"SLO p95 {target:g} s")
        axis.set_title(name)
        axis.set_xticks(loads)
        axis.set_xlabel(x_label)
        axis.set_ylabel("seconds")
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
