"""`python -m tools loadtest <stack> --pool P`: does the pool meet the SLO its stack declares?

Streamed chat completions shaped by the pool's class, or by its `slo.workload` (prompt and
output tokens per request, uniform in [min, max]; `components/pool_defaults.py`
WORKLOAD_DEFAULTS), sent at each load level in turn: open-loop Poisson arrivals at `--rate`
requests per second, or a concurrency ramp (`--concurrency`, each level a closed loop of that
many clients). Per level: time to first token, inter-token latency and end-to-end latency
(p50/p95/p99), output tokens per second and the error rate, judged against the pool's
`slo` (TTFT p95, e2e p95) and `--max-error-rate`; a table, a JSON record and a PNG plot in
`--out`. Exit 1 when any level misses the SLO, 2 for bad arguments.

Bounded: at most MAX_REQUESTS requests, MAX_CONCURRENCY in flight and MAX_DURATION_SECONDS
of sending in one run (in-flight requests then finish within the request timeout). Targets:
the stack's own endpoints (tools/endpoints.py), or loopback; anything else only with an
explicit `--base-url`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from components.pool_defaults import WORKLOAD_DEFAULTS
from components.spec import PoolSpec
from tools import endpoints, loadtest_report
from tools.endpoints import Redactor, Target
from tools.serving_client import Sample, prompt, stream_chat
from tools.stackfile import REPO_ROOT, InputError, load_stack

MAX_REQUESTS = 5000
MAX_CONCURRENCY = 256
MAX_RATE = 100.0  # requests per second
MAX_DURATION_SECONDS = 1800
# Room for the chat template's tokens around the prompt.
TEMPLATE_TOKENS = 32


@dataclass(frozen=True)
class Shape:
    prompt: tuple[int, int]
    output: tuple[int, int]

    def draw(self, rng: random.Random, cap: int) -> tuple[int, int]:
        output = rng.randint(*self.output)
        return max(1, min(rng.randint(*self.prompt), cap - output - TEMPLATE_TOKENS)), output


@dataclass(frozen=True)
class Level:
    label: str
    load: float
    rate: float | None = None
    concurrency: int | None = None


def add_parser(verbs: Any) -> None:
    verb = verbs.add_parser(
        "loadtest", help="send a pool load at rising levels and judge its declared SLO; exit 1 when missed"
    )
    endpoints.add_target_arguments(verb)
    verb.add_argument("--pool", required=True, help="the pool to load")
    load = verb.add_mutually_exclusive_group()
    load.add_argument(
        "--rate", type=float, nargs="+", metavar="REQ_PER_S", help="Poisson arrival rates, one level each"
    )
    load.add_argument("--concurrency", type=int, nargs="+", metavar="N", help="concurrency ramp (default 1 2 4)")
    verb.add_argument("--requests", type=int, default=50, help="requests per level (default 50)")
    verb.add_argument("--level-seconds", type=float, default=120, help="at most this long sending per level")
    verb.add_argument("--max-error-rate", type=float, default=0.01, help="errors allowed per level (default 0.01)")
    verb.add_argument("--timeout", type=float, help="seconds per request (default the pool's request timeout)")
    verb.add_argument("--seed", type=int, default=0, help="seed of the request shapes and arrivals")
    verb.add_argument(
        "--out", type=Path, help="folder for the plot and the JSON (default build/loadtest/<stack>-<pool>)"
    )
    verb.set_defaults(handler=run)


def levels_from(args: argparse.Namespace) -> list[Level]:
    if args.rate:
        bad = [rate for rate in args.rate if not 0 < rate <= MAX_RATE]
        if bad:
            raise InputError(f"--rate {bad[0]:g}: a rate is above 0 and at most {MAX_RATE:g} requests/s")
        return [Level(f"{rate:g} req/s", rate, rate=rate) for rate in args.rate]
    counts = args.concurrency or [1, 2, 4]
    bad_counts = [count for count in counts if not 1 <= count <= MAX_CONCURRENCY]
    if bad_counts:
        raise InputError(f"--concurrency {bad_counts[0]}: between 1 and {MAX_CONCURRENCY}")
    return [Level(f"concurrency {count}", float(count), concurrency=count) for count in counts]


def _check_bounds(args: argparse.Namespace, levels: list[Level]) -> None:
    if args.requests < 1 or args.requests * len(levels) > MAX_REQUESTS:
        raise InputError(f"--requests {args.requests} x {len(levels)} levels: at most {MAX_REQUESTS} requests a run")
    if args.level_seconds <= 0 or args.level_seconds * len(levels) > MAX_DURATION_SECONDS:
        raise InputError(
            f"--level-seconds {args.level_seconds:g} x {len(levels)} levels: at most {MAX_DURATION_SECONDS} s a run"
        )
    if not 0 <= args.max_error_rate <= 1:
        raise InputError("--max-error-rate is a fraction between 0 and 1")


def shape_of(pool: PoolSpec) -> Shape:
    defaults = WORKLOAD_DEFAULTS[pool.workload_class]
    workload = pool.slo.workload
    given_prompt = workload.prompt_tokens if workload else None
    given_output = workload.output_tokens if workload else None
    prompt_range = (given_prompt.min, given_prompt.max) if given_prompt else _range(defaults["promptTokens"])
    output_range = (given_output.min, given_output.max) if given_output else _range(defaults["outputTokens"])
    return Shape(prompt_range, output_range)


def _range(tokens: Any) -> tuple[int, int]:
    return int(tokens["min"]), int(tokens["max"])


def run(args: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    stack = load_stack(args.stack, args.config_file)
    levels = levels_from(args)
    _check_bounds(args, levels)
    # Refuses a stack output that points anywhere but the pool's own hostname or loopback.
    (target,) = endpoints.pool_targets(stack, [args.pool], args.base_url, args.resolve)
    keys = endpoints.api_keys(stack, target.pool)
    key = keys.first()
    if key is None:
        raise InputError(f"pool {target.pool.name}: no API key; " + "; ".join(keys.missing.values()))
    redact = Redactor(keys.found.values())
    shape = shape_of(target.pool)
    timeout = args.timeout or float(target.pool.request_timeout_seconds)
    out(f"loadtest {args.stack}/{target.pool.name} at {target.base_url}: model {target.served_model}, prompt "
        f"{shape.prompt[0]}-{shape.prompt[1]} and output {shape.output[0]}-{shape.output[1]} tokens, "
        f"{len(levels)} levels x {args.requests} requests")  # fmt: skip
    allowed = target.pool.requests_per_minute / 60
    if not target.explicit and any((level.rate or 0) > allowed for level in levels):
        # One key is one client at the gateway: above its local rate limit the test measures 429s.
        out(f"note: rates above {allowed:g} req/s exceed the pool's requestsPerMinute ({target.pool.requests_per_minute}) "
            "per client at each gateway proxy; expect HTTP 429 there")  # fmt: skip
    results = asyncio.run(_run_levels(target, key, levels, shape, args, timeout))
    return _report(args, target, levels, results, redact, out)


async def _run_levels(
    target: Target, key: str, levels: Sequence[Level], shape: Shape, args: argparse.Namespace, timeout: float
) -> list[tuple[list[Sample], float]]:
    rng = random.Random(args.seed)
    progress = _progress(len(levels) * args.requests)
    results = []
    try:
        async with endpoints.client(args.ca_file, args.resolve, timeout, MAX_CONCURRENCY) as http:
            for level in levels:
                started = time.monotonic()
                samples = await _level(http, target, key, level, shape, rng, args, progress)
                results.append((samples, time.monotonic() - started))
    finally:
        if progress is not None:
            progress.close()
    return results


def _progress(total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="req", leave=False)


async def _level(
    http: httpx.AsyncClient, target: Target, key: str, level: Level, shape: Shape, rng: random.Random,
    args: argparse.Namespace, progress: Any,
) -> list[Sample]:  # fmt: skip
    deadline = time.monotonic() + args.level_seconds
    cap = target.pool.max_model_len
    requests = [shape.draw(rng, cap) for _ in range(args.requests)]
    texts = [prompt(words, rng) for words, _ in requests]
    samples: list[Sample] = []
    in_flight = asyncio.Semaphore(MAX_CONCURRENCY)

    async def one(index: int) -> None:
        async with in_flight:
            sample = await stream_chat(
                http, target.base_url, target.served_model, texts[index], requests[index][1], key
            )
        samples.append(sample)
        if progress is not None:
            progress.update(1)

    if level.rate is not None:
        tasks = []
        for index in range(len(requests)):
            await asyncio.sleep(rng.expovariate(level.rate))  # open loop: arrivals do not wait for replies
            if time.monotonic() > deadline:
                break
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
    else:
        issued = iter(range(len(requests)))

        async def client_loop() -> None:
            for index in issued:
                if time.monotonic() > deadline:
                    return
                await one(index)

        await asyncio.gather(*(client_loop() for _ in range(level.concurrency or 1)))
    return samples


def _report(
    args: argparse.Namespace, target: Target, levels: Sequence[Level], results: list[tuple[list[Sample], float]],
    redact: Redactor, out: Callable[[str], None],
) -> int:  # fmt: skip
    slo = target.pool.slo
    stats = [loadtest_report.level_stats(level.label, level.load, samples, seconds)
             for level, (samples, seconds) in zip(levels, results, strict=True)]  # fmt: skip
    for line in loadtest_report.table(stats, slo, args.max_error_rate):
        out(line)
    errors = sorted({f"{s.error}: {s.body[:160]}".rstrip(": ") for samples, _ in results for s in samples if s.error})
    for error in errors[:5]:
        out(redact(f"error: {error}"))
    out_dir = args.out or REPO_ROOT / "build" / "loadtest" / f"{args.stack}-{target.pool.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    missed = any(loadtest_report.misses(level, slo, args.max_error_rate) for level in stats)
    verdict = "SLO missed" if missed else "SLO met"
    title = (f"{args.stack}/{target.pool.name} ({target.served_model}): {verdict} "
             f"(TTFT p95 {slo.ttft_p95_seconds:g} s, e2e p95 {slo.e2e_p95_seconds:g} s)")  # fmt: skip
    x_label = "offered load (requests/s)" if levels[0].rate is not None else "concurrent clients"
    meta = {"stack": args.stack, "pool": target.pool.name, "model": target.served_model, "baseUrl": target.base_url}
    written = [
        loadtest_report.plot(out_dir / f"loadtest-{target.pool.name}.png", title, x_label, stats, slo),
        loadtest_report.write_json(
            out_dir / f"loadtest-{target.pool.name}.json", meta, stats, slo, args.max_error_rate
        ),
    ]
    for path in written:
        out(f"wrote {path}")
    out(f"loadtest {args.stack}/{target.pool.name}: {verdict}")
    return 1 if missed else 0
