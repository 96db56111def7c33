"""`python -m tools smoke` and `python -m tools loadtest` against a real vLLM: the dev chat
pool's rendered arguments, with vLLM checking API keys (`gateway.vllmApiKey`) from a
`--config` file made by the same function the Secrets component uses, on the tiny model.
One server for the whole module; a server that is down is a free port nobody listens on."""

from __future__ import annotations

import json
import secrets

import pytest
import yaml

from components import vllm_args
from components.spec import CONFIG_KEY
from tests import vllm_server
from tests.conftest import REPO_ROOT
from tests.tiny_model import tiny_model
from tools import endpoints, render, vllm_parser
from tools.__main__ import main
from tools.stackfile import load_stack

pytestmark = pytest.mark.serving

POOL = "serving.kserve.io/v1beta1/InferenceService llm-serving/chat"
CLIENTS = ("app-a", "app-b")
KEYS = {client: secrets.token_hex(20) for client in CLIENTS}
# Small requests for a CPU: the pool's SLO workload override, as a stack file would set it.
WORKLOAD = {"promptTokens": {"min": 16, "max": 48}, "outputTokens": {"min": 4, "max": 8}}


def _stack_file(path, slo):
    stack = yaml.safe_load((REPO_ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    platform = stack["config"][CONFIG_KEY]
    platform["gateway"]["vllmApiKey"] = True
    chat = next(pool for pool in platform["pools"] if pool["name"] == "chat")
    chat.update(clients=list(CLIENTS), slo={**slo, "workload": WORKLOAD})
    path.write_text(yaml.safe_dump(stack))
    return str(path)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    return {
        # Generous for a shared 2-core machine: the test is about the verdict, not the speed.
        "meets": _stack_file(folder / "Pulumi.meets.yaml", {"ttftP95Seconds": 10, "e2eP95Seconds": 60}),
        "impossible": _stack_file(folder / "Pulumi.impossible.yaml", {"ttftP95Seconds": 0.0001, "e2eP95Seconds": 60}),
    }


@pytest.fixture(scope="module")
def server(stacks, tmp_path_factory):
    rendered = vllm_parser.serve_arguments(render.render(load_stack("meets", stacks["meets"])).manifests)[POOL]
    port = vllm_server.free_port()
    # The Secret-mounted file in the pod, a local copy of the same content here.
    key_file = tmp_path_factory.mktemp("keys") / "api-keys.yaml"
    key_file.write_text(vllm_args.api_key_config(list(KEYS.values())))
    arguments = vllm_server.loopback_arguments(rendered, tiny_model(), port, config_file=key_file)
    with vllm_server.serving(arguments, log_name="day-two-chat", port=port) as running:
        yield running.base_url


@pytest.fixture
def keys(monkeypatch):
    for client, key in KEYS.items():
        monkeypatch.setenv(endpoints.key_variable(client), key)
    return dict(KEYS)


def _run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _no_key_in(text, *extra):
    assert not any(key in text for key in [*KEYS.values(), *extra])
    assert "Traceback" not in text


def test_smoke_passes_every_check_and_prints_time_to_first_token(capsys, stacks, server, keys):
    code, out = _run(capsys, "smoke", "meets", "--config-file", stacks["meets"], "--pool", "chat", "--base-url", server)
    assert code == 0, out
    lines = out.splitlines()
    for expected in ("PASS chat models: serves llama-3-1-8b-instruct", "PASS chat no key: 401 without a key",
                     "PASS chat key app-a: accepted", "PASS chat key app-b: accepted",
                     "PASS chat context cap: 400 over 8192 tokens"):  # fmt: skip
        assert any(line.startswith(expected) for line in lines), out
    assert any(line.startswith("PASS chat chat: ") and "time to first token" in line for line in lines), out
    assert lines[-1] == "smoke meets: 1 pools, 6 checks, 0 failed"
    _no_key_in(out)


def test_smoke_reaches_the_pool_hostname_through_resolve(capsys, stacks, server, keys):
    port = server.rpartition(":")[2]
    host = "chat.llm.dev.example.internal"
    code, out = _run(capsys, "smoke", "meets", "--config-file", stacks["meets"], "--pool", "chat",
                     "--base-url", f"http://{host}:{port}", "--resolve", f"{host}:{port}:127.0.0.1")  # fmt: skip
    assert code == 0, out


def test_smoke_with_a_bad_key_fails_that_client_and_prints_no_key(capsys, stacks, server, keys, monkeypatch):
    wrong = secrets.token_hex(20)
    monkeypatch.setenv(endpoints.key_variable("app-b"), wrong)
    code, out = _run(capsys, "smoke", "meets", "--config-file", stacks["meets"], "--pool", "chat", "--base-url", server)
    assert code == 1
    assert "FAIL chat key app-b: HTTP 401" in out and "PASS chat key app-a: accepted" in out
    _no_key_in(out, wrong)


def test_smoke_against_a_server_that_is_down_fails_each_check_in_one_line(capsys, stacks, keys):
    down = f"http://127.0.0.1:{vllm_server.free_port()}"
    code, out = _run(capsys, "smoke", "meets", "--config-file", stacks["meets"], "--pool", "chat", "--base-url", down)
    assert code == 1
    assert "FAIL chat models: cannot connect" in out and "FAIL chat no key: cannot connect" in out
    _no_key_in(out)


def test_loadtest_meets_the_slo_and_writes_its_table_plot_and_record(capsys, stacks, server, keys, tmp_path):
    code, out = _run(capsys, "loadtest", "meets", "--config-file", stacks["meets"], "--pool", "chat",
                     "--base-url", server, "--rate", "2", "4", "--requests", "6", "--out", tmp_path)  # fmt: skip
    assert code == 0, out
    assert "loadtest meets/chat: SLO met" in out and "prompt 16-48 and output 4-8 tokens" in out
    table = [line for line in out.splitlines() if line.startswith(("2 req/s", "4 req/s"))]
    assert len(table) == 2 and all(line.endswith("met") for line in table), out
    assert (tmp_path / "loadtest-chat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "loadtest-chat.json").read_text())
    assert [level["requests"] for level in record["levels"]] == [6, 6]
    assert all(level["errors"] == 0 and level["ttft"]["p95"] > 0 for level in record["levels"])
    assert all(level["e2e"]["p99"] >= level["e2e"]["p50"] > 0 for level in record["levels"])
    _no_key_in(out)


def test_loadtest_that_misses_the_slo_exits_1(capsys, stacks, server, keys, tmp_path):
    code, out = _run(capsys, "loadtest", "impossible", "--config-file", stacks["impossible"], "--pool", "chat",
                     "--base-url", server, "--concurrency", "1", "--requests", "3", "--out", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "MISSED: TTFT p95" in out and "above 0.0001 s" in out and "loadtest impossible/chat: SLO missed" in out
    assert (tmp_path / "loadtest-chat.png").is_file()


def test_loadtest_with_a_bad_key_fails_on_its_error_rate(capsys, stacks, server, keys, monkeypatch, tmp_path):
    wrong = secrets.token_hex(20)
    monkeypatch.setenv(endpoints.key_variable("app-a"), wrong)
    code, out = _run(capsys, "loadtest", "meets", "--config-file", stacks["meets"], "--pool", "chat",
                     "--base-url", server, "--concurrency", "1", "--requests", "3", "--out", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "error rate 100.0% above 1.0%" in out and "error: HTTP 401" in out
    _no_key_in(out, wrong)


def test_loadtest_against_a_server_that_is_down_exits_1(capsys, stacks, keys, tmp_path):
    down = f"http://127.0.0.1:{vllm_server.free_port()}"
    code, out = _run(capsys, "loadtest", "meets", "--config-file", stacks["meets"], "--pool", "chat",
                     "--base-url", down, "--concurrency", "1", "--requests", "2", "--out", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "error: cannot connect" in out and "SLO missed" in out
