"""How `python -m tools check` scales with the number of pools.

Generates stack files from the dev stack with 1, 10, 50 and 100 pools (chat and batch
alternating, one model, one node pool sized for them all), runs `python -m tools check`
on each in a fresh process, as a user or CI would, and prints the wall time of each run
and its ratio to the 10-pool run. The shipped prod stack is timed the same way.

Targets (issue 8): `tools check prod` under 5 s; 100 pools under 3x the 10-pool time.

    .venv/bin/python benchmarks/check_scale.py [--pools 1 10 50 100] [--repeat 3]

Each figure is the best of `--repeat` runs (the least disturbed by other load); `first`
is the first run, which also fills the on-disk caches (parsed CRD schemas, vLLM argument
verdicts) that later runs of an unchanged stack read. The exit code is 1 when a target is
missed or a check does not pass, else 0.
"""

from __future__ import annotations

import argparse
import copy
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_KEY = "private-llm-serving:platform"
PROD_LIMIT_SECONDS = 5.0
SCALE_LIMIT = 3.0  # 100 pools vs 10 pools


def stack_with_pools(template: dict, count: int) -> dict:
    """The template stack file with `count` generated pools on its first model and node pool."""
    document = copy.deepcopy(template)
    platform = document["config"][CONFIG_KEY]
    model = platform["models"][0]["name"]
    node_pool = platform["nodePools"][0]
    if "scaling" in node_pool:
        node_pool["scaling"] = {**node_pool["scaling"], "max": max(node_pool["scaling"].get("max", 1), 4 * count)}
    platform["pools"] = [_pool(index, model, node_pool["name"]) for index in range(count)]
    return document


def _pool(index: int, model: str, node_pool: str) -> dict:
    workload_class = "chat" if index % 2 == 0 else "batch"
    name = f"{workload_class}-{index:03d}"
    return {
        "name": name,
        "class": workload_class,
        "model": model,
        "nodePool": node_pool,
        "hostname": f"{name}.llm.bench.example.internal",
        "replicas": {"min": 1, "max": 2} if workload_class == "chat" else {"min": 0, "max": 2},
        # A batch pool's requests outlast what Knative's proxies drain when they restart.
        **(
            {"acceptedRisks": {"knativeProxyRestart": "benchmark pools, never deployed"}}
            if workload_class == "batch"
            else {}
        ),
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_check(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall and CPU seconds of one `python -m tools check ...` run, its exit code and last line."""
    cpu_before, start = _children_cpu_seconds(), time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "tools", "check", *argv], cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - start, _children_cpu_seconds() - cpu_before
    last_line = (run.stdout.strip().splitlines() or [run.stderr.strip()])[-1]
    return elapsed, cpu, run.returncode, last_line


def best_of(repeat: int, argv: list[str]) -> tuple[float, float, int, str, float]:
    """The fastest run (wall, cpu, exit code, last line), and the first run's wall seconds."""
    runs = [time_check(argv) for _ in range(repeat)]
    return (*min(runs, key=lambda run: run[0]), runs[0][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the fastest counts")
    parser.add_argument("--template", default="dev", help="stack whose file the generated stacks start from")
    args = parser.parse_args()

    template = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{args.template}.yaml").read_text())
    results: dict[int, float] = {}
    failed = False
    print(f"{'stack':>10} {'first':>6} {'wall s':>7} {'cpu s':>6} {'vs 10':>6}  exit  last line")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.pools:
            stack_file = Path(tmp) / f"Pulumi.bench{count}.yaml"
            stack_file.write_text(yaml.safe_dump(stack_with_pools(template, count)))
            seconds, cpu, code, last, first = best_of(args.repeat, [f"bench{count}", "--config-file", str(stack_file)])
            results[count] = seconds
            failed |= code != 0
            ratio = f"{seconds / results[10]:.2f}" if 10 in results else "-"
            print(f"{count:>4} pools {first:6.2f} {seconds:7.2f} {cpu:6.2f} {ratio:>6}  {code:>4}  {last}")
    prod_seconds, prod_cpu, prod_code, prod_last, prod_first = best_of(args.repeat, ["prod"])
    print(f"{'prod':>10} {prod_first:6.2f} {prod_seconds:7.2f} {prod_cpu:6.2f} {'':>6}  {prod_code:>4}  {prod_last}")
    failed |= prod_code != 0 or prod_seconds >= PROD_LIMIT_SECONDS
    if 10 in results and 100 in results:
        scale = results[100] / results[10]
        print(f"100 pools / 10 pools: {scale:.2f} (target < {SCALE_LIMIT})")
        failed |= scale >= SCALE_LIMIT
    print(f"prod: {prod_seconds:.2f} s (target < {PROD_LIMIT_SECONDS} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
