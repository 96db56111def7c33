#!/usr/bin/env python3
"""Compare components/capacity.py's KV-cache prediction with what a real vLLM allocates.

For each case it writes the catalog architecture as a config.json into a temporary
directory, starts `vllm serve <dir> --load-format dummy --skip-tokenizer-init ...` (random
weights: no download, no tokenizer), reads vLLM's start-up log lines

    Model loading took X GiB memory and ... seconds
    Available KV cache memory: X GiB
    GPU KV cache size: N tokens

and stops the server as soon as the last one appears. It prints predicted vs measured
tokens, weights and KV memory as a markdown table, plus the runtime reserve vLLM implies
(budget - weights - KV memory) beside the model's terms (non-torch memory, the profiled
transient, CUDA graphs: components/capacity/memory.py), the numbers to calibrate. With
--dry-run GPU it prints the predictions for a catalog GPU without one.

Needs one NVIDIA GPU and vllm==0.32.0 (the version the platform pins). See README.md.
Exit codes: 0 every ratio within --tolerance (or --dry-run), 1 a case failed or drifted, 2 no
GPU or vLLM.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from components import capacity  # noqa: E402
from components.catalog import ARCHITECTURES, GPUS, Architecture, GpuModel  # noqa: E402

PINNED_VLLM = "0.32.0"
GIB = capacity.GIB

# Llama 3.1 config.json fields the catalog does not model (values from
# huggingface.co/meta-llama/Llama-3.1-8B-Instruct/config.json; identical for 70B).
LLAMA31_CONFIG_EXTRAS = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "mlp_bias": False,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "use_cache": True,
}

# A pre-quantized FP8 checkpoint's quantization_config: vLLM then allocates 1-byte
# weights directly (instead of loading 16-bit weights and quantizing them on the GPU).
FP8_QUANTIZATION_CONFIG = {"quant_method": "fp8", "activation_scheme": "dynamic"}

# The log lines, as vLLM's v1 engine prints them (vllm/v1/core/kv_cache_utils.py,
# vllm/v1/worker/gpu_worker.py, the model runner). Numbers may carry thousands commas.
KV_TOKENS_RE = re.compile(r"GPU KV cache size: ([\d,]+) tokens")
KV_MEMORY_RE = re.compile(r"Available KV cache memory: ([\d.]+) GiB")
WEIGHTS_RE = re.compile(r"Model loading took ([\d.]+) GiB")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    arch_key: str
    quantization: str = "none"
    kv_cache_dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 8192
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    only_where_predicted_to_fit: bool = False  # skip on cards too small for it


CASES = (
    Case("8B bf16, util 0.9", "llama-3.1-8b"),
    Case("8B bf16, util 0.8", "llama-3.1-8b", gpu_memory_utilization=0.8),
    Case("8B bf16, fp8 KV", "llama-3.1-8b", kv_cache_dtype="fp8"),
    Case("70B fp8, TP 1", "llama-3.1-70b", quantization="fp8", only_where_predicted_to_fit=True),
)


@dataclasses.dataclass
class Measured:
    kv_tokens: int | None = None
    kv_memory_gib: float | None = None
    weights_gib: float | None = None
    failure: str = ""


# --- environment ----------------------------------------------------------------------


def detect_gpu() -> GpuModel:
    """The first visible GPU, with the catalog's bandwidth when its name is known."""
    if shutil.which("nvidia-smi") is None:
        raise SystemExit2("no NVIDIA GPU here: nvidia-smi is not on PATH")
    query = ["nvidia-smi", "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"]
    try:
        output = subprocess.run(query, check=True, capture_output=True, text=True, timeout=30).stdout
        first = output.splitlines()[0]
    except (subprocess.SubprocessError, IndexError) as error:
        raise SystemExit2(f"nvidia-smi found no usable GPU ({error})") from None
    name, total_mib, used_mib = (part.strip() for part in first.split(","))
    if int(used_mib) > 1024:
        print(f"warning: {used_mib} MiB already in use on the GPU; vLLM may refuse to start", file=sys.stderr)
    known = next((gpu for gpu in GPUS.values() if gpu.name == name), None)
    if known is not None and known.memory_mib != int(total_mib):
        print(f"note: catalog says {known.memory_mib} MiB for {name}, this card {total_mib} MiB", file=sys.stderr)
    cuda_gib = cuda_total_gib()
    if known is not None and round(known.cuda_memory_gib, 2) != cuda_gib:
        print(f"note: catalog says {known.cuda_memory_gib} GiB CUDA-visible, this card {cuda_gib} GiB", file=sys.stderr)
    return GpuModel(
        name=name,
        memory_mib=int(total_mib),
        cuda_memory_gib=cuda_gib,
        bandwidth_gb_s=known.bandwidth_gb_s if known else 1.0,
        fp8=known.fp8 if known else True,
        source="nvidia-smi and torch.cuda.mem_get_info on the benchmark host",
    )


def cuda_total_gib() -> float:
    """What vLLM's budget starts from: CUDA's total (torch.cuda.mem_get_info), not nvidia-smi's."""
    try:
        import torch  # the vLLM install brings it
    except ImportError:
        raise SystemExit2(f"torch is not installed in this Python; pip install vllm=={PINNED_VLLM}") from None
    if not torch.cuda.is_available():
        raise SystemExit2("torch sees no CUDA device")
    return round(torch.cuda.mem_get_info()[1] / GIB, 2)


def vllm_command() -> list[str]:
    try:
        version = metadata.version("vllm")
    except metadata.PackageNotFoundError:
        raise SystemExit2(f"vLLM is not installed in this Python; pip install vllm=={PINNED_VLLM}") from None
    if version != PINNED_VLLM:
        print(f"warning: vLLM {version} is installed, the platform pins {PINNED_VLLM}", file=sys.stderr)
    executable = shutil.which("vllm")
    return [executable] if executable else [sys.executable, "-m", "vllm.entrypoints.cli.main"]


class SystemExit2(SystemExit):
    """Missing GPU or vLLM: exit 2 with a message, no traceback."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


# --- one case -------------------------------------------------------------------------


def config_json(arch: Architecture, quantization: str) -> dict:
    config = {
        **LLAMA31_CONFIG_EXTRAS,
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.intermediate_size,
        "num_hidden_layers": arch.num_layers,
        "num_attention_heads": arch.num_attention_heads,
        "num_key_value_heads": arch.num_kv_heads,
        "head_dim": arch.head_dim,
        "vocab_size": arch.vocab_size,
        "max_position_embeddings": arch.max_context,
        "tie_word_embeddings": arch.tie_word_embeddings,
        "torch_dtype": "bfloat16",
    }
    if quantization == "fp8":
        config["quantization_config"] = FP8_QUANTIZATION_CONFIG
    return config


def predict(case: Case, gpu: GpuModel) -> capacity.PoolCapacity:
    return capacity.evaluate_pool(
        ARCHITECTURES[case.arch_key],
        gpu,
        1,
        "bfloat16",
        case.quantization,
        case.kv_cache_dtype,
        case.max_model_len,
        case.max_num_seqs,
        case.max_num_batched_tokens,
        case.gpu_memory_utilization,
        1,
    )


def serve_args(model_dir: Path, case: Case, port: int) -> list[str]:
    return [
        "serve",
        str(model_dir),
        "--load-format",
        "dummy",
        "--skip-tokenizer-init",
        "--dtype",
        "bfloat16",
        "--tensor-parallel-size",
        "1",
        "--max-model-len",
        str(case.max_model_len),
        "--max-num-seqs",
        str(case.max_num_seqs),
        "--max-num-batched-tokens",
        str(case.max_num_batched_tokens),
        "--gpu-memory-utilization",
        str(case.gpu_memory_utilization),
        "--kv-cache-dtype",
        case.kv_cache_dtype,
        "--port",
        str(port),
    ]


def measure(command: list[str], case: Case, port: int, timeout_s: float, log_dir: Path) -> Measured:
    """Run vllm serve until it logs the KV cache size, then stop it."""
    arch = ARCHITECTURES[case.arch_key]
    with tempfile.TemporaryDirectory(prefix="capacity-vs-vllm-") as model_dir:
        Path(model_dir, "config.json").write_text(json.dumps(config_json(arch, case.quantization), indent=2))
        log_path = log_dir / (re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-") + ".log")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                command + serve_args(Path(model_dir), case, port),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                start_new_session=True,  # its own process group, so the engine core stops too
            )
            try:
                return _read_log(process, log, timeout_s)
            finally:
                _stop(process)


def _read_log(process: subprocess.Popen, log, timeout_s: float) -> Measured:
    measured = Measured()
    expired = threading.Event()

    def end_run() -> None:
        # Stop the group when the server exits (a child may keep the log pipe open) or
        # when the time is up (a silent hang must not block the run).
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            expired.set()
        _stop(process)

    threading.Thread(target=end_run, daemon=True).start()
    last_error = ""
    for line in process.stdout:  # type: ignore[union-attr]
        log.write(line)
        _parse_line(line, measured)
        if measured.kv_tokens is not None:
            return measured
        if "Error" in line:
            last_error = line.strip()[-200:]
    if expired.is_set():
        measured.failure = f"no 'GPU KV cache size' line within {timeout_s:.0f} s"
    else:
        measured.failure = f"vllm serve exited first: {last_error or f'exit code {process.wait()}'}"
    return measured


def _parse_line(line: str, measured: Measured) -> None:
    if match := KV_TOKENS_RE.search(line):
        measured.kv_tokens = int(match.group(1).replace(",", ""))
    elif match := KV_MEMORY_RE.search(line):
        measured.kv_memory_gib = float(match.group(1))
    elif match := WEIGHTS_RE.search(line):
        measured.weights_gib = float(match.group(1))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after a minute.

    The group id is the server's pid (start_new_session): it names only what this script
    started, and still reaches the engine-core child, which holds the GPU memory the next
    case needs, after the server itself has exited.
    """
    if not _signal_group(process.pid, signal.SIGTERM):
        return
    if not _wait_for_group_exit(process, timeout_s=60):
        _signal_group(process.pid, signal.SIGKILL)
        _wait_for_group_exit(process, timeout_s=30)


def _signal_group(group: int, sig: int) -> bool:
    try:
        os.killpg(group, sig)
        return True
    except ProcessLookupError:  # the whole group has already exited
        return False


def _wait_for_group_exit(process: subprocess.Popen, timeout_s: float) -> bool:
    stop_at = time.monotonic() + timeout_s
    while time.monotonic() < stop_at:
        process.poll()  # reap the server so its pid leaves the group
        if not _signal_group(process.pid, 0):
            return True
        time.sleep(0.5)
    return False


# --- report ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report_row(case: Case, predicted: capacity.PoolCapacity, measured: Measured) -> dict:
    budget_gib = predicted.requested_memory_bytes / GIB
    implied_reserve = (
        budget_gib - measured.weights_gib - measured.kv_memory_gib
        if measured.weights_gib is not None and measured.kv_memory_gib is not None
        else None
    )
    ratio = None
    if measured.kv_tokens and predicted.kv_cache_tokens:
        ratio = measured.kv_tokens / predicted.kv_cache_tokens
    return {
        "case": case.name,
        "predictedTokens": predicted.kv_cache_tokens,
        "measuredTokens": measured.kv_tokens,
        "ratio": ratio,
        "predictedWeightsGiB": predicted.weights_per_gpu_bytes / GIB,
        "measuredWeightsGiB": measured.weights_gib,
        "predictedKvGiB": predicted.usable_kv_bytes_per_gpu / GIB,
        "measuredKvGiB": measured.kv_memory_gib,
        "predictedReserveGiB": predicted.reserve_per_gpu_bytes / GIB,
        "predictedNonTorchGiB": predicted.non_torch_bytes / GIB,
        "predictedTransientGiB": predicted.transient_peak_bytes / GIB,
        "predictedCudaGraphGiB": predicted.cuda_graph_bytes / GIB,
        "impliedReserveGiB": implied_reserve,
        "failure": measured.failure,
    }


def markdown(rows: list[dict], gpu: GpuModel) -> str:
    lines = [
        f"GPU: {gpu.name}, {gpu.memory_mib} MiB (nvidia-smi), {gpu.cuda_memory_gib} GiB CUDA-visible",
        "",
        "| case | predicted tokens | measured tokens | measured / predicted | weights GiB (pred / vLLM) "
        "| KV GiB (pred / vLLM) | reserve GiB (pred / implied) | pred non-torch / transient / graphs GiB | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['predictedTokens']} | {row['measuredTokens'] or '-'} "
            f"| {_fmt(row['ratio'], 3)} "
            f"| {_fmt(row['predictedWeightsGiB'])} / {_fmt(row['measuredWeightsGiB'])} "
            f"| {_fmt(row['predictedKvGiB'])} / {_fmt(row['measuredKvGiB'])} "
            f"| {_fmt(row['predictedReserveGiB'])} / {_fmt(row['impliedReserveGiB'])} "
            f"| {_fmt(row['predictedNonTorchGiB'])} / {_fmt(row['predictedTransientGiB'])} "
            f"/ {_fmt(row['predictedCudaGraphGiB'])} | {row['failure']} |"
        )
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per case (default 1200)")
    parser.add_argument("--tolerance", type=float, default=0.10, help="allowed |measured/predicted - 1|")
    parser.add_argument("--port", type=int, default=18000, help="port for the short-lived server")
    parser.add_argument("--log-dir", type=Path, default=Path("build/capacity-vs-vllm"), help="one vLLM log per case")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--only", action="append", help="run only cases whose name contains this text")
    parser.add_argument(
        "--dry-run",
        metavar="GPU",
        choices=sorted(GPUS),
        help="no GPU needed: print the predictions for this catalog GPU and exit 0",
    )
    return parser.parse_args(argv)


def run_cases(args: argparse.Namespace, gpu: GpuModel, command: list[str]) -> list[dict]:
    rows = []
    for case in CASES:
        if args.only and not any(part in case.name for part in args.only):
            continue
        predicted = predict(case, gpu)
        if case.only_where_predicted_to_fit and not predicted.fits:
            print(f"skip {case.name}: the model predicts it does not fit on {gpu.name}", file=sys.stderr)
            continue
        print(f"run  {case.name} ...", file=sys.stderr, flush=True)
        rows.append(report_row(case, predicted, measure(command, case, args.port, args.timeout, args.log_dir)))
    return rows


def dry_run(args: argparse.Namespace) -> int:
    """The CPU-side arithmetic of every case, for a catalog GPU: what a GPU run would compare."""
    gpu = GPUS[args.dry_run]
    rows = [
        report_row(case, predict(case, gpu), Measured(failure="dry run: not measured"))
        for case in CASES
        if not args.only or any(part in case.name for part in args.only)
    ]
    print(markdown(rows, gpu))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dry_run:
        return dry_run(args)
    try:
        gpu, command = detect_gpu(), vllm_command()
    except SystemExit2 as missing:
        print(f"capacity_vs_vllm: {missing.message}. It needs a GPU host with vllm=={PINNED_VLLM}.", file=sys.stderr)
        return 2
    args.log_dir.mkdir(parents=True, exist_ok=True)
    rows = run_cases(args, gpu, command)
    print(markdown(rows, gpu))
    if args.json:
        args.json.write_text(json.dumps({"gpu": gpu.name, "memoryMiB": gpu.memory_mib, "rows": rows}, indent=2))
    drifted = [row for row in rows if row["ratio"] is None or abs(row["ratio"] - 1) > args.tolerance]
    return 1 if drifted or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
