"""The offline-check pull-request comment: check results and rendered diffs per stack."""

from __future__ import annotations

import pytest

from tools import pr_comment

pytestmark = pytest.mark.unit


def _stack(results, stack, exit_code, head_manifests, base_manifests=None, output="check output"):
    (results / f"{stack}.exit").write_text(f"{exit_code}\n")
    (results / f"{stack}.check.txt").write_text(output)
    for side, manifests in (("head", head_manifests), ("base", base_manifests)):
        if manifests is not None:
            folder = results / side / stack
            folder.mkdir(parents=True)
            (folder / "manifests.yaml").write_text(manifests)
            (folder / "capacity.json").write_text("{}\n")


def test_comment_shows_each_stack_result_and_diff(tmp_path):
    _stack(tmp_path, "dev", 0, "kind: A\nreplicas: 2\n", "kind: A\nreplicas: 1\n")
    _stack(tmp_path, "prod", 0, "kind: B\n", "kind: B\n")
    _stack(tmp_path, "staging", 1, "kind: C\n", output="chat-context-cap x: too long")
    out = tmp_path / "comment.md"
    assert pr_comment.main(["--results", str(tmp_path), "--out", str(out)]) == 1
    body = out.read_text()
    assert body.startswith(pr_comment.MARKER)
    assert "**Offline check: staging failed.**" in body
    assert "### `dev`: check passes" in body and "-replicas: 1\n+replicas: 2" in body
    assert "### `prod`: check passes\n" in body and "Rendered objects and capacity figures: unchanged." in body
    assert "### `staging`: check has findings" in body and "chat-context-cap x: too long" in body
    assert "the diff shows everything as added" in body and "+kind: C" in body


def test_long_comment_is_truncated_under_githubs_limit(tmp_path):
    _stack(tmp_path, "dev", 0, "".join(f"line {n}\n" for n in range(20000)), "")
    body, failed = pr_comment.build(tmp_path)
    assert failed == [] and len(body) < 65536 and body.endswith("for the full report.\n")
